package router

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
)

// metricValue reads one sample from /metrics, e.g.
// `junction_rejected_input_total{protocol="wamp",reason="invalid"}`; 0 if absent.
func metricValue(t *testing.T, r *Router, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr(r) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return 0
}

// assertServing proves the router still serves both protocols normally.
func assertServing(t *testing.T, r *Router) {
	t.Helper()
	sub := connectWAMP(t, wsURL(r), serialize.JSON)
	events := make(chan *nxwamp.Event, 1)
	if err := sub.SubscribeChan("com.health", events, nil); err != nil {
		t.Fatal(err)
	}
	pub := connectV5(t, "mqtt://"+mqttAddr(r), fmt.Sprintf("health-%d", time.Now().UnixNano()), nil)
	msgs := connectV5(t, wsURL(r), fmt.Sprintf("health-sub-%d", time.Now().UnixNano()), nil)
	msgs.subscribe(t, "health", 1)
	pub.publish(t, &paho.Publish{Topic: "health", QoS: 1, Payload: []byte("ok")})
	if m := recv(t, msgs.msgs, 5*time.Second, "MQTT message after bad input"); string(m.Payload) != "ok" {
		t.Fatalf("got %q", m.Payload)
	}
	wpub := connectWAMP(t, "tcp://"+httpAddr(r), serialize.CBOR)
	if err := wpub.Publish("com.health", nxwamp.Dict{"acknowledge": true}, nxwamp.List{"ok"}, nil); err != nil {
		t.Fatal(err)
	}
	recv(t, events, 5*time.Second, "WAMP event after bad input")
}

// rawWAMP is a hand-driven WAMP-over-WebSocket JSON session, for sending
// what no real client library would.
type rawWAMP struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRawWAMP(t *testing.T, r *Router, hello bool) *rawWAMP {
	t.Helper()
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial(wsURL(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	c := &rawWAMP{t: t, ws: ws}
	if hello {
		c.send(`[1,"realm1",{"roles":{"publisher":{},"subscriber":{},"caller":{},"callee":{}}}]`)
		if m := c.read(); m[0] != float64(nxwamp.WELCOME) {
			t.Fatalf("want WELCOME, got %v", m)
		}
	}
	return c
}

func (c *rawWAMP) send(s string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rawWAMP) read() []any {
	c.t.Helper()
	_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.ws.ReadMessage()
	if err != nil {
		c.t.Fatalf("reading WAMP message: %v", err)
	}
	var m []any
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("router sent invalid JSON %q: %v", b, err)
	}
	return m
}

// readClose waits for the router to close the WebSocket and returns the code.
func (c *rawWAMP) readClose() (int, []any) {
	c.t.Helper()
	var last []any
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return ce.Code, last
			}
			return -1, last
		}
		_ = json.Unmarshal(b, &last)
	}
}

func TestWAMPInvalidOptionsRefused(t *testing.T) {
	r := startRouter(t, nil)
	c := dialRawWAMP(t, r, true)
	cases := []struct{ name, msg string }{
		// nexus v3.3.0 panics in its broker or dealer goroutine on these.
		{"publish ppt_serializer int", `[16,11,{"acknowledge":true,"ppt_scheme":"x_test","ppt_serializer":1},"com.t",["x"]]`},
		{"publish ppt_scheme int", `[16,12,{"ppt_scheme":7},"com.t",["x"]]`},
		{"publish ppt_cipher list", `[16,13,{"ppt_scheme":"x_a","ppt_cipher":[1]},"com.t"]`},
		{"call ppt_keyid map", `[48,14,{"ppt_scheme":"x_a","ppt_keyid":{}},"com.p",[]]`},
		// nexus took these as invocation policies (see below).
		{"register invoke unknown", `[64,15,{"invoke":"roundroZin"},"com.p"]`},
		{"register invoke int", `[64,16,{"invoke":1},"com.p"]`},
	}
	for _, tc := range cases {
		c.send(tc.msg)
		m := c.read()
		var want []any
		_ = json.Unmarshal([]byte(tc.msg), &want)
		if m[0] != float64(nxwamp.ERROR) || m[1] != want[0] || m[2] != want[1] || m[4] != string(nxwamp.ErrInvalidArgument) {
			t.Fatalf("%s: got %v, want ERROR %v %v wamp.error.invalid_argument", tc.name, m, want[0], want[1])
		}
	}
	// The session survives its refused messages, and so does everyone else.
	c.send(`[32,20,{},"com.t"]`)
	if m := c.read(); m[0] != float64(nxwamp.SUBSCRIBED) {
		t.Fatalf("session unusable after refused messages: %v", m)
	}
	assertServing(t, r)
	if v := metricValue(t, r, `junction_rejected_input_total{protocol="wamp",reason="invalid"}`); v != float64(len(cases)) {
		t.Fatalf("rejected metric = %v, want %d", v, len(cases))
	}
}

