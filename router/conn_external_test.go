package router

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestExternalDeflate: MQTT.js (node's ws) and autobahn-js offer
// permessage-deflate; with http.compression on, Junction accepts it and
// messages flow compressed.
func TestExternalDeflate(t *testing.T) {
	requireNode(t)
	r := startRouter(t, func(c *Config) {
		c.HTTP.Compression = CompressionConfig{Enabled: true, Level: 1, MinSize: 16}
	})
	p := startExt(t, "MQTT.js deflate", false, "node", nodeScript("mqttjs_client.js"), "roundtrip", wsURL(r), "5", "deflate")
	for range 2 {
		ws := p.event("websocket")
		if ext, _ := ws["extensions"].(string); !strings.Contains(ext, "permessage-deflate") {
			t.Fatalf("MQTT.js: permessage-deflate not negotiated: %v", ws)
		}
		p.event("connected")
	}
	p.event("suback")
	p.event("puback")
	assertJSON(t, "MQTT.js message over deflate", p.event("message"),
		`{"topic": "junction/mqttjs/deflate", "payload": "{\"hello\":\"junction\",\"n\":42}", "qos": 1}`)
	p.event("done")
	p.succeed()
	if v := metricValue(t, r, `junction_websocket_deflate_total{protocol="mqtt"}`); v != 2 {
		t.Fatalf("deflate MQTT connections = %v, want 2", v)
	}

	// autobahn-js: joins, publishes and receives its own event (it runs on
	// after that; the test's end stops it).
	js := startExt(t, "autobahn-js deflate", false, "node", nodeScript("autobahn_client.js"), wsURL(r), "json")
	assertJSON(t, "joined", js.event("joined"), `{"realm": "realm1"}`)
	assertJSON(t, "publish", js.event("published"), `{"acknowledged": true}`)
	js.event("event")
	if v := metricValue(t, r, `junction_websocket_deflate_total{protocol="wamp"}`); v < 1 {
		t.Fatalf("deflate WAMP connections = %v, want ≥ 1", v)
	}
}

// TestExternalAutobahnPythonDeflate: autobahn-python, with each serializer,
// offers permessage-deflate in its opening handshake; with http.compression
// on, Junction accepts it (autobahn reports the extension in use and the
// Sec-WebSocket-Extensions answer), counts it in
// junction_websocket_deflate_total{protocol="wamp"}, and a publish/subscribe
// round trip and a call, each with an 80 KB text and a 16 KB binary
// payload, arrive intact both ways, compressed on the wire: autobahn's
// traffic counters show fewer octets at WebSocket level than it inflated.
// Without the offer, or with compression off, nothing is negotiated or
// counted and the same payloads go uncompressed.
func TestExternalAutobahnPythonDeflate(t *testing.T) {
	requirePython(t)
	// The payload testdata/autobahn_deflate.py sends, built here too.
	const lines = 2000
	var text strings.Builder
	for i := range lines {
		fmt.Fprintf(&text, "%05d junction permessage-deflate ünïcödé\n", i)
	}
	blob := bytes.Repeat(func() []byte {
		b := make([]byte, 256)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(), 64)
	textSum, blobSum := sha256.Sum256([]byte(text.String())), sha256.Sum256(blob)
	payload := fmt.Sprintf(`{"text_len": %d, "text_sha256": %q, "lines": %d, "blob_sha256": %q}`,
		utf8.RuneCountInString(text.String()), hex.EncodeToString(textSum[:]), lines, hex.EncodeToString(blobSum[:]))

	cases := []struct {
		name, ser, offer string
		compression      bool
		deflate          bool // negotiated
	}{
		{"json", "json", "offer", true, true},
		{"msgpack", "msgpack", "offer", true, true},
		{"cbor", "cbor", "offer", true, true},
		{"compression off", "json", "offer", false, false},
		{"no offer", "cbor", "none", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRouter(t, func(c *Config) { // one each: they register the same procedure
				c.HTTP.Compression = CompressionConfig{Enabled: tc.compression, Level: 1, MinSize: 512}
			})
			p := startExt(t, "autobahn-python deflate "+tc.name, false, debianPython, pythonScript("autobahn_deflate.py"), wsURL(r), tc.ser, tc.offer)
			joined := p.event("joined")
			assertJSON(t, "joined", joined, fmt.Sprintf(`{"subprotocol": "wamp.2.%s"}`, tc.ser))
			offered, _ := joined["offered"].([]any)
			if offer := fmt.Sprint(offered...); tc.offer == "offer" && !strings.HasPrefix(offer, "permessage-deflate;") || tc.offer == "none" && len(offered) > 0 {
				p.fatalf("offered %v in the opening handshake, want %s", offered, tc.offer)
			}
			header, _ := joined["header"].(string)
			if tc.deflate {
				assertJSON(t, "extensions", joined, `{"extensions": ["permessage-deflate"]}`)
				if !strings.HasPrefix(header, "permessage-deflate") {
					p.fatalf("Sec-WebSocket-Extensions %q, want permessage-deflate", header)
				}
			} else {
				assertJSON(t, "extensions", joined, `{"extensions": [], "header": null}`)
			}

			// compressed checks autobahn's counters over one exchange: with
			// deflate, both ways carry well under half the octets they
			// inflate to; without, exactly as many.
			compressed := func(what string, m map[string]any) {
				t.Helper()
				stats, _ := m["stats"].(map[string]any)
				for _, dir := range []string{"incoming", "outgoing"} {
					wire, _ := stats[dir+"OctetsWebSocketLevel"].(float64)
					app, _ := stats[dir+"OctetsAppLevel"].(float64)
					t.Logf("%s %s: %.0f octets on the wire, %.0f inflated", what, dir, wire, app)
					if app < 80_000 {
						t.Errorf("%s %s: %.0f octets inflated, want the whole payload (stats %v)", what, dir, app, stats)
					}
					if tc.deflate && wire*2 >= app || !tc.deflate && wire != app {
						t.Errorf("%s %s: %.0f octets on the wire for %.0f inflated, deflate %v (stats %v)", what, dir, wire, app, tc.deflate, stats)
					}
				}
			}
			ev := p.event("event")
			assertJSON(t, "event", ev, payload)
			compressed("publish/subscribe", ev)
			assertJSON(t, "invocation", p.event("invocation"), payload)
			res := p.event("result")
			assertJSON(t, "call result", res, payload)
			compressed("call", res)
			p.event("done")
			assertJSON(t, "leave", p.event("leave"), `{"reason": "wamp.close.goodbye_and_out"}`)
			p.succeed()

			want := 0.0
			if tc.deflate {
				want = 1
			}
			if v := metricValue(t, r, `junction_websocket_deflate_total{protocol="wamp"}`); v != want {
				t.Errorf(`junction_websocket_deflate_total{protocol="wamp"} = %v, want %v`, v, want)
			}
		})
	}
}

// TestExternalHAProxySendProxyV2 puts HAProxy with send-proxy-v2 in front of
// Junction, for MQTT over TCP (mode tcp) and WebSocket (mode http), and
// connects through it from two loopback addresses: the router sees, logs
// and throttles each client by its own address, so ten bad logins from one
// do not lock out the other.
func TestExternalHAProxySendProxyV2(t *testing.T) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		haproxy = "/usr/sbin/haproxy"
		if _, err := os.Stat(haproxy); err != nil {
			t.Fatal("haproxy is not installed (make deps)")
		}
	}
	f := newSecureFixture(t, func(c *Config, _ *secureFixture) {
		c.HTTP.ProxyProtocol, c.HTTP.TrustedProxies = true, []string{"127.0.0.1"}
		c.MQTT.ProxyProtocol, c.MQTT.TrustedProxies = true, []string{"127.0.0.1"}
		c.Auth.Throttle = ThrottleConfig{MaxFailures: 10, Window: Duration(time.Minute), Block: Duration(time.Minute)}
	})
	_ = f
	// The secure fixture's router logs nowhere: a second router, same
	// configuration, logging into memory.
	cfg := f.r.cfg
	cfg.HTTP.Listen, cfg.MQTT.Listen = "127.0.0.1:0", "127.0.0.1:0"
	logs, start := captureLog(t)
	r := start(&cfg)

	free := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	httpPort, mqttPort := free(), free()
	conf := fmt.Sprintf(`global
    log stdout format raw local0 notice
defaults
    timeout connect 3s
    timeout client 30s
    timeout server 30s
    timeout tunnel 1h
frontend http_in
    mode http
    bind 127.0.0.1:%d
    default_backend junction_http
backend junction_http
    mode http
    server j %s send-proxy-v2
frontend mqtt_in
    mode tcp
    bind 127.0.0.1:%d
    default_backend junction_mqtt
backend junction_mqtt
    mode tcp
    server j %s send-proxy-v2
`, httpPort, httpAddr(r), mqttPort, mqttAddr(r))
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startExt(t, "haproxy", false, haproxy, "-db", "-f", path)
	viaMQTT := fmt.Sprintf("127.0.0.1:%d", mqttPort)
	viaWS := fmt.Sprintf("ws://127.0.0.1:%d/ws", httpPort)
	// HAProxy binds when it has read its configuration: wait for the port.
	waitFor(t, 10*time.Second, "haproxy listening", func() bool {
		c, err := net.Dial("tcp", viaMQTT)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	// Good logins through HAProxy: the router logs the clients' own addresses.
	if code := rawConnect(t, viaMQTT, "127.0.0.2", "via-haproxy-tcp", "alice", "alice-pw", 4); code != 0 {
		t.Fatalf("MQTT through haproxy: CONNACK %#x", code)
	}
	logs.waitLine(t, "the MQTT client's real address", "MQTT client disconnected", "client=via-haproxy-tcp", "remote=127.0.0.2:")
	if code := wsMQTTLogin(t, viaWS, "127.0.0.3", nil, "via-haproxy-ws", "alice", "alice-pw"); code != 0 {
		t.Fatalf("MQTT over WebSocket through haproxy: CONNACK %#x", code)
	}
	logs.waitLine(t, "the WebSocket client's real address", "MQTT client disconnected", "client=via-haproxy-ws", "remote=127.0.0.3:")

	// Ten bad logins from 127.0.0.2, over both transports...
	for i := range 10 {
		var code byte
		if i%2 == 0 {
			code = rawConnect(t, viaMQTT, "127.0.0.2", fmt.Sprintf("guess-%d", i), "alice", "wrong", 4)
		} else {
			code = wsMQTTLogin(t, viaWS, "127.0.0.2", nil, fmt.Sprintf("guess-%d", i), "alice", "wrong")
		}
		if code != 0x04 {
			t.Fatalf("bad login %d: CONNACK %#x, want 0x04", i, code)
		}
	}
	// ...lock out 127.0.0.2, even with the right password,
	if code := rawConnect(t, viaMQTT, "127.0.0.2", "blocked", "alice", "alice-pw", 4); code != 0x04 {
		t.Fatalf("throttled client: CONNACK %#x, want 0x04", code)
	}
	if code := wsMQTTLogin(t, viaWS, "127.0.0.2", nil, "blocked-ws", "alice", "alice-pw"); code != 0x04 {
		t.Fatalf("throttled client over WebSocket: CONNACK %#x, want 0x04", code)
	}
	// ...and nobody else behind the same HAProxy.
	if code := rawConnect(t, viaMQTT, "127.0.0.3", "neighbour", "alice", "alice-pw", 4); code != 0 {
		t.Fatalf("another client behind haproxy was locked out: CONNACK %#x", code)
	}
	if code := wsMQTTLogin(t, viaWS, "127.0.0.4", nil, "neighbour-ws", "alice", "alice-pw"); code != 0 {
		t.Fatalf("another WebSocket client behind haproxy was locked out: CONNACK %#x", code)
	}
	// The router's own port still answers HAProxy's peer directly (no
	// header from a trusted proxy is allowed: health checks, scrapes).
	resp, err := http.Get("http://" + httpAddr(r) + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("direct /readyz: %v %v", err, resp)
	}
	resp.Body.Close()
}
