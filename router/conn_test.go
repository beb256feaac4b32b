package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
	proxyproto "github.com/pires/go-proxyproto"
)

func TestClientAddrFromForwardedHeaders(t *testing.T) {
	trusted, err := parseTrusted([]string{"127.0.0.1", "192.0.2.0/24", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, peer string
		headers    map[string]string
		want       string
	}{
		{"untrusted peer: headers ignored", "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "198.51.100.7:5000"},
		{"trusted peer, no header: the proxy is the client", "127.0.0.1:5000", nil, "127.0.0.1:5000"},
		{"trusted peer: X-Forwarded-For", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"},
		{"chain: first untrusted from the right", "127.0.0.1:5000",
			map[string]string{"X-Forwarded-For": "1.1.1.1, 203.0.113.9, 192.0.2.4"}, "203.0.113.9"},
		{"spoofed left part is not believed", "127.0.0.1:5000",
			map[string]string{"X-Forwarded-For": "192.0.2.1, 203.0.113.9"}, "203.0.113.9"},
		{"all trusted: the leftmost", "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "192.0.2.8, 192.0.2.4"}, "192.0.2.8"},
		{"Forwarded wins over X-Forwarded-For", "127.0.0.1:5000",
			map[string]string{"Forwarded": `for=203.0.113.60;proto=http;by=192.0.2.1`, "X-Forwarded-For": "1.1.1.1"}, "203.0.113.60"},
		{"Forwarded IPv6 with port", "[2001:db8::1]:443",
			map[string]string{"Forwarded": `for="[2001:db8:cafe::17]:4711", for=203.0.113.43`}, "203.0.113.43"},
		{"Forwarded obfuscated: stop at the proxy", "127.0.0.1:5000", map[string]string{"Forwarded": "for=_hidden"}, "127.0.0.1:5000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			if got := clientAddr(req, trusted); got != tc.want {
				t.Fatalf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProxyConfigValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   string // "" valid
	}{
		{"proxy protocol needs trusted proxies", func(c *Config) { c.MQTT.ProxyProtocol = true }, "mqtt.proxy_protocol"},
		{"bad CIDR", func(c *Config) { c.HTTP.TrustedProxies = []string{"10.0.0.0/33"} }, "http.trusted_proxies"},
		{"ok", func(c *Config) { c.HTTP.ProxyProtocol, c.HTTP.TrustedProxies = true, []string{"127.0.0.1", "::1/128"} }, ""},
		{"keep alive over 65535s", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(65536 * time.Second) }, "mqtt.max_keep_alive"},
		{"keep alive not whole seconds", func(c *Config) { c.MQTT.MaxKeepAlive = Duration(1500 * time.Millisecond) }, "mqtt.max_keep_alive"},
		{"compression level", func(c *Config) { c.HTTP.Compression = CompressionConfig{Enabled: true, Level: 12} }, "http.compression.level"},
		{"rate without burst", func(c *Config) { c.MQTT.AcceptRate.PerSource = 5 }, "mqtt.accept_rate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate()
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

// logCapture is a router log kept in memory, for tests that look for a line.
type logCapture struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func captureLog(t *testing.T) (*logCapture, func(*Config) *Router) {
	lc := &logCapture{lines: make(chan string, 10000)}
	return lc, func(c *Config) *Router {
		r, err := New(*c, slog.New(slog.NewTextHandler(lc, &slog.HandlerOptions{Level: slog.LevelDebug})))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = r.Shutdown(ctx)
		})
		return r
	}
}

func (l *logCapture) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	select {
	case l.lines <- string(b):
	default:
	}
	return len(b), nil
}

// waitLine waits for a log line containing every one of parts.
func (l *logCapture) waitLine(t *testing.T, what string, parts ...string) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line := <-l.lines:
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return line
			}
		case <-deadline:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no log line for %s (%q) in:\n%s", what, parts, l.buf.String())
		}
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = Duration(5 * time.Second)
	return cfg
}

func TestMQTTMaxKeepAlive(t *testing.T) {
	cfg := testConfig()
	cfg.MQTT.MaxKeepAlive = Duration(time.Second)
	logs, start := captureLog(t)
	r := start(&cfg)

	// MQTT 5: a client asking 30 s (and one asking 0) is told 1 s in CONNACK.
	for _, asked := range []uint16{30, 0} {
		acks := make(chan *paho.Connack, 1)
		c := connectV5(t, "mqtt://"+mqttAddr(r), fmt.Sprintf("ka5-%d", asked), func(c *autopaho.ClientConfig) {
			c.KeepAlive = asked
			c.OnConnectionUp = func(_ *autopaho.ConnectionManager, ack *paho.Connack) { acks <- ack }
		})
		ack := recv(t, acks, 5*time.Second, "CONNACK")
		if ack.Properties == nil || ack.Properties.ServerKeepAlive == nil || *ack.Properties.ServerKeepAlive != 1 {
			t.Fatalf("keep alive %d: CONNACK Server Keep Alive = %+v, want 1", asked, ack.Properties)
		}
		_ = c
	}
	// Within the cap: no Server Keep Alive.
	acks := make(chan *paho.Connack, 1)
	connectV5(t, "mqtt://"+mqttAddr(r), "ka5-small", func(c *autopaho.ClientConfig) {
		c.KeepAlive = 1
		c.OnConnectionUp = func(_ *autopaho.ConnectionManager, ack *paho.Connack) { acks <- ack }
	})
	if ack := recv(t, acks, 5*time.Second, "CONNACK"); ack.Properties != nil && ack.Properties.ServerKeepAlive != nil {
		t.Fatalf("keep alive within the cap got Server Keep Alive %d", *ack.Properties.ServerKeepAlive)
	}

	// MQTT 3.1.1 with keep alive 0 ("never") that sends nothing: held to
	// the cap, disconnected after 1.5 s of silence (bound: 1.5 s + slack).
	lost := make(chan error, 1)
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + mqttAddr(r)).SetClientID("ka3-silent").
		SetKeepAlive(0).SetAutoReconnect(false).SetProtocolVersion(4).
		SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err })
	c3 := mqtt3.NewClient(o)
	tok := c3.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("3.1.1 connect: %v", tok.Error())
	}
	connected := time.Now()
	recv(t, lost, 5*time.Second, "3.1.1 client with keep alive 0 disconnected at the cap")
	if d := time.Since(connected); d < time.Second || d > 4*time.Second {
		t.Fatalf("disconnected after %v, want about 1.5 s", d)
	}
	logs.waitLine(t, "the keep alive disconnect", "MQTT client disconnected", "client=ka3-silent", "reason=keepalive_timeout")
	waitFor(t, 5*time.Second, "keepalive_timeout counted", func() bool {
		return metricValue(t, r, `junction_disconnects_total{protocol="mqtt",reason="keepalive_timeout"}`) >= 1
	})
}