// TestWAMPUnknownInvokePolicyRefused: nexus stored any string as a
// registration's invocation policy, so two callees registering a procedure
// with the same unknown policy were both taken, and the first CALL panicked
// in the dealer and ended the process (found by FuzzStream). Each REGISTER
// now gets ERROR wamp.error.invalid_argument, the procedure stays
// unregistered, and a known shared policy still works.
func TestWAMPUnknownInvokePolicyRefused(t *testing.T) {
	r := startRouter(t, nil)
	echo := func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{"echo"}}
	}
	for _, s := range []serialize.Serialization{serialize.JSON, serialize.MSGPACK} {
		for i := 0; i < 2; i++ {
			callee := connectWAMP(t, wsURL(r), s)
			err := callee.Register("com.fuzz.echo", echo, nxwamp.Dict{"invoke": "roundroZin"})
			if err == nil || !strings.Contains(err.Error(), string(nxwamp.ErrInvalidArgument)) {
				t.Fatalf("REGISTER with an unknown policy: %v, want wamp.error.invalid_argument", err)
			}
		}
	}
	caller := connectWAMP(t, wsURL(r), serialize.CBOR)
	_, err := caller.Call(context.Background(), "com.fuzz.echo", nil, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), string(nxwamp.ErrNoSuchProcedure)) {
		t.Fatalf("CALL: %v, want wamp.error.no_such_procedure", err)
	}
	for i := 0; i < 2; i++ {
		if err := connectWAMP(t, wsURL(r), serialize.JSON).Register("com.fuzz.echo", echo, nxwamp.Dict{"invoke": "roundrobin"}); err != nil {
			t.Fatalf("REGISTER roundrobin: %v", err)
		}
	}
	res, err := caller.Call(context.Background(), "com.fuzz.echo", nil, nil, nil, nil)
	if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != "echo" {
		t.Fatalf("CALL of the shared registration: %v, %v", res, err)
	}
	assertServing(t, r)
}

func TestWAMPMalformedMessagesAbort(t *testing.T) {
	r := startRouter(t, nil)
	for _, bad := range []string{`not json`, `[16]`, `{"a":1}`, `[999,1]`, `[16,"x",{},"com.t"]`} {
		c := dialRawWAMP(t, r, true)
		c.send(bad)
		_, last := c.readClose()
		if len(last) < 2 || last[0] != float64(nxwamp.ABORT) || last[2] != string(nxwamp.ErrProtocolViolation) {
			t.Fatalf("%s: last message before close %v, want ABORT wamp.error.protocol_violation", bad, last)
		}
	}
	assertServing(t, r)
}

