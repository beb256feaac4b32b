package federation

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

func TestInterestRouting(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	testInterestRouting(t, single(srv))
}

// testInterestRouting checks that routes reach the other routers, that a
// message goes to exactly the routers with a matching route (MQTT and WAMP
// rules), that a withdrawn route stops traffic, and that a publish without
// remote interest sends no Redis command at all.
func testInterestRouting(t *testing.T, dp deployment) {
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(dp, prefix, "a"))
	b := startNode(t, testConfig(dp, prefix, "b"))
	c := startNode(t, testConfig(dp, prefix, "c"))
	d := startNode(t, testConfig(dp, prefix, "d"))
	waitUp(t, a, b, c, d)
	dumpOnFailure(t, a, b, c, d)

	routes := map[*node][]Route{
		b: {mqtt("sensors/+/temp"), mqtt("$share/g/alerts/#"), wamp("exact", "fence.b")},
		c: {mqtt("#"), wamp("prefix", "com.app."), wamp("exact", "fence.c")},
		d: {wamp("exact", "com.app.x"), wamp("wildcard", "com..y"), mqtt("$SYS/#"), wamp("exact", "fence.d")},
	}
	for n, rs := range routes {
		for _, r := range rs {
			n.AddRoute(r)
		}
	}
	for n, rs := range routes {
		waitRoutes(t, n, len(rs), a, b, c, d)
	}

	cases := []struct {
		name       string
		topic, uri string
		to         []*node
	}{
		{"plus", "sensors/1/temp", "", []*node{b, c}},
		{"plus-miss", "sensors/1/hum", "", []*node{c}},
		{"hash-parent", "alerts", "", []*node{c}},       // b's is a shared group: not a route (share.go)
		{"hash-child", "alerts/fire/3", "", []*node{c}}, // likewise
		{"dollar", "$SYS/load", "", []*node{d}},
		{"dollar-miss", "$other", "", nil},
		{"exact-and-prefix", "", "com.app.x", []*node{c, d}},
		{"prefix", "", "com.app.zz", []*node{c}},
		{"prefix-short", "", "com.app", nil},
		{"wildcard", "", "com.zzz.y", []*node{d}},
		{"wildcard-depth", "", "com.a.b.y", nil},
		{"both", "sensors/2/temp", "com.q.y", []*node{b, c, d}},
	}
	want := map[*node][]string{}
	for i, cs := range cases {
		body := fmt.Sprintf("%s-%d", cs.name, i)
		n := a.Publish(Message{Topic: cs.topic, URI: cs.uri, Reliable: true, Body: []byte(body)})
		if n != len(cs.to) {
			t.Errorf("%s: queued for %d routers, want %d", cs.name, n, len(cs.to))
		}
		for _, to := range cs.to {
			want[to] = append(want[to], body)
		}
	}
	// A fence per router: reliable messages of one origin arrive in order,
	// so once it is there, everything before it is too.
	for _, n := range []*node{b, c, d} {
		fence := "fence." + n.cfg.NodeID
		if a.Publish(Message{URI: fence, Reliable: true, Body: []byte(fence)}) != 1 {
			t.Fatalf("fence %s not queued", fence)
		}
		want[n] = append(want[n], fence)
	}
	for _, n := range []*node{b, c, d} {
		waitFor(t, 10*time.Second, "fence at "+n.cfg.NodeID, func() bool { return n.rec.count() >= len(want[n]) })
		if got := n.rec.messages(); !slices.Equal(got, want[n]) {
			t.Errorf("%s received %q, want %q", n.cfg.NodeID, got, want[n])
		}
	}

	// A withdrawn route stops traffic; the others keep theirs.
	b.RemoveRoute(mqtt("sensors/+/temp"))
	waitRoutes(t, b, len(routes[b])-1, a)
	if n := a.Publish(Message{Topic: "sensors/1/temp", Body: []byte("x")}); n != 1 {
		t.Fatalf("after withdrawal: queued for %d routers, want 1 (c)", n)
	}

	// Without remote interest, Publish sends nothing to Redis.
	for n, rs := range routes {
		for _, r := range rs {
			n.RemoveRoute(r)
		}
	}
	for n := range routes {
		waitRoutes(t, n, 0, a)
	}
	waitDrained(t, a) // everything acknowledged: no acks to poll
	r0, xadd0, data0 := a.rounds.Load(), a.cmds.get("xadd"), a.cmds.dataCmds()
	for i := range 1000 {
		for _, cs := range cases {
			if n := a.Publish(Message{Topic: cs.topic, URI: cs.uri, Reliable: i%2 == 0, Body: []byte("x")}); n != 0 {
				t.Fatalf("%s: queued for %d routers without any route", cs.name, n)
			}
		}
	}
	a.kick()
	waitFor(t, 5*time.Second, "two flusher rounds", func() bool { return a.rounds.Load() >= r0+2 })
	if x, d := a.cmds.get("xadd"), a.cmds.dataCmds(); x != xadd0 || d != data0 {
		t.Fatalf("publishes without interest sent Redis commands: xadd %d→%d, data plane %d→%d", xadd0, x, data0, d)
	}
}

// TestWantsAgreesWithPublish: Wants says yes exactly when Publish would
// queue the message for some router.
func TestWantsAgreesWithPublish(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	waitUp(t, a, b)
	b.AddRoute(mqtt("w/+/x"))
	b.AddRoute(wamp("prefix", "w."))
	waitFor(t, 10*time.Second, "a to know b's routes", func() bool { return a.Wants("w/1/x", "") && a.Wants("", "w.z") })
	for _, tc := range []struct{ topic, uri string }{
		{"w/1/x", ""}, {"w/1/y", ""}, {"", "w.z"}, {"", "v.z"}, {"other", "w.1"}, {"w", "w"}, {"", ""},
	} {
		want := a.Publish(Message{Topic: tc.topic, URI: tc.uri, Body: []byte("x")}) > 0
		if got := a.Wants(tc.topic, tc.uri); got != want {
			t.Errorf("Wants(%q, %q) = %v, Publish queued for %v", tc.topic, tc.uri, got, want)
		}
	}
}
