//go:build unix

// Fan-in: many MQTT publishers, one subscriber, Junction beside bare mochi.
//
//	go test ./router -run '^$' -bench FanIn -benchtime 100000x -count 3
//
// fanInPublishers raw MQTT 3.1.1 connections publish in turn (message i
// goes out on connection i mod fanInPublishers) to one topic that a single
// bench_test.go paho subscriber holds. The publishers are bare sockets
// written by one goroutine, so that the clients cost little next to the
// server: what the server does with a thousand connections each sending a
// little is what is measured, in particular the one subscriber's outbound
// queue, which every publisher's goroutine pushes to and one writer drains.
//
// BenchmarkMQTTFanInQoS0 and QoS1 keep a credit window (fanInWindow
// messages published and not yet delivered) far below limits.mqtt_queue:
// they measure throughput, msg/s and cpu-ns/msg as in bench_test.go, and a
// loss fails them (timeout).

package router

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

const (
	fanInPublishers = 1000
	fanInWindow     = 2048
)

func BenchmarkMQTTFanInQoS0(b *testing.B) { benchFanInPair(b, 0) }
func BenchmarkMQTTFanInQoS1(b *testing.B) { benchFanInPair(b, 1) }

func benchFanInPair(b *testing.B, qos byte) {
	b.Run("junction", func(b *testing.B) {
		benchFanIn(b, mqttAddr(startRouter(b, nil)), qos)
	})
	b.Run("mochi", func(b *testing.B) {
		benchFanIn(b, startBareMochi(b), qos)
	})
}

func benchFanIn(b *testing.B, addr string, qos byte) {
	const topic = "bench/fanin"
	f := newBenchFlow()
	sub := benchMQTTClient(b, addr, "fanin-sub", f)
	tok := sub.Subscribe(topic, qos, func(_ mqtt3.Client, m mqtt3.Message) {
		if len(m.Payload()) != benchPayloadSize {
			f.fail(fmt.Errorf("subscriber got a %d-byte message, want %d", len(m.Payload()), benchPayloadSize))
		}
		f.delivered()
	})
	if err := benchWaitToken(tok); err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	pubs := make([]net.Conn, fanInPublishers)
	for i := range pubs {
		pubs[i] = fanInConnect(b, addr, fmt.Sprintf("fanin-pub-%d", i), f)
	}
	pk := fanInPublish(topic, qos, benchPayload)

	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	f.start(b)
	for i := range int64(b.N) {
		if err := f.paceWindow(i, fanInWindow, timeout.C); err != nil {
			b.Fatal(err)
		}
		c := pubs[i%fanInPublishers]
		if qos > 0 {
			// a packet id per connection, never 0, not reused while in flight
			id := uint16(i/fanInPublishers%65535 + 1)
			binary.BigEndian.PutUint16(pk[len(pk)-benchPayloadSize-2:], id)
		}
		if _, err := c.Write(pk); err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := f.await(int64(b.N), timeout.C); err != nil {
		b.Fatal(err)
	}
	f.report(b)
}

// paceWindow is pace with a window of its own.
func (f *benchFlow) paceWindow(sent, window int64, timeout <-chan time.Time) error {
	if sent-f.received.Load() < window {
		return nil
	}
	return f.await(sent-window/2, timeout)
}

// fanInConnect, like hardening_test.go's rawMQTTConnect, opens an MQTT 3.1.1 session on a bare socket (clean, keep
// alive 60 s) and reads its CONNACK. What the server sends later (PUBACKs)
// is read and discarded; the end of the connection before b ends is
// reported to f.
func fanInConnect(b *testing.B, addr, clientID string, f *benchFlow) net.Conn {
	b.Helper()
	c, err := net.DialTimeout("tcp", addr, benchConnect)
	if err != nil {
		b.Fatalf("dial %s: %v", addr, err)
	}
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60}
	body = binary.BigEndian.AppendUint16(body, uint16(len(clientID)))
	body = append(body, clientID...)
	if _, err := c.Write(append(append([]byte{0x10}, varint(len(body))...), body...)); err != nil {
		b.Fatalf("%s: CONNECT: %v", clientID, err)
	}
	_ = c.SetReadDeadline(time.Now().Add(benchConnect))
	var ack [4]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		b.Fatalf("%s: CONNACK % x: %v", clientID, ack, err)
	}
	_ = c.SetReadDeadline(time.Time{})
	done := make(chan struct{})
	go func() {
		_, err := io.Copy(io.Discard, bufio.NewReader(c))
		select {
		case <-done:
		default:
			f.connLost(fmt.Errorf("publisher %s: connection ended: %v", clientID, err))
		}
	}()
	b.Cleanup(func() {
		close(done)
		_, _ = c.Write([]byte{0xE0, 0}) // DISCONNECT
		_ = c.Close()
	})
	return c
}

// fanInPublish is a PUBLISH packet; at QoS > 0 its packet id is the two bytes
// before the payload.
func fanInPublish(topic string, qos byte, payload []byte) []byte {
	body := binary.BigEndian.AppendUint16(nil, uint16(len(topic)))
	body = append(body, topic...)
	if qos > 0 {
		body = append(body, 0, 1)
	}
	body = append(body, payload...)
	return append(append([]byte{0x30 | qos<<1}, varint(len(body))...), body...)
}
