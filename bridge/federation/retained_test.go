package federation

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

func TestRetained(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	testRetained(t, single(srv))
}

// testRetained checks the cluster-wide retained store: every router sees
// every change (its own included) in the same order; a cleared topic is
// reported with a nil body; a router started later loads the store and then
// follows the log.
func testRetained(t *testing.T, d deployment) {
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(d, prefix, "a"))
	b := startNode(t, testConfig(d, prefix, "b"))
	waitUp(t, a, b)
	dumpOnFailure(t, a, b)

	// Two writers at once: the log decides the order, the same for all.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 50 {
			b.Retain(fmt.Sprintf("b/%d", i%5), fmt.Appendf(nil, "b%d", i))
		}
	}()
	for i := range 50 {
		a.Retain(fmt.Sprintf("a/%d", i%5), fmt.Appendf(nil, "a%d", i))
	}
	<-done
	a.Retain("shared", []byte("first"))
	a.Retain("shared", []byte("second"))
	a.Retain("a/0", nil)
	a.Retain("empty", []byte{})
	const total = 104
	waitFor(t, 10*time.Second, "every change at a and b", func() bool {
		return len(a.rec.retainedEvents()) == total && len(b.rec.retainedEvents()) == total
	})
	if ea, eb := a.rec.retainedEvents(), b.rec.retainedEvents(); !slices.Equal(ea, eb) {
		t.Fatalf("a and b saw the changes in different orders:\n%v\n%v", ea, eb)
	}
	// Each writer's own changes keep their order.
	var lastA, lastB = -1, -1
	for _, e := range a.rec.retainedEvents() {
		var i int
		switch {
		case len(e.body) > 1 && e.body[0] == 'a':
			fmt.Sscan(e.body[1:], &i)
			if i <= lastA {
				t.Fatalf("a's change %d after %d", i, lastA)
			}
			lastA = i
		case len(e.body) > 1 && e.body[0] == 'b':
			fmt.Sscan(e.body[1:], &i)
			if i <= lastB {
				t.Fatalf("b's change %d after %d", i, lastB)
			}
			lastB = i
		}
	}
	want := map[string]string{"a/1": "a46", "a/2": "a47", "a/3": "a48", "a/4": "a49",
		"b/0": "b45", "b/1": "b46", "b/2": "b47", "b/3": "b48", "b/4": "b49", "shared": "second", "empty": ""}
	if got := a.rec.retainedState(); !maps.Equal(got, want) {
		t.Fatalf("retained state %v, want %v", got, want)
	}
	last := map[string]retainedEvent{}
	for _, e := range a.rec.retainedEvents() {
		last[e.topic] = e
	}
	if !last["a/0"].clear || last["empty"].clear {
		t.Fatalf("clear and empty body not told apart: %v %v", last["a/0"], last["empty"])
	}

	// A late router loads the store, then follows the log.
	c := startNode(t, testConfig(d, prefix, "c"))
	waitFor(t, 10*time.Second, "c's bootstrap", func() bool { return maps.Equal(c.rec.retainedState(), want) })
	if n := len(c.rec.retainedEvents()); n != len(want) {
		t.Errorf("bootstrap reported %d changes, want one per topic (%d)", n, len(want))
	}
	waitDrained(t, a, b)
	b.Retain("shared", []byte("third"))
	waitFor(t, 10*time.Second, "c follows the log", func() bool { return c.rec.retainedState()["shared"] == "third" })
}
