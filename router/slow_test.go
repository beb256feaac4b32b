package router

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
)

// smallReadBuffer dials TCP with a tiny receive buffer, so a client that stops
// reading pushes back on the router after a few kilobytes, not megabytes.
func smallReadBuffer(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return d.DialContext(ctx, network, addr)
}

func TestSlowWAMPSubscriberEvicted(t *testing.T) {
	r := startRouter(t, func(c *Config) {
		// Room for a healthy client to lag behind a fast publisher under -race
		// on two cores; the stuck one fills it anyway.
		c.Limits.WAMPQueue = 256
		c.Limits.WriteTimeout = Duration(30 * time.Second) // eviction must come from the queue, not the timeout
	})
	// The stuck subscriber: subscribes, then never reads again.
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}, NetDialContext: smallReadBuffer}
	ws, _, err := d.Dial(wsURL(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	stuck := &rawWAMP{t: t, ws: ws}
	stuck.send(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	stuck.read()
	stuck.send(`[32,1,{},"com.flood"]`)
	if m := stuck.read(); m[0] != float64(nxwamp.SUBSCRIBED) {
		t.Fatalf("want SUBSCRIBED, got %v", m)
	}

	healthy := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	events := make(chan *nxwamp.Event, 1000)
	if err := healthy.SubscribeChan("com.flood", events, nil); err != nil {
		t.Fatal(err)
	}
	pub := connectWAMP(t, "tcp://"+httpAddr(r), serialize.MSGPACK)
	const n = 1000
	payload := strings.Repeat("x", 32<<10)
	start := time.Now()
	for i := range n {
		// Acknowledged: each publish returns only once the broker took it,
		// so a blocked broker would show here.
		if err := pub.Publish("com.flood", nxwamp.Dict{"acknowledge": true}, nxwamp.List{i, payload}, nil); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("publisher slowed down: %d publishes took %v", n, d)
	}
	for i := range n {
		var ev *nxwamp.Event
		select {
		case ev = <-events:
		case <-time.After(10 * time.Second):
			t.Fatalf("event %d never reached the healthy subscriber (WAMP evictions: %v)", i,
				metricValue(t, r, `junction_slow_consumer_evictions_total{protocol="wamp",reason="queue_full_or_write_timeout"}`))
		}
		if got, _ := nxwamp.AsInt64(ev.Arguments[0]); got != int64(i) {
			t.Fatalf("healthy subscriber: event %d arrived as %d", i, got)
		}
	}
	waitFor(t, 5*time.Second, "eviction metric", func() bool {
		return metricValue(t, r, `junction_slow_consumer_evictions_total{protocol="wamp",reason="queue_full_or_write_timeout"}`) >= 1
	})
	// The stuck client's connection is gone: reading now drains what was
	// buffered and then ends.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := ws.ReadMessage(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("stuck subscriber still connected")
			}
			break
		}
	}
}

