package router

// Cluster-wide RPC with the routers as separate processes on one Redis
// (single and Cluster) and third-party clients on different routers:
// MQTT.js calls autobahn-python (result, error, progressive results),
// autobahn-python calls MQTT.js, mosquitto_pub calls autobahn-python and
// mosquitto_sub reads the result; the nexus client's call held by a callee
// whose router is SIGKILLed fails within node_timeout with
// wamp.error.canceled, and the procedure is gone from the cluster.

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

func TestClusterRPCRouterProcesses(t *testing.T) {
	requireMosquitto(t)
	requirePython(t)
	requireNode(t)
	bin := buildJunction(t)
	onSingleAndCluster(t, func(t *testing.T, d redisUnderTest) { clusterRPCProcesses(t, bin, d.url, d.env...) })
}

// connectWAMPTo connects the nexus client to a router process.
func connectWAMPTo(t *testing.T, p *routerProc, ser serialize.Serialization) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), extStepTimeout)
	defer cancel()
	c, err := client.ConnectNet(ctx, p.ws(), client.Config{Realm: "realm1", Serialization: ser, Logger: discardStdLog{}})
	if err != nil {
		t.Fatalf("WAMP connect to %s: %v", p.name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterRPCProcesses(t *testing.T, bin, url string, env ...string) {
	a := startRouterProc(t, bin, url, "a", env...)
	b := startRouterProc(t, bin, url, "b", env...)
	c := startRouterProc(t, bin, url, "c", env...)
	for _, r := range []*routerProc{a, b, c} {
		r.waitMetric("junction_federation_remote_routers", "two other routers", func(v float64) bool { return v == 2 })
	}

	// Callees on B: autobahn-python (msgpack) and MQTT.js (wildcard).
	callee := startExt(t, "autobahn-python callee on b", false, debianPython, pythonScript("rpc_autobahn.py"),
		"register", b.ws(), "msgpack", "com.acme.calc", "4")
	callee.event("registered")
	jsCallee := startExt(t, "MQTT.js callee on b", false, "node", nodeScript("mqttjs_rpc.js"),
		"register", "mqtt://"+b.mqtt, "js-callee", "$rpc/com/acme/+/echo", "3")
	assertJSON(t, "MQTT.js SUBACK", jsCallee.event("suback"), `{"granted": [{"topic": "$rpc/com/acme/+/echo", "qos": 1}]}`)
	for _, r := range []*routerProc{a, c} {
		r.waitMetric("junction_federation_remote_routes", "b's two procedures", func(v float64) bool { return v >= 2 })
	}

	// MQTT.js on A calls autobahn-python on B: a result, an error,
	// progressive results.
	call := func(id, payload, contentType, props string) *extProc {
		p := startExt(t, "MQTT.js caller "+id, false, "node", nodeScript("mqttjs_rpc.js"),
			"call", "mqtt://"+a.mqtt, id, "$rpc/com/acme/calc", payload, contentType, props)
		assertJSON(t, "MQTT.js PUBACK", p.event("puback"), `{"reasonCode": 0}`)
		return p
	}
	p := call("js-result", "21.5", "", `{}`)
	assertJSON(t, "MQTT.js result", p.event("reply"), `{
		"topic": "replies/js-result", "correlation": "corr-1",
		"payload": "{\"kwargs\":{\"caller\":null,\"got\":[21.5],\"kwargs\":{}}}"}`)
	p.succeed()
	assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"args": [21.5], "procedure": "com.acme.calc"}`)
	p = call("js-error", "fail", "", `{}`)
	assertJSON(t, "MQTT.js error", p.event("reply"), `{"payload": "as asked", "userProperties": {"error": "com.acme.error.failed"}}`)
	p.succeed()
	callee.event("invocation")
	p = call("js-progress", `{"kwargs":{"progress":2}}`, "application/vnd.junction.wamp+json", `{"receive_progress":"true"}`)
	assertJSON(t, "MQTT.js progress 1", p.event("reply"), `{"payload": "1", "userProperties": {"progress": "true"}}`)
	assertJSON(t, "MQTT.js progress 2", p.event("reply"), `{"payload": "2", "userProperties": {"progress": "true"}}`)
	assertJSON(t, "MQTT.js final result", p.event("reply"), `{
		"payload": "{\"kwargs\":{\"caller\":null,\"got\":[],\"kwargs\":{\"progress\":2}}}", "userProperties": {}}`)
	p.succeed()
	assertJSON(t, "autobahn invocation", callee.event("invocation"), `{"kwargs": {"progress": 2}, "progress": true}`)

	// mosquitto_pub on C calls with the envelope; mosquitto_sub on C reads it.
	sub := startMosquittoSub(t, c.mqtt, "mqttv311", "sub-c", "replies/c", 1, 1)
	mosquittoPub(t, c.mqtt, "mqttv311", "pub-c", "$rpc/com/acme/calc", `{"reply_to":"replies/c","correlation":"c1","args":[2,3]}`, 1)
	if got, want := mosquittoMessage(sub), `replies/c|1|0|||{"correlation":"c1","kwargs":{"caller":null,"got":[2,3],"kwargs":{}}}`; got != want {
		sub.fatalf("reply %q, want %q", got, want)
	}
	sub.succeed()
	callee.event("invocation")
	callee.succeed()

	// autobahn-python on C (JSON over RawSocket) calls MQTT.js on B.
	ab := startExt(t, "autobahn-python caller on c", false, debianPython, pythonScript("rpc_autobahn.py"),
		"call", "rs://"+c.http, "json", "com.acme.hall.echo", `["hi"]`)
	assertJSON(t, "autobahn result", ab.event("result"), `{"args": ["echo:hi"], "kwargs": {}}`)
	ab.succeed()
	assertJSON(t, "MQTT.js invocation", jsCallee.event("invocation"), `{"topic": "$rpc/com/acme/hall/echo", "payload": "hi"}`)

	// mosquitto_pub (MQTT 5) on A calls MQTT.js on B: MQTT to MQTT.
	sub = startMosquittoSub(t, a.mqtt, "mqttv5", "sub-a", "replies/a", 1, 1)
	mosquittoPub(t, a.mqtt, "mqttv5", "pub-a", "$rpc/com/acme/door/echo", "open", 1,
		"-D", "publish", "response-topic", "replies/a", "-D", "publish", "correlation-data", "a1")
	if got, want := mosquittoMessage(sub), `replies/a|1|0|text/plain; charset=utf-8||echo:open`; got != want {
		sub.fatalf("reply %q, want %q", got, want)
	}
	sub.succeed()
	// The callee stays connected (it would serve a third call): a callee that
	// disconnects the moment it has answered can still lose the race with
	// its own answer across routers (see README, Cluster-wide RPC).
	assertJSON(t, "MQTT.js invocation", jsCallee.event("invocation"), `{"topic": "$rpc/com/acme/door/echo", "payload": "open"}`)

	// The nexus client on C holds a call to a nexus client callee on A; A is
	// SIGKILLed: the call fails with wamp.error.canceled within about
	// node_timeout (2s), not at the caller's 30s timeout, and the procedure
	// is gone.
	held := make(chan struct{}, 1)
	hang := connectWAMPTo(t, a, serialize.JSON)
	if err := hang.Register("com.acme.hang", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		held <- struct{}{}
		<-ctx.Done()
		return client.InvokeResult{Err: nxwamp.ErrCanceled}
	}, nil); err != nil {
		t.Fatal(err)
	}
	caller := connectWAMPTo(t, c, serialize.CBOR)
	waitCallable(t, caller, "com.acme.hang")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := caller.Call(ctx, "com.acme.hang", nxwamp.Dict{"timeout": 30000}, nil, nil, nil)
		done <- err
	}()
	recv(t, held, extStepTimeout, "the call held on a")
	a.signal(syscall.SIGKILL)
	start := time.Now()
	err := recv(t, done, 15*time.Second, "the call to the killed router")
	var rpcErr client.RPCError
	if !errors.As(err, &rpcErr) || rpcErr.Err.Error != nxwamp.ErrCanceled {
		t.Fatalf("a call held by a killed router ended with %v", err)
	}
	if d := time.Since(start); d > 6*time.Second {
		t.Fatalf("the call failed %v after its callee's router died, want about node_timeout (2s)", d)
	}
	t.Logf("call failed %v after its callee's router was killed: %v", time.Since(start).Round(time.Millisecond), fmt.Sprint(rpcErr.Err.Arguments...))
	waitFor(t, 10*time.Second, "com.acme.hang gone from c", func() bool {
		_, err := caller.Call(callCtx(t), "com.acme.hang", nil, nil, nil, nil)
		return callErr(err) == string(nxwamp.ErrNoSuchProcedure)
	})
}
