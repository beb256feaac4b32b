package federation

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// frameOf encodes a frame for receive.
func frameOf(origin string, floor uint64, recs ...record) map[string]any {
	var w frameWriter
	w.reset(origin, floor)
	for _, r := range recs {
		w.add(r.seq, r.body)
	}
	return map[string]any{"f": string(w.finish())}
}

func rec(seq uint64, body string) record { return record{seq: seq, body: []byte(body)} }

// The receiver's rules, without Redis: in-sequence reliable messages are
// delivered once, duplicates and early ones are dropped, and a floor above
// the expected seq skips what the sender no longer has.
func TestReceiveDedup(t *testing.T) {
	r, met := newRecorder(), newCounters()
	l, err := New(Config{Addrs: []string{"127.0.0.1:1"}, NodeID: "r", Metrics: met, Logger: testLogger()}, r)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		entry     map[string]any
		delivered []string // cumulative
		next      uint64   // of origin "o"
	}{
		{frameOf("o", 1, rec(1, "a"), rec(2, "b")), []string{"a", "b"}, 3},
		{frameOf("o", 1, rec(1, "a"), rec(2, "b"), rec(3, "c")), []string{"a", "b", "c"}, 4}, // a resend: 1, 2 are duplicates
		{frameOf("o", 4, rec(5, "e")), []string{"a", "b", "c"}, 4},                           // 4 missing: wait for it
		{frameOf("o", 4, rec(0, "u")), []string{"a", "b", "c", "u"}, 4},                      // unreliable: always
		{frameOf("o", 4, rec(4, "d"), rec(5, "e")), []string{"a", "b", "c", "u", "d", "e"}, 6},
		{frameOf("o", 9, rec(9, "i"), rec(10, "j")), []string{"a", "b", "c", "u", "d", "e", "i", "j"}, 11}, // 6..8 discarded by the sender
		{frameOf("p", 1, rec(1, "p1")), []string{"a", "b", "c", "u", "d", "e", "i", "j", "p1"}, 11},        // another origin has its own numbering
		{map[string]any{"f": "garbage"}, []string{"a", "b", "c", "u", "d", "e", "i", "j", "p1"}, 11},
		{map[string]any{"x": "y"}, []string{"a", "b", "c", "u", "d", "e", "i", "j", "p1"}, 11},
	}
	var recs []record
	for i, s := range steps {
		recs = l.receive(s.entry, recs)
		if got := r.messages(); !slices.Equal(got, s.delivered) {
			t.Fatalf("step %d: delivered %q, want %q", i, got, s.delivered)
		}
		if o := l.origins["o"]; o.next != s.next {
			t.Fatalf("step %d: next %d, want %d", i, o.next, s.next)
		}
	}
	for k, want := range map[string]int{"duplicates": 2, "dropped_gap": 1, "dropped_lost": 3, "dropped_bad_entry": 2, "received": 9} {
		if got := met.get(k); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
	if !l.origins["o"].dirty {
		t.Error("acknowledgement not marked for writing")
	}
}

func TestReliableOrderDedup(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	testReliableOrderDedup(t, single(srv))
}

// testReliableOrderDedup sends reliable messages (and unreliable ones) from
// two origins to two receivers with a ResendAfter so short that the senders
// resend while acknowledgements are under way: each receiver gets every
// reliable message exactly once and in its origin's order.
func testReliableOrderDedup(t *testing.T, d deployment) {
	prefix := uniquePrefix(t)
	cfg := func(id string) Config {
		c := testConfig(d, prefix, id)
		c.ResendAfter = 20 * time.Millisecond
		return c
	}
	a, b := startNode(t, cfg("a")), startNode(t, cfg("b"))
	r1, r2 := startNode(t, cfg("r1")), startNode(t, cfg("r2"))
	waitUp(t, a, b, r1, r2)
	dumpOnFailure(t, a, b, r1, r2)
	r1.AddRoute(mqtt("data/#"))
	r2.AddRoute(wamp("prefix", "data."))
	waitRoutes(t, r1, 1, a, b)
	waitRoutes(t, r2, 1, a, b)

	const n = 2000
	done := make(chan struct{})
	for _, src := range []*node{a, b} {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range n {
				body := []byte(fmt.Sprintf("%s %d", src.cfg.NodeID, i))
				if q := src.Publish(Message{Topic: "data/x", URI: "data.x", Reliable: true, Body: body}); q != 2 {
					t.Errorf("%s: message %d queued for %d routers", src.cfg.NodeID, i, q)
					return
				}
				if i%3 == 0 {
					src.Publish(Message{Topic: "data/u", Body: []byte("u")})
				}
			}
		}()
	}
	<-done
	<-done
	for _, r := range []*node{r1, r2} {
		waitFor(t, 30*time.Second, "every reliable message at "+r.cfg.NodeID, func() bool {
			c := 0
			for _, m := range r.rec.messages() {
				if m != "u" {
					c++
				}
			}
			return c >= 2*n
		})
		checkStreams(t, r.rec.messages(), map[string]int{"a": n, "b": n})
	}
	waitDrained(t, a, b)
	resent := a.met.get("resent") + b.met.get("resent")
	dups := r1.met.get("duplicates") + r2.met.get("duplicates")
	t.Logf("resent %d, duplicates dropped %d", resent, dups)
	if resent == 0 || dups == 0 {
		t.Errorf("the test did not exercise deduplication: resent %d, duplicates %d", resent, dups)
	}
}

// checkStreams checks that msgs (bodies "<origin> <i>", other bodies
// ignored) hold, for each origin, exactly 0..want-1 in order.
func checkStreams(t *testing.T, msgs []string, want map[string]int) {
	t.Helper()
	next := map[string]int{}
	for _, m := range msgs {
		var origin string
		var i int
		if _, err := fmt.Sscanf(m, "%s %d", &origin, &i); err != nil {
			continue
		}
		if _, ok := want[origin]; !ok {
			continue
		}
		if i != next[origin] {
			t.Fatalf("from %s: message %d after %d (want each once, in order)", origin, i, next[origin]-1)
		}
		next[origin]++
	}
	for origin, n := range want {
		if next[origin] != n {
			t.Fatalf("from %s: %d messages, want %d", origin, next[origin], n)
		}
	}
}