func TestDisconnectReasons(t *testing.T) {
	f := newSecureFixture(t, nil)
	r := f.r
	count := func(proto, reason string) float64 {
		return metricValue(t, r, fmt.Sprintf(`junction_disconnects_total{protocol=%q,reason=%q}`, proto, reason))
	}
	waitCount := func(proto, reason string, want float64) {
		t.Helper()
		waitFor(t, 5*time.Second, proto+" "+reason, func() bool { return count(proto, reason) >= want })
	}

	// Client disconnect (MQTT 5 DISCONNECT).
	c := connectV5(t, "mqtt://"+mqttAddr(r), "leaver", func(c *autopaho.ClientConfig) {
		c.ConnectUsername, c.ConnectPassword = "alice", []byte("alice-pw")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = c.cm.Disconnect(ctx)
	cancel()
	waitCount("mqtt", "client_disconnect", 1)

	// Auth failure.
	if code := rawConnect(t, mqttAddr(r), "", "badpw", "alice", "wrong", 4); code != 0x04 {
		t.Fatalf("bad password: CONNACK %#x", code)
	}
	waitCount("mqtt", "auth_failed", 1)

	// Takeover: a second connection with the same client id.
	first := connectV5(t, "mqtt://"+mqttAddr(r), "twin", func(c *autopaho.ClientConfig) {
		c.ConnectUsername, c.ConnectPassword = "alice", []byte("alice-pw")
	})
	connectV5(t, "mqtt://"+mqttAddr(r), "twin", func(c *autopaho.ClientConfig) {
		c.ConnectUsername, c.ConnectPassword = "alice", []byte("alice-pw")
	})
	recv(t, first.disconnects, 5*time.Second, "DISCONNECT of the session taken over")
	waitCount("mqtt", "takeover", 1)

	// WAMP: a client that says GOODBYE, one whose login fails.
	dets, handlers := ticket("alice", "alice-pw")
	w, err := wampLogin(t, wsURL(r), "realm1", dets, handlers, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	waitCount("wamp", "client_disconnect", 1)
	dets, handlers = ticket("alice", "wrong")
	if _, err := wampLogin(t, wsURL(r), "realm1", dets, handlers, nil); err == nil {
		t.Fatal("wrong ticket accepted")
	}
	waitCount("wamp", "auth_failed", 1)

	if v := metricValue(t, r, `junction_connection_duration_seconds_count{protocol="mqtt"}`); v < 3 {
		t.Fatalf("connection lifetimes observed: %v, want ≥ 3", v)
	}
}

// TestWebSocketDeflateZipBomb sends a WebSocket message that is small on the
// wire and inflates far beyond limits.max_message_size: the connection is
// closed with 1009, counted, and nobody else notices.
func TestWebSocketDeflateZipBomb(t *testing.T) {
	cfg := testConfig()
	cfg.HTTP.Compression = CompressionConfig{Enabled: true, Level: 1, MinSize: 0}
	cfg.Limits.MaxMessageSize = 64 << 10
	cfg.Limits.MQTTWriteBuffer = 1 << 20
	logs, start := captureLog(t)
	r := start(&cfg)
	bystander := connectV5(t, wsURL(r), "bystander", nil)
	bystander.subscribe(t, "still/here", 1)

	for _, sub := range []string{"wamp.2.json", "mqtt"} {
		t.Run(sub, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: []string{sub}, EnableCompression: true}
			ws, resp, err := d.Dial(wsURL(r), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(ext, "permessage-deflate") {
				t.Fatalf("permessage-deflate not negotiated: %q", ext)
			}
			// 2 MiB that deflate to about 2 KiB: the server has read
			// all of it when it closes, so the client reads the close
			// frame rather than a reset.
			bomb := bytes.Repeat([]byte{'['}, 2<<20)
			typ := websocket.TextMessage
			if sub == "mqtt" {
				// MQTT is read as a stream: after a CONNECT, 1 Mi
				// PINGREQs, each valid, in one message.
				typ = websocket.BinaryMessage
				if err := ws.WriteMessage(typ, mqttConnectPacket("bomber", 4)); err != nil {
					t.Fatal(err)
				}
				bomb = bytes.Repeat([]byte{0xC0, 0x00}, 1<<20)
			}
			if err := ws.WriteMessage(typ, bomb); err != nil {
				t.Fatal(err)
			}
			_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				_, _, err := ws.ReadMessage()
				if err == nil {
					continue
				}
				if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
					t.Fatalf("want close 1009 (message too big), got %v", err)
				}
				break
			}
		})
	}
	waitFor(t, 5*time.Second, "too_large disconnects", func() bool {
		return metricValue(t, r, `junction_disconnects_total{protocol="wamp",reason="too_large"}`) >= 1 &&
			metricValue(t, r, `junction_disconnects_total{protocol="mqtt",reason="too_large"}`) >= 1
	})
	logs.waitLine(t, "the zip bomb's end", "disconnected", "reason=too_large", "inflate")
	for _, proto := range []string{"mqtt", "wamp"} {
		if v := metricValue(t, r, fmt.Sprintf(`junction_websocket_deflate_total{protocol=%q}`, proto)); v < 1 {
			t.Fatalf("deflate connections (%s) = %v, want ≥ 1", proto, v)
		}
	}
	// The bystander still gets messages.
	pub := connectV5(t, "mqtt://"+mqttAddr(r), "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "still/here", QoS: 1, Payload: bytes.Repeat([]byte("x"), 4096)})
	if m := recv(t, bystander.msgs, 5*time.Second, "message to the bystander"); len(m.Payload) != 4096 {
		t.Fatalf("bystander got %d bytes", len(m.Payload))
	}
}

// mqttConnectPacket is a clean-session CONNECT, keep alive 60 s, with a
// user name and password unless user is "".
func mqttConnectPacket(clientID string, level byte, userPassword ...string) []byte {
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	flags := byte(0x02)
	if len(userPassword) == 2 {
		flags |= 0xC0
	}
	body := append(str("MQTT"), level, flags, 0, 60)
	if level == 5 {
		body = append(body, 0)
	}
	body = append(body, str(clientID)...)
	if len(userPassword) == 2 {
		body = append(append(body, str(userPassword[0])...), str(userPassword[1])...)
	}
	return append(append([]byte{0x10}, varint(len(body))...), body...)
}

// wsMQTTLogin connects over WebSocket from the local address (if not "")
// with the given headers, sends an MQTT 3.1.1 CONNECT with user and
// password, and returns the CONNACK return code.
func wsMQTTLogin(t *testing.T, url, local string, header http.Header, clientID, user, password string) byte {
	t.Helper()
	nd := &net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, NetDialContext: nd.DialContext, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(url, header)
	if err != nil {
		t.Fatalf("WebSocket to %s: %v", url, err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.BinaryMessage, mqttConnectPacket(clientID, 4, user, password)); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, ack, err := ws.ReadMessage()
	if err != nil || len(ack) < 4 || ack[0] != 0x20 {
		t.Fatalf("%s: no CONNACK: %x %v", clientID, ack, err)
	}
	return ack[3]
}

func TestAcceptRateLimits(t *testing.T) {
	cfg := testConfig()
	// Per source on the MQTT port: two at once, then one every 100 s.
	cfg.MQTT.AcceptRate = AcceptRateConfig{PerSource: 0.01, PerSourceBurst: 2}
	// Per source on the HTTP port (WebSocket upgrades).
	cfg.HTTP.AcceptRate = AcceptRateConfig{PerSource: 0.01, PerSourceBurst: 1}
	r := startRouter(t, func(c *Config) { *c = cfg })

	for i := range 2 {
		if code := rawConnect(t, mqttAddr(r), "127.0.0.2", fmt.Sprintf("rate-%d", i), "", "", 5); code != 0 {
			t.Fatalf("connection %d within the burst: CONNACK %#x", i, code)
		}
	}
	if code := rawConnect(t, mqttAddr(r), "127.0.0.2", "rate-over", "", "", 5); code != 0x89 {
		t.Fatalf("over the per-source rate: CONNACK %#x, want 0x89 server busy", code)
	}
	if code := rawConnect(t, mqttAddr(r), "127.0.0.2", "rate-over3", "", "", 4); code != 0x03 {
		t.Fatalf("over the per-source rate (3.1.1): CONNACK %#x, want 0x03 server unavailable", code)
	}
	// Another source is not affected.
	if code := rawConnect(t, mqttAddr(r), "127.0.0.3", "other-source", "", "", 5); code != 0 {
		t.Fatalf("another source: CONNACK %#x", code)
	}
	if v := metricValue(t, r, `junction_connections_refused_total{listener="mqtt",reason="source_rate"}`); v != 2 {
		t.Fatalf("source_rate refusals = %v, want 2", v)
	}

	// WebSocket: HTTP 503 with Retry-After.
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}, NetDialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 4)}}).DialContext}
	ws, _, err := d.Dial(wsURL(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.Close()
	_, resp, err := d.Dial(wsURL(r), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second upgrade: %v %+v, want 503 with Retry-After", err, resp)
	}

	// The listener-wide bucket: one connection, then the TCP connection
	// is closed before anything is read.
	cfg2 := testConfig()
	cfg2.MQTT.AcceptRate = AcceptRateConfig{Rate: 0.01, Burst: 1}
	r2 := startRouter(t, func(c *Config) { *c = cfg2 })
	if code := rawConnect(t, mqttAddr(r2), "", "first", "", "", 4); code != 0 {
		t.Fatalf("first connection: CONNACK %#x", code)
	}
	conn, err := net.Dial("tcp", mqttAddr(r2))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("over the listener rate: read %d bytes, %v; want the connection closed", n, err)
	}
	if v := metricValue(t, r2, `junction_connections_refused_total{listener="mqtt",reason="rate"}`); v != 1 {
		t.Fatalf("rate refusals = %v, want 1", v)
	}
}

