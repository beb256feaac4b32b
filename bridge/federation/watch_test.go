package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// RPC rows are replicated to every other router's RowWatcher and never
// matched against publications; SendTo reaches one router by incarnation,
// in order, naming the origin; a router that dies is reported gone with
// its rows removed.
func TestRowsSendToAndNodeGone(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	c := startNode(t, testConfig(single(srv), prefix, "c"))
	waitUp(t, a, b, c)

	b.AddRoute(Route{Proto: ProtoRPC, Filter: "realm1|exact|single|com.example.add"})
	b.AddRoute(Route{Proto: ProtoRPC, Filter: "realm1|prefix|roundrobin|com.example."})
	want := []string{"realm1|exact|single|com.example.add", "realm1|prefix|roundrobin|com.example."}
	for _, n := range []*node{a, c} {
		waitFor(t, 5*time.Second, "b's RPC rows at "+n.ID(), func() bool { return slices.Equal(n.rec.rowsOf(b.ID()), want) })
	}
	// Not a publication route.
	if a.Wants("com.example.add", "com.example.add") || a.Publish(Message{URI: "com.example.add", Body: []byte("x")}) != 0 {
		t.Fatal("an RPC row matched a publication")
	}
	b.RemoveRoute(Route{Proto: ProtoRPC, Filter: "realm1|exact|single|com.example.add"})
	waitFor(t, 5*time.Second, "a row removed", func() bool { return slices.Equal(a.rec.rowsOf(b.ID()), want[1:]) })

	// SendTo: c has no routes at all and still gets a's messages, in order,
	// with a as their origin.
	for i := range 50 {
		if !a.SendTo(c.ID(), []byte(fmt.Sprint(i)), i%2 == 0) {
			t.Fatalf("SendTo %d refused", i)
		}
	}
	waitFor(t, 5*time.Second, "50 messages at c", func() bool { return c.rec.count() == 50 })
	c.rec.mu.Lock()
	for i, from := range c.rec.from {
		if from != a.ID() {
			t.Errorf("message %d from %q, want %q", i, from, a.ID())
		}
	}
	c.rec.mu.Unlock()
	if a.SendTo(a.ID(), []byte("x"), true) {
		t.Fatal("SendTo to itself accepted")
	}
	// A name no router has: accepted (it may be a router that has not
	// heartbeat yet), then dropped as a dead router when it never does.
	if !a.SendTo("nobody-123", []byte("x"), true) {
		t.Fatal("SendTo to a router not seen yet refused")
	}
	waitFor(t, 10*time.Second, "nobody-123 judged gone", func() bool { return slices.Contains(a.rec.goneNodes(), "nobody-123") })

	// b dies: a and c are told, its rows removed first.
	b.kill(t)
	for _, n := range []*node{a, c} {
		waitFor(t, 10*time.Second, "b gone at "+n.ID(), func() bool { return slices.Contains(n.rec.goneNodes(), b.ID()) })
		if rows := n.rec.rowsOf(b.ID()); len(rows) != 0 {
			t.Fatalf("%s still has b's rows %v", n.ID(), rows)
		}
	}
	if a.SendTo(b.ID(), []byte("x"), true) {
		t.Fatal("SendTo to a dead router accepted")
	}
	// c left with Close: a is told at once (no timeout).
	start := time.Now()
	closeCtx := t.Context()
	if err := c.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "c gone at a", func() bool { return slices.Contains(a.rec.goneNodes(), c.ID()) })
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("a left router was reported gone after %v", d)
	}
	if n := len(a.rec.goneNodes()); n != 3 {
		t.Errorf("a was told of %d gone routers, want 3 (nobody, b, c): %v", n, a.rec.goneNodes())
	}
}

