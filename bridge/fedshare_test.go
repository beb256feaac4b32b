package bridge

import (
	"bytes"
	"testing"
)

func TestShareWire(t *testing.T) {
	m := MQTTMessage{Topic: "jobs/1", QoS: 1, V5: true, MQTTPayload: MQTTPayload{Payload: []byte("x")},
		UserProperties: []UserProperty{{"k", "v"}}}
	b := encodeShare(1, "$share/g/jobs/+", EncodeMQTT(m))
	if wireKind(b) != wireShare {
		t.Fatalf("kind %d", wireKind(b))
	}
	hops, group, got, err := decodeShare(b)
	if err != nil || hops != 1 || group != "$share/g/jobs/+" || !bytes.Equal(EncodeMQTT(got), EncodeMQTT(m)) {
		t.Fatalf("decoded %d %q %+v %v", hops, group, got, err)
	}
	for _, bad := range [][]byte{
		nil,
		{1, 4},
		encodeShare(2, "$share/g/a", EncodeMQTT(m)),     // hops
		encodeShare(0, "plain/a", EncodeMQTT(m)),        // not a group
		encodeShare(0, "$share/g/", EncodeMQTT(m)),      // no filter
		append(encodeShare(0, "$share/g/a", nil), 1, 2), // no publication
	} {
		if _, _, _, err := decodeShare(bad); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

func FuzzShareWire(f *testing.F) {
	f.Add(encodeShare(0, "$share/g/a/+", EncodeMQTT(MQTTMessage{Topic: "a/b", QoS: 1, MQTTPayload: MQTTPayload{Payload: []byte("x")}})))
	f.Add([]byte{1, 4, 0, 9, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		hops, group, m, err := decodeShare(b)
		if err != nil {
			return
		}
		again := encodeShare(hops, group, EncodeMQTT(m))
		h2, g2, m2, err := decodeShare(again)
		if err != nil || h2 != hops || g2 != group || !bytes.Equal(EncodeMQTT(m2), EncodeMQTT(m)) {
			t.Fatalf("share message changed on a second trip: %v", err)
		}
	})
}
