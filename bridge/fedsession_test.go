package bridge

import (
	"bytes"
	"testing"
)

// FuzzSessionWire: no input makes the session wire form's decoder panic,
// and what decodes encodes to bytes that decode to the same.
func FuzzSessionWire(f *testing.F) {
	s := &MQTTSession{ClientID: "dev1", Version: 5, Expiry: 60, ExpiryFlag: true, Disconnected: 1700000000,
		Subscriptions: []MQTTSubscription{{Filter: "a/#", QoS: 1, NoLocal: true, Identifier: 3}},
		Inflight: []MQTTInflight{{PacketID: 7, Created: 1, SubIDs: []int{3}, Message: MQTTMessage{Topic: "a/b", QoS: 1,
			MQTTPayload: MQTTPayload{Payload: []byte("x")}}}, {PacketID: 8, PubRel: true}}}
	f.Add(encodeSession(1, 5, s))
	f.Add(encodeSession(2, 0, nil))
	f.Add(encodeSessionBarrier(4, "b-1", 7, []string{"a/#", "$share/g/x"}))
	f.Add(encodeSessionBarrierAck(4))
	f.Add(encodeSessionRouted(5, 9))
	f.Add(encodeSessionRequest(3, "dev1", "alice", "realm1", true))
	f.Add(encodeSessionForward("dev1", s.Inflight[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeSessionWire(b)
		if err != nil {
			return
		}
		again := reencodeSession(w)
		w2, err := decodeSessionWire(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		third := reencodeSession(w2)
		if !bytes.Equal(again, third) {
			t.Fatalf("session message changed on a second trip")
		}
	})
}

func reencodeSession(w sessionWire) []byte {
	switch w.op {
	case sessionOpRequest:
		return encodeSessionRequest(w.req, w.clientID, w.authID, w.realm, w.clean)
	case sessionOpSession:
		return encodeSession(w.req, w.token, w.session)
	case sessionOpForward:
		return encodeSessionForward(w.clientID, w.inflight)
	case sessionOpBarrier:
		return encodeSessionBarrier(w.req, w.dest, w.ver, w.filters)
	case sessionOpBarrierAck:
		return encodeSessionBarrierAck(w.req)
	case sessionOpRouted:
		return encodeSessionRouted(w.req, w.ver)
	}
	return nil
}