func TestGarbageOnHTTPPort(t *testing.T) {
	for _, universal := range []bool{true, false} {
		t.Run(fmt.Sprintf("universal=%v", universal), func(t *testing.T) {
			r := startRouter(t, func(c *Config) { c.HTTP.Universal = universal })
			conn, err := net.Dial("tcp", httpAddr(r))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = conn.Write([]byte("\x16\x03\x01 this is not HTTP at all\r\n\r\n"))
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = io.ReadAll(conn) // net/http answers 400 and closes
			conn.Close()
			waitFor(t, 5*time.Second, "bad_http counted", func() bool {
				return metricValue(t, r, `junction_handshake_refusals_total{reason="bad_http"}`) == 1
			})
			// A good request on a connection is not garbage.
			resp, err := http.Get("http://" + httpAddr(r) + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			http.DefaultClient.CloseIdleConnections()
			if v := metricValue(t, r, `junction_handshake_refusals_total{reason="bad_http"}`); v != 1 {
				t.Fatalf("bad_http = %v after a good request, want 1", v)
			}
		})
	}
}

// TestForwardedForFeedsThrottle: behind a trusted proxy that says whom it
// forwards for, one client's failed logins block that client only.
func TestForwardedForFeedsThrottle(t *testing.T) {
	f := newSecureFixture(t, func(c *Config, _ *secureFixture) {
		c.HTTP.TrustedProxies = []string{"127.0.0.1"}
		c.Auth.Throttle = ThrottleConfig{MaxFailures: 3, Window: Duration(time.Minute), Block: Duration(time.Minute)}
	})
	login := func(forwardedFor, password string) byte {
		return wsMQTTLogin(t, wsURL(f.r), "", http.Header{"X-Forwarded-For": {forwardedFor}}, "xff", "alice", password)
	}
	for i := range 3 {
		if code := login("198.51.100.1", fmt.Sprintf("guess-%d", i)); code != 0x04 {
			t.Fatalf("wrong password: CONNACK %#x", code)
		}
	}
	if code := login("198.51.100.1", "alice-pw"); code != 0x04 {
		t.Fatalf("the throttled client: CONNACK %#x, want 0x04", code)
	}
	if code := login("198.51.100.2", "alice-pw"); code != 0 {
		t.Fatalf("another client behind the same proxy was locked out: CONNACK %#x", code)
	}
	// Not from a trusted proxy: the header is ignored, the peer is the client.
	if code := wsMQTTLogin(t, wsURL(f.r), "127.0.0.5", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "xff2", "alice", "alice-pw"); code != 0 {
		t.Fatalf("an untrusted peer claiming the throttled address: CONNACK %#x, want 0", code)
	}
}

// TestProxyHeaderFromUntrustedPeerRefused: a PROXY header from an address
// that is not a trusted proxy is refused, and counted.
func TestProxyHeaderFromUntrustedPeerRefused(t *testing.T) {
	r := startRouter(t, func(c *Config) {
		c.MQTT.ProxyProtocol, c.MQTT.TrustedProxies = true, []string{"127.0.0.9"}
	})
	conn, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	h := proxyproto.HeaderProxyFromAddrs(2, &net.TCPAddr{IP: net.IPv4(203, 0, 113, 5), Port: 1234}, conn.RemoteAddr())
	if _, err := h.WriteTo(conn); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := conn.Read(make([]byte, 1)); n != 0 {
		t.Fatal("a spoofed PROXY header was answered")
	}
	waitFor(t, 5*time.Second, "proxy_header_untrusted counted", func() bool {
		return metricValue(t, r, `junction_handshake_refusals_total{reason="proxy_header_untrusted"}`) == 1
	})
	// A direct client (no header) from an untrusted address is served.
	if code := rawConnect(t, mqttAddr(r), "", "direct", "", "", 4); code != 0 {
		t.Fatalf("direct client: CONNACK %#x", code)
	}
}

// TestIdleMQTTConnectionsHoldNoGoroutine connects 200 MQTT clients over TCP
// that subscribe and then say nothing, directly and through a PROXY
// protocol header sent with their CONNECT (so that go-proxyproto's buffer
// holds it). Each parks (mqtt.Server.Attach): the router holds no goroutine
// for it, yet a message published to their topic reaches every one at QoS
// 0, a PINGREQ after the silence is answered, and each client's end is seen
// (its disconnect logged, with the address the header gave, and counted).
func TestIdleMQTTConnectionsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("connections park on Linux only")
	}
	for _, proxied := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "proxied"}[proxied], func(t *testing.T) {
			testIdleClientsPark(t, proxied)
		})
	}
}

