package federation

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// returner is a recorder that also records what Returned gives back.
type returner struct {
	*recorder
	rmu      sync.Mutex
	returned map[string][]string
}

func (r *returner) Returned(node string, bodies [][]byte) {
	r.rmu.Lock()
	for _, b := range bodies {
		r.returned[node] = append(r.returned[node], string(b))
	}
	r.rmu.Unlock()
	r.signal()
}

func (r *returner) returnedOf(node string) []string {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	return append([]string(nil), r.returned[node]...)
}

func startReturner(t *testing.T, cfg Config) (*node, *returner) {
	t.Helper()
	rec := &returner{recorder: newRecorder(), returned: map[string][]string{}}
	n := &node{rec: rec.recorder, met: newCounters(), cmds: newCmdCounter()}
	cfg.Metrics = n.met
	l, err := New(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	n.Link = l
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Close(ctx)
	})
	return n, rec
}

// Shared subscription rows are not routes: Publish and Wants ignore them,
// SharedGroups tells which routers have members of each group matching a
// topic, and a router that dies leaves the groups and gives back the
// reliable messages it never acknowledged.
func TestSharedGroups(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a, ra := startReturner(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	c := startNode(t, testConfig(single(srv), prefix, "c"))
	waitUp(t, a, b, c)

	b.AddRoute(Route{Proto: ProtoMQTT, Filter: "$share/g/s/+/temp"})
	b.AddRoute(Route{Proto: ProtoMQTT, Filter: "s/#"})
	c.AddRoute(Route{Proto: ProtoMQTT, Filter: "$share/g/s/+/temp"})
	c.AddRoute(Route{Proto: ProtoMQTT, Filter: "$share/h/s/#"})
	c.AddRoute(Route{Proto: ProtoMQTT, Filter: "$share/h/t/#"})
	c.AddRoute(Route{Proto: ProtoMQTT, Filter: "$share/all/#"})
	waitRoutes(t, b, 2, a)
	waitRoutes(t, c, 4, a)

	sorted := func(s ...string) []string { slices.Sort(s); return s }
	for _, tc := range []struct {
		topic string
		want  []SharedGroup
	}{
		{"s/1/temp", []SharedGroup{
			{"$share/all/#", []string{c.ID()}},
			{"$share/g/s/+/temp", sorted(b.ID(), c.ID())},
			{"$share/h/s/#", []string{c.ID()}},
		}},
		{"s", []SharedGroup{{"$share/all/#", []string{c.ID()}}, {"$share/h/s/#", []string{c.ID()}}}},
		{"t/x", []SharedGroup{{"$share/all/#", []string{c.ID()}}, {"$share/h/t/#", []string{c.ID()}}}},
		{"$SYS/x", nil},
		{"", nil},
	} {
		got := a.SharedGroups(tc.topic)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("SharedGroups(%q) = %v, want %v", tc.topic, got, tc.want)
		}
	}
	if got, want := a.SharedMembers("$share/g/s/+/temp"), sorted(b.ID(), c.ID()); !slices.Equal(got, want) {
		t.Errorf("SharedMembers = %v, want %v", got, want)
	}
	if a.SharedMembers("$share/nobody/x") != nil {
		t.Error("SharedMembers of an unknown group")
	}
	// Shared rows are not interest: t/x reaches nobody, s/1/temp only b
	// (its ordinary s/#).
	if a.Wants("t/x", "") || a.Publish(Message{Topic: "t/x", Body: []byte("x")}) != 0 {
		t.Error("a shared row drew an ordinary publication")
	}
	if n := a.Publish(Message{Topic: "s/1/temp", Body: []byte("x")}); n != 1 {
		t.Errorf("s/1/temp went to %d routers, want 1 (b)", n)
	}

	// A member leaves: the group shrinks.
	b.RemoveRoute(Route{Proto: ProtoMQTT, Filter: "$share/g/s/+/temp"})
	waitRoutes(t, b, 1, a)
	if got := a.SharedMembers("$share/g/s/+/temp"); !slices.Equal(got, []string{c.ID()}) {
		t.Errorf("after b left the group: %v", got)
	}

	// c dies with reliable messages a queued for it unacknowledged: they
	// come back to a's Returner, the unreliable ones do not, and c leaves
	// every group.
	c.kill(t)
	var want []string
	for i := range 20 {
		body := fmt.Sprintf("m%d", i)
		if !a.SendTo(c.ID(), []byte(body), i%4 != 3) {
			t.Fatalf("SendTo %d refused", i)
		}
		if i%4 != 3 {
			want = append(want, body)
		}
	}
	waitFor(t, 10*time.Second, "c gone at a", func() bool { return slices.Contains(a.rec.goneNodes(), c.ID()) })
	if got := ra.returnedOf(c.ID()); !slices.Equal(got, want) {
		t.Errorf("returned %v, want %v", got, want)
	}
	if got := a.SharedGroups("s/1/temp"); got != nil {
		t.Errorf("groups of a dead router still listed: %v", got)
	}
}
