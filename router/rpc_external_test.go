package router

// RPC for MQTT clients with real third-party clients run as subprocesses
// (helpers in external_test.go): MQTT.js calls procedures autobahn-python
// registered and serves procedures autobahn-python calls, over every WAMP
// transport and serializer; mosquitto_pub calls with the JSON envelope
// (MQTT 3.1.1) and with MQTT 5 request/response properties, and
// mosquitto_sub receives the result. The scripts: testdata/rpc_autobahn.py
// and testdata/node/mqttjs_rpc.js.

import (
	"fmt"
	"strings"
	"testing"
)

// rpcExtRegister starts autobahn-python serving procedure for count calls,
// once it is registered.
func rpcExtRegister(t *testing.T, r *Router, w bridgeExtWAMP, procedure string, count int) *extProc {
	t.Helper()
	p := startExt(t, "autobahn-python callee "+w.name, false, debianPython, pythonScript("rpc_autobahn.py"),
		"register", w.url(r), w.ser, procedure, fmt.Sprint(count))
	p.event("registered")
	return p
}

// TestRPCMQTTJSCallsAutobahn: MQTT.js (MQTT 5) calls a procedure that
// autobahn-python registered, over each WAMP transport and serializer and
// each MQTT transport: a result, a WAMP error, and progressive results.
func TestRPCMQTTJSCallsAutobahn(t *testing.T) {
	requireNode(t)
	requirePython(t)
	for i, w := range bridgeExtWAMPTransports {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil)
			mqttURL := []string{wsURL(r), "mqtt://" + mqttAddr(r), "mqtt://" + httpAddr(r)}[i%3]
			proc := "com.acme.calc"
			callee := rpcExtRegister(t, r, w, proc, 3)
			call := func(id, payload, contentType, props string) *extProc {
				p := startExt(t, "MQTT.js caller "+id, false, "node", nodeScript("mqttjs_rpc.js"),
					"call", mqttURL, id, "$rpc/com/acme/calc", payload, contentType, props)
				assertJSON(t, "MQTT.js PUBACK", p.event("puback"), `{"reasonCode": 0}`)
				return p
			}

			// A result: 21.5 is args [21.5]; the callee's kwargs-only result
			// comes back as the envelope.
			p := call("js-result", "21.5", "", `{}`)
			assertJSON(t, "MQTT.js result", p.event("reply"), `{
				"topic": "replies/js-result", "correlation": "corr-1",
				"payload": "{\"kwargs\":{\"caller\":null,\"got\":[21.5],\"kwargs\":{}}}",
				"contentType": "application/vnd.junction.wamp+json", "userProperties": {}}`)
			p.succeed()
			assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"args": [21.5], "kwargs": {}, "procedure": "com.acme.calc"}`)

			// A WAMP error: its URI as user property "error", its one arg as text.
			p = call("js-error", "fail", "", `{}`)
			assertJSON(t, "MQTT.js error", p.event("reply"), `{
				"correlation": "corr-1", "payload": "as asked", "contentType": "text/plain; charset=utf-8",
				"userProperties": {"error": "com.acme.error.failed"}}`)
			p.succeed()
			callee.event("invocation")

			// Progressive results, each its own reply marked progress.
			p = call("js-progress", `{"kwargs":{"progress":2}}`, "application/vnd.junction.wamp+json", `{"receive_progress":"true"}`)
			assertJSON(t, "MQTT.js progress 1", p.event("reply"), `{"payload": "1", "userProperties": {"progress": "true"}, "correlation": "corr-1"}`)
			assertJSON(t, "MQTT.js progress 2", p.event("reply"), `{"payload": "2", "userProperties": {"progress": "true"}}`)
			assertJSON(t, "MQTT.js final result", p.event("reply"), `{
				"payload": "{\"kwargs\":{\"caller\":null,\"got\":[],\"kwargs\":{\"progress\":2}}}", "userProperties": {}}`)
			p.succeed()
			assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"kwargs": {"progress": 2}, "progress": true}`)
			callee.succeed()
		})
	}
}

// TestRPCAutobahnCallsMQTTJS: autobahn-python, in each serializer, calls a
// procedure that MQTT.js registered with a wildcard filter.
func TestRPCAutobahnCallsMQTTJS(t *testing.T) {
	requireNode(t)
	requirePython(t)
	r := startRouter(t, nil)
	callee := startExt(t, "MQTT.js callee", false, "node", nodeScript("mqttjs_rpc.js"),
		"register", wsURL(r), "js-callee", "$rpc/com/acme/+/echo", fmt.Sprint(len(bridgeExtWAMPTransports)))
	assertJSON(t, "MQTT.js SUBACK", callee.event("suback"), `{"granted": [{"topic": "$rpc/com/acme/+/echo", "qos": 1}]}`)
	for _, w := range bridgeExtWAMPTransports {
		dev := strings.ReplaceAll(w.name, "/", "-")
		p := startExt(t, "autobahn-python caller "+w.name, false, debianPython, pythonScript("rpc_autobahn.py"),
			"call", w.url(r), w.ser, "com.acme."+dev+".echo", `["hi"]`)
		assertJSON(t, "autobahn result", p.event("result"), `{"args": ["echo:hi"], "kwargs": {}}`)
		p.succeed()
		inv := callee.event("invocation")
		assertJSON(t, "MQTT.js invocation", inv, fmt.Sprintf(`{"topic": "$rpc/com/acme/%s/echo", "payload": "hi"}`, dev))
		props, _ := inv["userProperties"].(map[string]any)
		if props["procedure"] != "com.acme."+dev+".echo" || !strings.HasPrefix(fmt.Sprint(inv["responseTopic"]), "$rpc-reply/") {
			t.Fatalf("invocation %v", inv)
		}
	}
	callee.succeed()
}

// TestRPCMosquittoCalls: mosquitto_pub calls an autobahn-python procedure,
// MQTT 3.1.1 with the JSON envelope and MQTT 5 with a Response Topic and
// Correlation Data; mosquitto_sub prints the result.
func TestRPCMosquittoCalls(t *testing.T) {
	requireMosquitto(t)
	requirePython(t)
	r := startRouter(t, nil)
	callee := rpcExtRegister(t, r, bridgeExtWAMPTransports[0], "com.acme.add", 2)

	sub := startMosquittoSub(t, mqttAddr(r), "mqttv311", "sub311", "replies/m311", 1, 1)
	mosquittoPub(t, mqttAddr(r), "mqttv311", "pub311", "$rpc/com/acme/add", `{"reply_to":"replies/m311","correlation":"c1","args":[2,3]}`, 1)
	if got, want := mosquittoMessage(sub), `replies/m311|1|0|||{"correlation":"c1","kwargs":{"caller":null,"got":[2,3],"kwargs":{}}}`; got != want {
		sub.fatalf("reply %q, want %q", got, want)
	}
	sub.succeed()

	sub = startMosquittoSub(t, mqttAddr(r), "mqttv5", "sub5", "replies/m5", 1, 1)
	mosquittoPub(t, mqttAddr(r), "mqttv5", "pub5", "$rpc/com/acme/add", `[2,3]`, 1,
		"-D", "publish", "response-topic", "replies/m5", "-D", "publish", "correlation-data", "c5")
	if got, want := mosquittoMessage(sub), `replies/m5|1|0|application/vnd.junction.wamp+json||{"kwargs":{"caller":null,"got":[[2,3]],"kwargs":{}}}`; got != want {
		sub.fatalf("reply %q, want %q", got, want)
	}
	sub.succeed()
	assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"args": [2, 3]}`)
	assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"args": [[2, 3]]}`)
	callee.succeed()
}