func testIdleClientsPark(t *testing.T, proxied bool) {
	cfg := testConfig()
	if proxied {
		cfg.MQTT.ProxyProtocol, cfg.MQTT.TrustedProxies = true, []string{"127.0.0.1"}
	}
	logs, start := captureLog(t)
	r := start(&cfg)
	const n = 200
	subscribe := []byte{0x82, 0, 0, 1, 0, 9}
	subscribe = append(subscribe, "idle/news"...)
	subscribe = append(subscribe, 0)
	subscribe[1] = byte(len(subscribe) - 2)

	before := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.DialTimeout("tcp", mqttAddr(r), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		var hello []byte
		if proxied {
			hello = fmt.Appendf(nil, "PROXY TCP4 203.0.113.7 127.0.0.1 %d 1883\r\n", 10000+i)
		}
		hello = append(append(hello, mqttConnectPacket(fmt.Sprintf("idle-%d", i), 4)...), subscribe...)
		if _, err := c.Write(hello); err != nil {
			t.Fatal(err)
		}
		ack := make([]byte, 4+5) // CONNACK, SUBACK
		if _, err := io.ReadFull(c, ack); err != nil {
			t.Fatalf("client %d: CONNACK and SUBACK: %v", i, err)
		}
		if ack[3] != 0 || ack[4] != 0x90 || ack[8] != 0 {
			t.Fatalf("client %d: CONNACK and SUBACK % x", i, ack)
		}
	}
	// Goroutines that start and end on their own (handshake workers, timers)
	// may still run: the bound is far below one per client.
	waitFor(t, 10*time.Second, "idle clients without goroutines", func() bool {
		return runtime.NumGoroutine()-before < n/10
	})

	pub := connectV5(t, "mqtt://"+mqttAddr(r), "idle-publisher", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := pub.cm.Publish(ctx, &paho.Publish{Topic: "idle/news", Payload: []byte("wake up")}); err != nil {
		t.Fatal(err)
	}
	want := append([]byte{0x30, byte(2 + len("idle/news") + len("wake up")), 0, 9}, "idle/newswake up"...)
	for i, c := range conns {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("client %d: % x, %v; want % x", i, got, err, want)
		}
		if _, err := c.Write([]byte{0xC0, 0}); err != nil { // PINGREQ
			t.Fatal(err)
		}
		resp := make([]byte, 2)
		if _, err := io.ReadFull(c, resp); err != nil || resp[0] != 0xD0 {
			t.Fatalf("client %d: PINGRESP % x, %v", i, resp, err)
		}
	}

	ended := metricValue(t, r, `junction_disconnects_total{protocol="mqtt",reason="client_disconnect"}`)
	for _, c := range conns {
		_, _ = c.Write([]byte{0xE0, 0}) // DISCONNECT
	}
	waitFor(t, 10*time.Second, "every idle client's disconnect counted", func() bool {
		return metricValue(t, r, `junction_disconnects_total{protocol="mqtt",reason="client_disconnect"}`)-ended >= n
	})
	remote := "remote=127.0.0.1:"
	if proxied {
		remote = "remote=203.0.113.7:10199"
	}
	logs.waitLine(t, "the last client's disconnect", "MQTT client disconnected", "client=idle-199", remote)
}
