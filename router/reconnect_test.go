//go:build linux

package router

import (
	"bufio"
	"context"
	"testing"
	"time"
)

// TestMQTTReconnectSameClientID: a clean-session client that closes its
// connection and connects again at once with the same client id receives
// what is published to its new subscription. The old session's end used to
// race the new connection's takeover: mochi could delete the new client
// from its table (and its subscription) after the takeover, and the new
// connection received nothing more (a few in a hundred rounds; mochi patch
// 18).
func TestMQTTReconnectSameClientID(t *testing.T) {
	r := startRouter(t, nil)
	addr := mqttAddr(r)
	ctx := context.Background()
	pub, err := mqttTCPClient(ctx, addr, "reconnect-pub", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const topic = "reconnect/t"
	subscribe := mqttPacket(0x82, append(mqttString([]byte{0, 1}, topic), 0))
	lost := 0
	for round := range 200 {
		old, err := mqttTCPClient(ctx, addr, "reconnect-sub", nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = old.Write(subscribe)
		_ = old.SetReadDeadline(time.Now().Add(5 * time.Second))
		if h, _, err := readMQTTPacket(bufio.NewReader(old)); err != nil || h != 0x90 {
			t.Fatalf("round %d: no SUBACK: %x %v", round, h, err)
		}
		_ = old.Close()
		sub, err := mqttTCPClient(ctx, addr, "reconnect-sub", nil)
		if err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(sub)
		_, _ = sub.Write(subscribe)
		_ = sub.SetReadDeadline(time.Now().Add(5 * time.Second))
		if h, _, err := readMQTTPacket(rd); err != nil || h != 0x90 {
			t.Fatalf("round %d: no SUBACK: %x %v", round, h, err)
		}
		_, _ = pub.Write(mqttPacket(0x30, append(mqttString(nil, topic), 'x')))
		_ = sub.SetReadDeadline(time.Now().Add(time.Second))
		if h, _, err := readMQTTPacket(rd); err != nil || h>>4 != 3 {
			lost++
			t.Errorf("round %d: nothing received (%x %v)", round, h, err)
			if lost == 3 {
				t.FailNow()
			}
		}
		_ = sub.Close()
	}
}