func TestOversizedMessages(t *testing.T) {
	const limit = 64 << 10
	r := startRouter(t, func(c *Config) {
		c.Limits.MaxMessageSize = limit
		c.Limits.MQTTWriteBuffer = 4 * limit
	})
	big := strings.Repeat("x", limit+1024)

	t.Run("wamp websocket", func(t *testing.T) {
		c := dialRawWAMP(t, r, true)
		c.send(`[16,1,{},"com.t",["` + big + `"]]`)
		if code, _ := c.readClose(); code != websocket.CloseMessageTooBig {
			t.Fatalf("close code %d, want 1009 (message too big)", code)
		}
	})
	t.Run("wamp rawsocket", func(t *testing.T) {
		conn, err := net.Dial("tcp", httpAddr(r))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		// Handshake: JSON, and we accept up to 16 MiB.
		if _, err := conn.Write([]byte{0x7F, 0xF1, 0, 0}); err != nil {
			t.Fatal(err)
		}
		var hs [4]byte
		if _, err := io.ReadFull(conn, hs[:]); err != nil {
			t.Fatal(err)
		}
		if hs[0] != 0x7F || hs[1]&0x0F != 1 || 1<<(9+int(hs[1]>>4)) > limit {
			t.Fatalf("handshake reply %x: want JSON and a limit of at most %d", hs, limit)
		}
		n := limit + 1
		hdr := []byte{0, byte(n >> 16), byte(n >> 8), byte(n)}
		_, _ = conn.Write(hdr)
		if _, err := io.ReadAll(conn); err != nil {
			t.Fatalf("connection not closed after an oversized frame header: %v", err)
		}
	})
	t.Run("mqtt 5", func(t *testing.T) {
		c := connectV5(t, "mqtt://"+mqttAddr(r), "big5", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = c.cm.Publish(ctx, &paho.Publish{Topic: "big", QoS: 1, Payload: []byte(big)})
		d := recv(t, c.disconnects, 5*time.Second, "DISCONNECT")
		if d.ReasonCode != 0x95 {
			t.Fatalf("DISCONNECT reason %#x, want 0x95 (packet too large)", d.ReasonCode)
		}
	})
	t.Run("mqtt 3.1.1", func(t *testing.T) {
		lost := make(chan error, 1)
		c := connectV3(t, "tcp://"+mqttAddr(r), "big3", nil)
		_ = c
		conn := rawMQTTConnect(t, mqttAddr(r), "big3raw")
		// PUBLISH QoS 0 with a remaining length over the limit.
		pkt := append([]byte{0x30}, varint(limit+100)...)
		_, _ = conn.Write(pkt)
		go func() { _, err := io.ReadAll(conn); lost <- err }()
		if err := recv(t, lost, 5*time.Second, "connection closed"); err != nil && !isClosedErr(err) {
			t.Fatalf("read: %v", err)
		}
	})
	assertServing(t, r)
	if v := metricValue(t, r, `junction_rejected_input_total{protocol="wamp",reason="too_large"}`); v < 2 {
		t.Fatalf("wamp too_large rejections = %v, want 2", v)
	}
	if v := metricValue(t, r, `junction_rejected_input_total{protocol="mqtt",reason="too_large"}`); v < 2 {
		t.Fatalf("mqtt too_large rejections = %v, want 2", v)
	}
}

func isClosedErr(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset")
}

func varint(n int) []byte {
	var out []byte
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			return out
		}
	}
}

// rawMQTTConnect opens a TCP connection and completes an MQTT 3.1.1 CONNECT.
func rawMQTTConnect(t *testing.T, addr, clientID string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, byte(len(clientID))}
	body = append(body, clientID...)
	pkt := append(append([]byte{0x10}, varint(len(body))...), body...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var ack [4]byte
	if _, err := io.ReadFull(conn, ack[:]); err != nil {
		t.Fatalf("CONNACK: %v", err)
	}
	if ack != [4]byte{0x20, 2, 0, 0} {
		t.Fatalf("CONNACK %x, want accepted", ack)
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn
}

func TestGarbageOnTheWire(t *testing.T) {
	r := startRouter(t, nil)
	cases := []struct {
		name, addr string
		bytes      []byte
		want       string // prefix of the reply, "" for just a close
	}{
		{"universal: not a protocol", httpAddr(r), []byte("\x00\x01\x02garbage\r\n\r\n"), "HTTP/1.1 400 Bad Request"},
		{"universal: bad HTTP", httpAddr(r), []byte("GET / HTTP/9\r\n\r\n"), "HTTP/1.1 400 Bad Request"},
		{"universal: MQTT byte then junk", httpAddr(r), []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}, ""},
		{"universal: RawSocket bad serializer", httpAddr(r), []byte{0x7F, 0xF9, 0, 0}, "\x7f\x10\x00\x00"},
		{"universal: RawSocket reserved bits", httpAddr(r), []byte{0x7F, 0xF1, 1, 0}, "\x7f\x30\x00\x00"},
		{"mqtt port: not CONNECT", mqttAddr(r), []byte{0x30, 0x02, 0, 0}, ""},
		{"mqtt port: bad protocol name", mqttAddr(r), []byte{0x10, 0x08, 0, 4, 'X', 'Q', 'T', 'T', 4, 0}, ""},
		{"mqtt port: reserved packet type after CONNECT", "", nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var conn net.Conn
			if tc.addr == "" {
				conn = rawMQTTConnect(t, mqttAddr(r), "garbage")
				tc.bytes = []byte{0x00, 0x00}
			} else {
				var err error
				if conn, err = net.Dial("tcp", tc.addr); err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
			}
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := conn.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			reply, err := io.ReadAll(conn)
			if err != nil && !isClosedErr(err) {
				t.Fatalf("router did not close the connection: %v", err)
			}
			if !bytes.HasPrefix(reply, []byte(tc.want)) {
				t.Fatalf("reply %q, want prefix %q", reply, tc.want)
			}
		})
	}
	assertServing(t, r)
}

