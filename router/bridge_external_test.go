package router

// End-to-end tests of the MQTT ⇄ WAMP bridge with real third-party clients
// run as subprocesses: mosquitto_pub/mosquitto_sub and MQTT.js on the MQTT
// side, autobahn-python on the WAMP side. The helpers that run them are
// external_test.go's; a missing client fails the test, it never skips.
//
// The scripts: testdata/bridge_autobahn.py and testdata/node/mqttjs_bridge.js.
// autobahn-python speaks WebSocket and, on the universal port, RawSocket;
// Debian's autobahn 22.7.1 needs a one-line fix for RawSocket, which the
// script carries (see there).
// Every wait is on a line a client printed or on its exit, each under
// extStepTimeout; a failure shows the client's stdout and stderr.

import (
	"fmt"
	"strings"
	"testing"
)

// bridgeExtWAMP is a WAMP transport and serializer autobahn-python uses.
type bridgeExtWAMP struct {
	name      string
	ser       string
	rawsocket bool   // WAMP RawSocket on the universal port, else WebSocket
	transport string // what the script reports: the WebSocket subprotocol or rawsocket.SERIALIZER
}

var bridgeExtWAMPTransports = []bridgeExtWAMP{
	{"websocket/json", "json", false, "wamp.2.json"},
	{"websocket/msgpack", "msgpack", false, "wamp.2.msgpack"},
	{"websocket/cbor", "cbor", false, "wamp.2.cbor"},
	{"rawsocket/json", "json", true, "rawsocket.json"},
	{"rawsocket/msgpack", "msgpack", true, "rawsocket.msgpack"},
	{"rawsocket/cbor", "cbor", true, "rawsocket.cbor"},
}

func (w bridgeExtWAMP) url(r *Router) string {
	if w.rawsocket {
		return "rs://" + httpAddr(r)
	}
	return wsURL(r)
}

// bridgeExtSubscribe starts autobahn-python subscribed to topic, for count
// events, and returns once the router has acknowledged the subscription.
func bridgeExtSubscribe(t *testing.T, r *Router, w bridgeExtWAMP, topic, match string, getRetained bool, count int) *extProc {
	t.Helper()
	p := startExt(t, "autobahn-python subscriber "+w.name, false, debianPython, pythonScript("bridge_autobahn.py"),
		"subscribe", w.url(r), w.ser, topic, match, fmt.Sprint(getRetained), fmt.Sprint(count))
	assertJSON(t, "autobahn-python subscribed", p.event("subscribed"), fmt.Sprintf(`{"transport": %q}`, w.transport))
	return p
}

// bridgeExtPublish publishes with autobahn-python, acknowledged, and waits
// for it to leave.
func bridgeExtPublish(t *testing.T, r *Router, w bridgeExtWAMP, topic, argsJSON, optionsJSON string) {
	t.Helper()
	p := startExt(t, "autobahn-python publisher "+w.name, false, debianPython, pythonScript("bridge_autobahn.py"),
		"publish", w.url(r), w.ser, topic, argsJSON, optionsJSON)
	assertJSON(t, "autobahn-python published", p.event("published"),
		fmt.Sprintf(`{"acknowledged": true, "transport": %q}`, w.transport))
	p.succeed()
}

// TestBridgeAutobahnWildcardFromMosquittoPub: autobahn-python subscribes to
// com.acme.sensor..temp with match wildcard, over WebSocket and RawSocket in
// each serializer; mosquitto_pub (MQTT 3.1.1, QoS 1) publishes 21.5 to
// com/acme/sensor/7/temp. The event carries args [21.5], a Python float, no
// kwargs, details.topic com.acme.sensor.7.temp, and is not flagged retained.
func TestBridgeAutobahnWildcardFromMosquittoPub(t *testing.T) {
	requirePython(t)
	requireMosquitto(t)
	for _, w := range bridgeExtWAMPTransports {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil) // one each: they use the same topic
			sub := bridgeExtSubscribe(t, r, w, "com.acme.sensor..temp", "wildcard", false, 1)
			id := "pub-" + strings.ReplaceAll(w.name, "/", "-")
			mosquittoPub(t, mqttAddr(r), "mqttv311", id, "com/acme/sensor/7/temp", "21.5", 1)
			assertJSON(t, "autobahn-python event", sub.event("event"), `{
				"args": [21.5], "types": ["float"], "kwargs": {},
				"topic": "com.acme.sensor.7.temp", "retained": null}`)
			sub.succeed()
		})
	}
}

