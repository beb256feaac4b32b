package bridge

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/topic"
)

func TestRPCWireRoundTrip(t *testing.T) {
	cases := []rpcWire{
		{op: rpcOpCall, id: 1, realm: "realm1", procedure: "com.acme.add", timeout: 1500 * time.Millisecond,
			receiveProgress: true, discloseMe: true, caller: &Disclosed{AuthID: "alice", AuthRole: "user"},
			WAMPPayload: WAMPPayload{Args: []any{int64(2), "x"}, Kwargs: map[string]any{"k": true}}},
		{op: rpcOpCall, id: 1 << 40, realm: "r|2", procedure: "p"},
		{op: rpcOpProgress, id: 7, WAMPPayload: WAMPPayload{Args: []any{int64(1)}}},
		{op: rpcOpResult, id: 7},
		{op: rpcOpError, id: 8, err: "com.acme.error.nope", WAMPPayload: WAMPPayload{Args: []any{"no"}}},
		{op: rpcOpCancel, id: 9},
	}
	for _, m := range cases {
		b, err := encodeRPC(m)
		if err != nil {
			t.Fatal(err)
		}
		if wireKind(b) != wireRPC {
			t.Fatalf("kind %d", wireKind(b))
		}
		got, err := decodeRPC(b)
		if err != nil {
			t.Fatalf("%+v: %v", m, err)
		}
		if describeRPC(got) != describeRPC(m) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
		}
	}
	for _, bad := range [][]byte{
		nil, {1}, {1, 3}, {1, 3, 9, 1}, {1, 3, rpcOpCall, 1, 0, 0, 0, 0}, // no realm
		{1, 3, rpcOpError, 1, 0}, {1, 3, rpcOpCancel, 1, '['}, {2, 3, rpcOpResult, 1},
		{1, 3, rpcOpCall, 1, 0xf0, 0, 1, 'r', 1, 'p', 0, 0},
	} {
		if m, err := decodeRPC(bad); err == nil {
			t.Errorf("decodeRPC(%v) = %+v, want an error", bad, m)
		}
	}
}

func TestProcRowRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		k procKey
		i procInfo
	}{
		{procKey{"realm1", "com.acme.add", topic.MatchExact}, procInfo{"single", false}},
		{procKey{"a|b%7C", "x|y%", topic.MatchPrefix}, procInfo{"roundrobin", true}},
		{procKey{"r", "a..c", topic.MatchWildcard}, procInfo{"last", false}},
	} {
		row := procRow(tc.k, tc.i)
		k, i, err := parseProcRow(row)
		if err != nil || !reflect.DeepEqual(k, tc.k) || i != tc.i {
			t.Fatalf("%q: %+v %+v %v", row, k, i, err)
		}
	}
	for _, bad := range []string{"", "r|exact|single|-", "r|exact|single|x|u", "r|fuzzy|single|-|u", "r|exact|sometimes|-|u", "|exact|single|-|u"} {
		if _, _, err := parseProcRow(bad); err == nil {
			t.Errorf("parseProcRow(%q) accepted", bad)
		}
	}
}

// FuzzRPCWire: what another router sends as an RPC message never panics the
// decoder, and what decodes encodes and decodes to the same.
func FuzzRPCWire(f *testing.F) {
	b, _ := encodeRPC(rpcWire{op: rpcOpCall, id: 3, realm: "realm1", procedure: "a.b", caller: &Disclosed{AuthID: "x"},
		WAMPPayload: WAMPPayload{Args: []any{int64(1)}}})
	f.Add(b)
	b, _ = encodeRPC(rpcWire{op: rpcOpError, id: 3, err: "e.r"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeRPC(b)
		if err != nil {
			return
		}
		again, err := encodeRPC(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		m2, err := decodeRPC(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if describeRPC(m) != describeRPC(m2) {
			t.Fatalf("changed on a second trip: %+v vs %+v", m, m2)
		}
	})
}

func describeRPC(m rpcWire) string {
	c := m.caller
	m.caller = nil
	if c != nil {
		return fmt.Sprintf("%+v caller %+v", m, *c)
	}
	return fmt.Sprintf("%+v", m)
}
