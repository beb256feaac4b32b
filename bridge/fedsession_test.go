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
	f.Add(encodeSession(1, s))
	f.Add(encodeSession(2, nil))
	f.Add(encodeSessionRequest(3, "dev1", "alice", "realm1", true))
	f.Add(encodeSessionForward("dev1", s.Inflight[0]))
	f.Fuzz(func(t *testing.T, b []byte) {
		w, err := decodeSessionWire(b)
		if err != nil {
			return
		}
		var again []byte
		switch w.op {
		case sessionOpRequest:
			again = encodeSessionRequest(w.req, w.clientID, w.authID, w.realm, w.clean)
		case sessionOpSession:
			again = encodeSession(w.req, w.session)
		case sessionOpForward:
			again = encodeSessionForward(w.clientID, w.inflight)
		}
		w2, err := decodeSessionWire(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		var third []byte
		switch w2.op {
		case sessionOpRequest:
			third = encodeSessionRequest(w2.req, w2.clientID, w2.authID, w2.realm, w2.clean)
		case sessionOpSession:
			third = encodeSession(w2.req, w2.session)
		case sessionOpForward:
			third = encodeSessionForward(w2.clientID, w2.inflight)
		}
		if !bytes.Equal(again, third) {
			t.Fatalf("session message changed on a second trip")
		}
	})
}
