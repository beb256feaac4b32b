package federation

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary inbox entries to the frame decoder and the
// receiver: no input may panic, a frame that decodes re-encodes to one that
// decodes the same, and a frame that does not decode delivers nothing.
func FuzzDecode(f *testing.F) {
	var w frameWriter
	w.reset("origin-1", 3)
	w.add(3, []byte("hello"))
	w.add(0, nil)
	w.add(4, bytes.Repeat([]byte{0xff}, 300))
	good := w.finish()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add(append(good, 0))
	f.Add([]byte{frameVersion, 1, 'o', 0, 1, 1, 1, 'x'})
	f.Add([]byte{frameVersion, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{})
	f.Add([]byte("garbage"))

	r := newRecorder()
	l, err := New(Config{Addrs: []string{"127.0.0.1:1"}, NodeID: "fuzz", Logger: testLogger()}, r)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, recs, err := decodeFrame(b, nil)
		if err != nil {
			if len(recs) != 0 {
				t.Fatalf("a frame that does not decode returned %d records", len(recs))
			}
		} else {
			var w frameWriter
			w.reset(string(h.origin), h.floor)
			for _, rc := range recs {
				w.add(rc.seq, rc.body)
			}
			h2, recs2, err := decodeFrame(w.finish(), nil)
			if err != nil || !bytes.Equal(h2.origin, h.origin) || h2.floor != h.floor || len(recs2) != len(recs) {
				t.Fatalf("re-encoded frame decodes differently: %v", err)
			}
			for i := range recs {
				if recs2[i].seq != recs[i].seq || !bytes.Equal(recs2[i].body, recs[i].body) {
					t.Fatalf("record %d differs after re-encoding", i)
				}
			}
		}
		before := r.count()
		l.receive(map[string]any{"f": string(b)}, nil)
		if err != nil && r.count() != before {
			t.Fatal("a frame that does not decode delivered messages")
		}
	})
}

// FuzzParse feeds arbitrary values to the parsers of route rows and of the
// route and retained log entries.
func FuzzParse(f *testing.F) {
	f.Add("node-1", "3", "add", "mqtt|a/+/#", "t", "b", true)
	f.Add("node-1", "0", "bye", "wamp|prefix|com.", "", "", false)
	f.Add("", "-1", "reset", "wamp|exact|", "x", "", true)
	f.Add("n", "99999999999999999999", "del", "mqtt|$share/g/#", "t/1", "\x00", false)
	f.Fuzz(func(t *testing.T, node, ver, op, row, topic, body string, withBody bool) {
		if p, err := parseRow(row); err == nil && p.text == "" {
			t.Fatalf("row %q parsed to an empty pattern", row)
		}
		e, err := parseRouteEntry(map[string]any{"n": node, "v": ver, "op": op, "r": row})
		if err == nil && (e.node == "" || e.op != "bye" && e.ver <= 0) {
			t.Fatalf("accepted a route entry without node or version: %+v", e)
		}
		values := map[string]any{"n": ver, "t": topic}
		if withBody {
			values["b"] = body
		}
		if re, err := parseRetainedEntry(values); err == nil && (re.n <= 0 || re.topic == "" || withBody != (re.body != nil)) {
			t.Fatalf("bad retained entry accepted: %+v", re)
		}
		_, _ = parseHeartbeat([]any{ver, node, op, row, topic, []any{body, ver}})
		_, _, _ = parseSnapshot([]any{ver, []any{row, body}})
		_, _, _ = parseRetainedPosition([]any{node, ver})
	})
}