// A claim is held by one live router: another gets ErrClaimed until the
// holder releases it or dies (its heartbeat older than NodeTimeout).
func TestClaims(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	waitUp(t, a, b)
	ctx := t.Context()
	if err := a.Claim(ctx, "realm1|com.acme.add"); err != nil {
		t.Fatal(err)
	}
	if err := a.Claim(ctx, "realm1|com.acme.add"); err != nil {
		t.Fatalf("the holder claims again: %v", err)
	}
	if err := b.Claim(ctx, "realm1|com.acme.add"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("b claimed what a holds: %v", err)
	}
	if err := b.Release(ctx, "realm1|com.acme.add"); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "realm1|com.acme.add"); !errors.Is(err, ErrClaimed) {
		t.Fatalf("b's release freed a's claim: %v", err)
	}
	if err := a.Release(ctx, "realm1|com.acme.add"); err != nil {
		t.Fatal(err)
	}
	if err := b.Claim(ctx, "realm1|com.acme.add"); err != nil {
		t.Fatalf("after a released: %v", err)
	}
	if err := a.Claim(ctx, "realm1|x"); err != nil {
		t.Fatal(err)
	}
	a.kill(t)
	waitFor(t, 10*time.Second, "a's claim lapsed", func() bool { return b.Claim(ctx, "realm1|x") == nil })
}

// A router may claim before its first heartbeat reaches Redis (it has just
// started): its claim holds for twice NodeTimeout on its own, and only then
// depends on the heartbeat. A holder that never heartbeats loses it after.
func TestClaimBeforeFirstHeartbeat(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	waitUp(t, b)
	rc := srv.Client()
	defer rc.Close()
	key := newKeys(prefix).claims()
	ctx := t.Context()
	var now int64
	for _, tc := range []struct {
		name  string
		value func() string
		taken bool
	}{
		{"fresh claim of a router not yet in nodes", func() string { return fmt.Sprintf("ghost-1 %d", now) }, false},
		{"stale claim of a router not in nodes", func() string { return fmt.Sprintf("ghost-2 %d", now-time.Minute.Milliseconds()) }, true},
		{"claim written without a time (older routers)", func() string { return "ghost-3" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := rc.Time(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			now = tm.UnixMilli()
			name := "realm1|" + tc.name
			if err := rc.HSet(ctx, key, name, tc.value()).Err(); err != nil {
				t.Fatal(err)
			}
			err = b.Claim(ctx, name)
			if tc.taken && err != nil {
				t.Fatalf("b could not take a lapsed claim: %v", err)
			}
			if !tc.taken && !errors.Is(err, ErrClaimed) {
				t.Fatalf("b took a claim made a moment ago: %v", err)
			}
		})
	}
}

// NodeAlive answers from Redis now: a router that has left is not alive
// even while the others' views (IsLive, as of their last heartbeat) may
// still list it; a router that crashed is alive until NodeTimeout.
func TestNodeAlive(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	c := startNode(t, testConfig(single(srv), prefix, "c"))
	waitUp(t, a, b, c)
	ctx := context.Background()
	for _, n := range []string{b.ID(), c.ID(), a.ID()} {
		if alive, err := a.NodeAlive(ctx, n); err != nil || !alive {
			t.Fatalf("NodeAlive(%s) = %v, %v; want true", n, alive, err)
		}
	}
	if alive, err := a.NodeAlive(ctx, "nobody-123"); err != nil || alive {
		t.Fatalf("NodeAlive of an unknown router = %v, %v", alive, err)
	}
	bID := b.ID()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if alive, err := a.NodeAlive(ctx, bID); err != nil || alive {
		t.Fatalf("NodeAlive of a router that left = %v, %v; want false at once", alive, err)
	}
	c.kill(t) // a crash: its heartbeat stays until NodeTimeout
	if alive, err := a.NodeAlive(ctx, c.ID()); err != nil || !alive {
		t.Fatalf("NodeAlive of a router that just crashed = %v, %v; want true until NodeTimeout", alive, err)
	}
	waitFor(t, 10*time.Second, "the crashed router judged dead in Redis", func() bool {
		alive, err := a.NodeAlive(ctx, c.ID())
		return err == nil && !alive
	})
}