// TestBridgeMQTTJSv5FromAutobahn: MQTT.js, MQTT 5, subscribes to
// com/acme/light/# at QoS 1 over WebSocket (subprotocol mqtt), the MQTT port
// and the universal port; autobahn-python publishes args ["on"] to
// com.acme.light.1 over WebSocket in each serializer, acknowledged. Each
// publication reaches MQTT.js as topic com/acme/light/1, payload "on", QoS 1
// (the bridge's QoS), not retained, content type "text/plain; charset=utf-8",
// payload format indicator set (UTF-8), no user properties.
func TestBridgeMQTTJSv5FromAutobahn(t *testing.T) {
	requireNode(t)
	requirePython(t)
	cases := []struct {
		name string
		url  func(*Router) string
		ws   bool
	}{
		{"websocket", wsURL, true},
		{"mqtt_port", func(r *Router) string { return "mqtt://" + mqttAddr(r) }, false},
		{"universal_port", func(r *Router) string { return "mqtt://" + httpAddr(r) }, false},
	}
	publishers := bridgeExtWAMPTransports[:3] // WebSocket, each serializer
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil)
			id := "mqttjs-bridge-" + strings.ReplaceAll(tc.name, "_", "-")
			sub := startExt(t, "MQTT.js "+tc.name, false, "node", nodeScript("mqttjs_bridge.js"),
				"subscribe", tc.url(r), id, "com/acme/light/#", "1", fmt.Sprint(len(publishers)))
			if tc.ws {
				assertJSON(t, "MQTT.js WebSocket", sub.event("websocket"), `{"offered": ["mqtt"], "accepted": "mqtt"}`)
			}
			assertJSON(t, "MQTT.js CONNACK", sub.event("connected"), `{"reasonCode": 0}`)
			assertJSON(t, "MQTT.js SUBACK", sub.event("suback"), `{"granted": [{"topic": "com/acme/light/#", "qos": 1}]}`)
			for _, w := range publishers {
				bridgeExtPublish(t, r, w, "com.acme.light.1", `["on"]`, `{"acknowledge": true}`)
				assertJSON(t, "MQTT.js message from autobahn-python "+w.name, sub.event("message"), `{
					"topic": "com/acme/light/1", "payload": "on", "qos": 1, "retain": false,
					"contentType": "text/plain; charset=utf-8", "payloadFormatIndicator": true,
					"userProperties": null}`)
			}
			sub.event("done")
			sub.succeed()
		})
	}
}

// TestBridgeRetainedWithRealClients: one retained store for both protocols,
// over each WAMP transport and serializer.
//
//   - MQTT → WAMP: mosquitto_pub -r (MQTT 3.1.1, QoS 1) retains 21 on
//     home/t1; autobahn-python then subscribes to home.t1 with get_retained
//     and gets exactly one retained event, args [21] (a Python int),
//     details.retained true, before the live event that a second
//     mosquitto_pub (22, not retained) then sends, which is not flagged
//     retained.
//   - WAMP → MQTT: autobahn-python publishes args ["x"] to home.t2 with
//     retain and acknowledge; mosquitto_sub then subscribes to home/t2 and
//     gets "x" with its retain flag set: over MQTT 5 with content type
//     "text/plain; charset=utf-8", over MQTT 3.1.1 without properties.
func TestBridgeRetainedWithRealClients(t *testing.T) {
	requirePython(t)
	requireMosquitto(t)
	for _, w := range bridgeExtWAMPTransports {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, nil) // one each: the retained store is the router's
			tag := strings.ReplaceAll(w.name, "/", "-")

			t.Run("mqtt_to_wamp", func(t *testing.T) {
				mosquittoPub(t, mqttAddr(r), "mqttv311", "retain-"+tag, "home/t1", "21", 1, "-r")
				sub := bridgeExtSubscribe(t, r, w, "home.t1", "exact", true, 2)
				assertJSON(t, "autobahn-python retained event", sub.event("event"), `{
					"args": [21], "types": ["int"], "kwargs": {}, "retained": true}`)
				mosquittoPub(t, mqttAddr(r), "mqttv311", "live-"+tag, "home/t1", "22", 1)
				assertJSON(t, "autobahn-python live event", sub.event("event"), `{
					"args": [22], "types": ["int"], "kwargs": {}, "retained": null}`)
				sub.succeed()
			})

			t.Run("wamp_to_mqtt", func(t *testing.T) {
				bridgeExtPublish(t, r, w, "home.t2", `["x"]`, `{"retain": true, "acknowledge": true}`)
				for _, v := range []struct{ version, props string }{
					{"mqttv5", "text/plain; charset=utf-8|"}, // content type | user properties
					{"mqttv311", "|"},
				} {
					sub := startMosquittoSub(t, mqttAddr(r), v.version, "sub-"+v.version+"-"+tag, "home/t2", 1, 1)
					// topic|QoS|retain|content type|user properties|payload
					if got, want := mosquittoMessage(sub), "home/t2|1|1|"+v.props+"|x"; got != want {
						sub.fatalf("got retained message %q, want %q", got, want)
					}
					sub.succeed()
				}
			})
		})
	}
}