// TestMalformedSubscribeOptions: an MQTT 5 SUBSCRIBE that ends right after
// a topic filter, with no subscription options byte, crashed the whole
// process (mochi read the byte unchecked: mochi issue 501, Junction's
// mochi patch 25), and one whose options set reserved bits or retain
// handling 3 was taken. Each now gets DISCONNECT 0x81 (malformed packet)
// and the router serves on, on both MQTT ports.
func TestMalformedSubscribeOptions(t *testing.T) {
	r := startRouter(t, nil)
	connect := []byte{0x10, 14, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 1, 'm'}
	for _, tc := range []struct {
		name      string
		subscribe []byte
	}{
		{"no options byte", []byte{0x82, 5, 0, 1, 0, 0, 0}},
		{"no options byte after a filter", []byte{0x82, 6, 0, 1, 0, 0, 1, 'a'}},
		{"second filter without options", []byte{0x82, 10, 0, 1, 0, 0, 1, 'a', 1, 0, 1, 'b'}},
		{"reserved bits", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0xC1}},
		{"retain handling 3", []byte{0x82, 7, 0, 1, 0, 0, 1, 'a', 0x31}},
	} {
		for _, port := range []struct{ name, addr string }{{"mqtt", mqttAddr(r)}, {"universal", httpAddr(r)}} {
			t.Run(tc.name+"/"+port.name, func(t *testing.T) {
				conn, err := net.Dial("tcp", port.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := conn.Write(append(append([]byte{}, connect...), tc.subscribe...)); err != nil {
					t.Fatal(err)
				}
				reply, err := io.ReadAll(conn)
				if err != nil && !isClosedErr(err) {
					t.Fatalf("router did not close the connection: %v", err)
				}
				// CONNACK (accepted), then DISCONNECT with 0x81.
				if len(reply) < 4 || reply[0] != 0x20 || reply[3] != 0 {
					t.Fatalf("reply %x: want an accepting CONNACK first", reply)
				}
				rest := reply[2+int(reply[1]):]
				if len(rest) < 3 || rest[0] != 0xE0 || rest[2] != 0x81 {
					t.Fatalf("after CONNACK %x, want DISCONNECT 0x81 (malformed packet)", rest)
				}
			})
		}
	}
	assertServing(t, r)
}

func TestConnectTimeout(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Limits.ConnectTimeout = Duration(300 * time.Millisecond) })
	for _, tc := range []struct{ name, addr string }{
		{"mqtt port", mqttAddr(r)},
		{"universal port", httpAddr(r)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			if _, err := io.ReadAll(conn); err != nil && !isClosedErr(err) {
				t.Fatalf("silent connection not closed: %v", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("closed after %v", d)
			}
		})
	}
	t.Run("websocket without HELLO", func(t *testing.T) {
		c := dialRawWAMP(t, r, false)
		// The router must end it well before this 5 s read deadline; a
		// closed connection with or without a close frame is fine.
		_ = c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ws.ReadMessage()
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("silent WAMP connection not closed: %v", err)
		}
	})
}

