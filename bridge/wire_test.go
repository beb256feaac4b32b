package bridge

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/junctionmq/junction/auth"
)

func TestWireRoundTrip(t *testing.T) {
	f := PayloadFormatUTF8
	mqttCases := []MQTTMessage{
		{Topic: "a/b", QoS: 1},
		{Topic: "devices/7/temp", MQTTPayload: MQTTPayload{Payload: []byte("21.5"), ContentType: ContentTypeText, PayloadFormat: &f},
			QoS: 2, Retain: true, V5: true, Publisher: auth.Identity{AuthID: "sensor-7", Role: "device", ClientID: "c7"},
			ResponseTopic: "replies/x", CorrelationData: []byte{0, 1}, UserProperties: []UserProperty{{"k", "v"}, {"", ""}}},
		{Topic: "bin", MQTTPayload: MQTTPayload{Payload: []byte{0, 0xff, 0x80}}},
	}
	for _, m := range mqttCases {
		got, err := DecodeRemote(EncodeMQTT(m))
		if err != nil || got.MQTT == nil || got.WAMP != nil {
			t.Fatalf("%+v: %+v, %v", m, got, err)
		}
		want := m
		if want.Payload == nil {
			want.Payload = []byte{}
		}
		if !reflect.DeepEqual(*got.MQTT, want) {
			t.Errorf("MQTT round trip:\n got %+v\nwant %+v", *got.MQTT, want)
		}
	}
	wampCases := []WAMPMessage{
		{URI: "com.acme.x"},
		{URI: "com.acme.y", Retain: true, WAMPPayload: WAMPPayload{Args: []any{"on", int64(3), 2.5, []byte{1, 2}, nil, true,
			[]any{map[string]any{"a": int64(1)}}}, Kwargs: map[string]any{"k": "v"}},
			Disclose: &Disclosed{AuthID: "alice", AuthRole: "browser"}},
		{Realm: "realm2", URI: "com.acme.z", Acknowledge: false, WAMPPayload: WAMPPayload{Args: []any{"x"}}},
	}
	for _, m := range wampCases {
		b, err := EncodeWAMP(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeRemote(b)
		if err != nil || got.WAMP == nil || got.MQTT != nil {
			t.Fatalf("%+v: %+v, %v", m, got, err)
		}
		if !reflect.DeepEqual(*got.WAMP, m) {
			t.Errorf("WAMP round trip:\n got %#v\nwant %#v", *got.WAMP, m)
		}
	}
	for _, bad := range [][]byte{nil, {1}, {2, 1}, {1, 3}, {1, 1, 0xff, 0}, {1, 1, 0, 0, 5, 'a'}, {1, 2, 4}, {1, 2, 8, 1, 'a', 0, 0, 0}, {1, 2, 4, 1, 'a', 0, 0, 0, 0}, {1, 2, 0, 1, 'a', 0, 0, 0, '['}} {
		if _, err := DecodeRemote(bad); err == nil {
			t.Errorf("DecodeRemote(%v) accepted", bad)
		}
	}
}

// FuzzWire: no input makes decoding panic, and what decodes encodes to
// bytes that decode to the same message.
func FuzzWire(f *testing.F) {
	f.Add(EncodeMQTT(MQTTMessage{Topic: "a/b", QoS: 1, V5: true, UserProperties: []UserProperty{{"k", "v"}},
		MQTTPayload: MQTTPayload{Payload: []byte("x")}}))
	b, _ := EncodeWAMP(WAMPMessage{URI: "a.b", WAMPPayload: WAMPPayload{Args: []any{int64(1), "x"}}})
	f.Add(b)
	f.Add([]byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRemote(b)
		if err != nil {
			return
		}
		var again []byte
		if r.MQTT != nil {
			again = EncodeMQTT(*r.MQTT)
		} else if again, err = EncodeWAMP(*r.WAMP); err != nil {
			t.Fatalf("decoded WAMP message does not encode: %v", err)
		}
		r2, err := DecodeRemote(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if r.MQTT != nil && !bytes.Equal(EncodeMQTT(*r2.MQTT), again) {
			t.Fatalf("MQTT message changed on a second trip")
		}
	})
}
