package mqtt

import (
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BenchmarkInflightGetAll is the copy of a full session store (mochi's
// MaximumInflight, 8192 QoS 1 messages) that mochi's expiry scan takes once a
// second per client, and a session's end and resume take once, holding the
// store's lock (mochi patch 23).
func BenchmarkInflightGetAll(b *testing.B) {
	in := mochi.NewInflights()
	for id := 1; id <= 8192; id++ {
		in.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t", PacketID: uint16(id), Payload: []byte("x")})
	}
	b.ReportAllocs()
	for b.Loop() {
		if n := len(in.GetAll(false)); n != 8192 {
			b.Fatalf("%d packets", n)
		}
	}
}