func TestSlowMQTTSubscriberDoesNotBlockPublishers(t *testing.T) {
	r := startRouter(t, func(c *Config) {
		c.Limits.MQTTWriteBuffer = 1 << 20
		// Without Junction's non-blocking connection, mochi would hold the
		// publisher for this long behind the stuck subscriber (mochi notes §7).
		c.Limits.WriteTimeout = Duration(60 * time.Second)
	})
	// The stuck subscriber: QoS 1, then never reads again.
	conn, err := smallReadBuffer(context.Background(), "tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connect := []byte{0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 's', 't', 'u', 'k'}
	subscribe := []byte{0x82, 0x0a, 0, 1, 0, 5, 'f', 'l', 'o', 'o', 'd', 1}
	if _, err := conn.Write(append(connect, subscribe...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	acks := make([]byte, 4+5)
	if _, err := io.ReadFull(conn, acks); err != nil || acks[0] != 0x20 || acks[4] != 0x90 || acks[8] != 1 {
		t.Fatalf("CONNACK+SUBACK %x, %v", acks, err)
	}

	healthy := connectV3(t, "tcp://"+mqttAddr(r), "healthy", nil)
	msgs := subscribeV3(t, healthy, "flood", 1)
	pub := connectV3(t, wsURL(r), "publisher", nil)
	const n = 400
	payload := strings.Repeat("y", 32<<10)
	start := time.Now()
	for i := range n {
		waitToken(t, pub.Publish("flood", 1, false, fmt.Sprintf("%d:%s", i, payload)), fmt.Sprintf("publish %d (PUBACK)", i))
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("publisher slowed down: %d QoS 1 publishes took %v", n, d)
	}
	for i := range n {
		m := recv(t, msgs, 10*time.Second, fmt.Sprintf("message %d at the healthy subscriber", i))
		if !strings.HasPrefix(m.payload, fmt.Sprintf("%d:", i)) || m.qos != 1 {
			t.Fatalf("healthy subscriber: message %d arrived as %.10q at QoS %d", i, m.payload, m.qos)
		}
	}
	waitFor(t, 5*time.Second, "eviction metric", func() bool {
		return metricValue(t, r, `junction_slow_consumer_evictions_total{protocol="mqtt",reason="write_buffer_full"}`) >= 1
	})
}

// TestMQTTSubscriberAtInflightMaximumEvicted: a QoS 1 subscriber that reads
// everything but acknowledges nothing reaches limits.mqtt_inflight
// unacknowledged messages; the next message to it is dropped, so it is
// evicted (it reconnects knowing it lost something) and the drop is
// counted, instead of losing QoS 1 messages silently (mochi patch 21).
func TestMQTTSubscriberAtInflightMaximumEvicted(t *testing.T) {
	const inflight = 100
	r := startRouter(t, func(c *Config) { c.Limits.MQTTInflight = inflight })
	sub, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	connect := []byte{0x10, 0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 4, 'n', 'a', 'c', 'k'}
	subscribe := []byte{0x82, 0x0a, 0, 1, 0, 5, 'f', 'l', 'o', 'o', 'd', 1}
	if _, err := sub.Write(append(connect, subscribe...)); err != nil {
		t.Fatal(err)
	}
	_ = sub.SetReadDeadline(time.Now().Add(5 * time.Second))
	acks := make([]byte, 4+5)
	if _, err := io.ReadFull(sub, acks); err != nil || acks[0] != 0x20 || acks[4] != 0x90 || acks[8] != 1 {
		t.Fatalf("CONNACK+SUBACK %x, %v", acks, err)
	}
	// It reads on (so no queue or write buffer fills) until it is cut off.
	closed := make(chan error, 1)
	_ = sub.SetReadDeadline(time.Time{})
	go func() {
		_, err := io.Copy(io.Discard, sub)
		closed <- err
	}()

	pub, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var b bytes.Buffer
	b.Write([]byte{0x10, 0x0f, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 3, 'p', 'u', 'b'})
	const n = inflight + 10
	for i := 1; i <= n; i++ {
		// PUBLISH QoS 1 to "flood", packet id i, payload "x".
		b.Write([]byte{0x32, 2 + 5 + 2 + 1, 0, 5, 'f', 'l', 'o', 'o', 'd', byte(i >> 8), byte(i), 'x'})
	}
	go func() { _, _ = pub.Write(b.Bytes()) }()
	// The router has handled the last PUBLISH when it acknowledges it: wait
	// for the CONNACK and n PUBACKs, as long as they keep coming (under
	// -race this takes seconds).
	acked := 0
	buf := make([]byte, 4)
	for acked < n {
		_ = pub.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadFull(pub, buf); err != nil {
			t.Fatalf("publisher: %d of %d PUBACKs: %v", acked, n, err)
		}
		if buf[0] == 0x40 {
			acked++
		}
	}
	select {
	case <-closed:
	case <-time.After(wait):
		t.Fatalf("the subscriber holding limits.mqtt_inflight unacknowledged messages was not cut off (inflight %v, dropped %v)", metricValue(t, r, `junction_mqtt_inflight_messages`), metricValue(t, r, `junction_messages_dropped_total{protocol="mqtt"}`))
	}
	waitFor(t, wait, "eviction and drop metrics", func() bool {
		return metricValue(t, r, `junction_slow_consumer_evictions_total{protocol="mqtt",reason="queue_full"}`) >= 1 &&
			metricValue(t, r, `junction_messages_dropped_total{protocol="mqtt"}`) >= 1
	})
	// mochi ends the evicted clean session by dropping its stored
	// messages (at 8192, seconds under -race on a loaded machine), and the
	// router's shutdown (a 5 s drain here) would wait for it: wait here as
	// long as the count goes down.
	last, deadline := math.Inf(1), time.Now().Add(2*wait)
	for {
		v := metricValue(t, r, `junction_mqtt_inflight_messages`)
		if v == 0 {
			break
		}
		if v < last {
			last, deadline = v, time.Now().Add(2*wait)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the evicted session still holds %v messages", v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