// TestSlowHandshakesHoldUpNoOther: clients that connect and send nothing,
// or half a CONNECT, hold their handshakes open until connect_timeout;
// meanwhile the next client's handshake is answered at once (mochi patch
// 17 runs handshakes on workers, a new one whenever none is idle).
func TestSlowHandshakesHoldUpNoOther(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Limits.ConnectTimeout = Duration(30 * time.Second) })
	for i := range 20 {
		conn, err := net.Dial("tcp", mqttAddr(r))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if i%2 == 1 {
			// A CONNECT's fixed header promising 30 bytes, and 2 of them.
			if _, err := conn.Write([]byte{0x10, 30, 0, 4}); err != nil {
				t.Fatal(err)
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // the slow ones are in their handshakes
	for i := range 3 {
		start := time.Now()
		rawMQTTConnect(t, mqttAddr(r), fmt.Sprintf("prompt-%d", i))
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("CONNACK after %v behind slow handshakes", d)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Limits.MaxConnections = 2 })
	connectV5(t, "mqtt://"+mqttAddr(r), "one", nil)
	connectWAMP(t, wsURL(r), serialize.JSON)

	// MQTT 5: CONNACK 0x89 (server busy).
	u := "mqtt://" + mqttAddr(r)
	errc := make(chan error, 1)
	third, err := autopaho.NewConnection(context.Background(), autopaho.ClientConfig{
		ServerUrls:       mustURLs(t, u),
		OnConnectionDown: func() bool { return false },
		OnConnectError:   func(err error) { errc <- err },
		ClientConfig:     paho.ClientConfig{ClientID: "three"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var connackErr *autopaho.ConnackError
	if err := recv(t, errc, 5*time.Second, "connect error"); !errors.As(err, &connackErr) || connackErr.ReasonCode != 0x89 {
		t.Fatalf("third MQTT 5 connection: %v, want CONNACK 0x89", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = third.Disconnect(ctx)
	cancel()

	// MQTT 3.1.1: CONNACK 0x03 (server unavailable).
	conn, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte{0x10, 0x0d, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'x'})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if reply, _ := io.ReadAll(conn); !bytes.Equal(reply, []byte{0x20, 2, 0, 3}) {
		t.Fatalf("third MQTT 3.1.1 connection got %x, want CONNACK 0x03", reply)
	}

	// WebSocket: HTTP 503 before the upgrade.
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}}
	_, resp, err := d.Dial(wsURL(r), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third WebSocket: %v %v, want 503", err, resp)
	}
	if v := metricValue(t, r, `junction_handshake_refusals_total{reason="max_connections"}`); v != 3 {
		t.Fatalf("refusals = %v, want 3", v)
	}
}

func mustURLs(t *testing.T, s string) []*url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return []*url.URL{u}
}

func TestWebSocketHandshakeRefusals(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.HTTP.AllowedOrigins = []string{"https://app.example.com", "https://*.example.org"} })
	cases := []struct {
		name     string
		protos   []string
		origin   string
		status   int
		body     string
		accepted string
	}{
		{"no offer", nil, "", 400, "wamp.2.json, wamp.2.msgpack, wamp.2.cbor, mqtt, mqttv3.1", ""},
		{"nothing we speak", []string{"stomp", "wamp.1.json"}, "", 400, "Junction accepts: wamp.2.json", ""},
		{"client preference wins", []string{"mqtt", "wamp.2.json"}, "", 101, "", "mqtt"},
		{"mqttv3.1", []string{"foo", "mqttv3.1"}, "", 101, "", "mqttv3.1"},
		{"cbor", []string{"wamp.2.cbor"}, "", 101, "", "wamp.2.cbor"},
		{"allowed origin", []string{"wamp.2.json"}, "https://app.example.com", 101, "", "wamp.2.json"},
		{"allowed wildcard origin", []string{"wamp.2.json"}, "https://eu.example.org", 101, "", "wamp.2.json"},
		{"forbidden origin", []string{"wamp.2.json"}, "https://evil.example.net", 403, "not allowed", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			d := websocket.Dialer{Subprotocols: tc.protos, HandshakeTimeout: 5 * time.Second}
			ws, resp, err := d.Dial(wsURL(r), h)
			if tc.status == 101 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				defer ws.Close()
				if ws.Subprotocol() != tc.accepted {
					t.Fatalf("server picked %q, want %q", ws.Subprotocol(), tc.accepted)
				}
				return
			}
			if err == nil || resp == nil {
				t.Fatalf("accepted, want %d", tc.status)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Fatalf("got %d %q, want %d containing %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}

func TestWebSocketCloseWithoutCodeAnsweredWith1000(t *testing.T) {
	r := startRouter(t, nil)
	c := dialRawWAMP(t, r, true)
	// A close frame with no status code, as autobahn-js sends.
	if err := c.ws.WriteControl(websocket.CloseMessage, nil, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if code, _ := c.readClose(); code != websocket.CloseNormalClosure {
		t.Fatalf("close answered with %d, want 1000", code)
	}
}
