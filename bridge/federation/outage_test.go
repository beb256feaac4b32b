package federation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
	"github.com/redis/go-redis/v9"
)

// Redis is killed (SIGKILL) in the middle of a stream of reliable messages
// and restarted on the same port some seconds later, longer than
// NodeTimeout: without persistence it comes back empty, with it it comes
// back missing up to a second of writes. Either way every interested router
// gets every reliable message exactly once, in order, and Publish never
// waits meanwhile.
func TestRedisKilled(t *testing.T) {
	for _, aof := range []bool{false, true} {
		t.Run(fmt.Sprintf("appendonly=%v", aof), func(t *testing.T) {
			srv := fedtest.Start(t, fedtest.Options{AppendOnly: aof})
			prefix := uniquePrefix(t)
			a := startNode(t, testConfig(single(srv), prefix, "a"))
			b := startNode(t, testConfig(single(srv), prefix, "b"))
			c := startNode(t, testConfig(single(srv), prefix, "c"))
			waitUp(t, a, b, c)
			dumpOnFailure(t, a, b, c)
			b.AddRoute(mqtt("s/#"))
			c.AddRoute(wamp("prefix", "s."))
			waitRoutes(t, b, 1, a)
			waitRoutes(t, c, 1, a)

			const n = 2000
			var published atomic.Int64
			var slowest atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				begin := time.Now()
				for i := range n {
					// Pace the stream (2000 messages in 5s) so that it spans
					// the outage.
					time.Sleep(time.Until(begin.Add(time.Duration(i) * 2500 * time.Microsecond)))
					start := time.Now()
					if q := a.Publish(Message{Topic: "s/x", URI: "s.x", Reliable: true, Body: fmt.Appendf(nil, "a %d", i)}); q != 2 {
						t.Errorf("message %d queued for %d routers, want 2", i, q)
					}
					a.Publish(Message{Topic: "s/u", Body: []byte("u")})
					if d := time.Since(start); d > time.Duration(slowest.Load()) {
						slowest.Store(int64(d))
					}
					published.Add(1)
				}
			}()
			waitFor(t, 10*time.Second, "a third of the stream", func() bool { return published.Load() > n/3 })
			srv.Kill()
			killed := published.Load()
			waitFor(t, 10*time.Second, "the link to notice", func() bool { return !a.Up() })
			time.Sleep(a.cfg.NodeTimeout + 200*time.Millisecond) // the outage: longer than NodeTimeout
			srv.Restart()
			restarted := published.Load()
			t.Logf("Redis down from message %d to %d", killed, restarted)
			if restarted >= n-100 {
				t.Errorf("the stream ended during the outage (%d): it should span it", restarted)
			}
			<-done
			for _, r := range []*node{b, c} {
				waitFor(t, 30*time.Second, "the whole stream at "+r.cfg.NodeID, func() bool { return r.rec.count()-count(r.rec.messages(), "u") >= n })
				checkStreams(t, r.rec.messages(), map[string]int{"a": n})
			}
			if d := time.Duration(slowest.Load()); d > 100*time.Millisecond {
				t.Errorf("a Publish took %v", d)
			}
			waitUp(t, a, b, c)
			waitDrained(t, a)
			t.Logf("resent %d, duplicates %d+%d, unreliable dropped while down %d, delivered %d+%d",
				a.met.get("resent"), b.met.get("duplicates"), c.met.get("duplicates"), a.met.get("dropped_link_down"),
				count(b.rec.messages(), "u"), count(c.rec.messages(), "u"))
		})
	}
}

func count(msgs []string, s string) int {
	n := 0
	for _, m := range msgs {
		if m == s {
			n++
		}
	}
	return n
}

func TestNodeDeath(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	testNodeDeath(t, single(srv), srv.Client())
}

// testNodeDeath kills a router without deregistration: the others drop its
// routes within about NodeTimeout, stop targeting it, discard what they
// queued for it, and one of them removes its keys. A new router with the
// same NodeID then announces its routes and is served.
func testNodeDeath(t *testing.T, d deployment, cl redis.UniversalClient) {
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(d, prefix, "a"))
	b := startNode(t, testConfig(d, prefix, "b"))
	c := startNode(t, testConfig(d, prefix, "c"))
	waitUp(t, a, b, c)
	dumpOnFailure(t, a, b, c)
	b.AddRoute(mqtt("d/#"))
	waitRoutes(t, b, 1, a, c)

	killed := time.Now()
	b.kill(t)
	for i := range 10 {
		if a.Publish(Message{Topic: "d/x", Reliable: true, Body: fmt.Appendf(nil, "%d", i)}) != 1 {
			t.Fatal("b dropped before its death could be noticed")
		}
	}
	waitFor(t, 10*time.Second, "b dropped by a and c", func() bool {
		return a.remoteRoutes(b.ID()) == 0 && c.remoteRoutes(b.ID()) == 0 && !slices.Contains(a.Nodes(), b.ID())
	})
	took := time.Since(killed)
	t.Logf("b dropped %v after it died (NodeTimeout %v, Heartbeat %v)", took, a.cfg.NodeTimeout, a.cfg.Heartbeat)
	if limit := a.cfg.NodeTimeout + 5*a.cfg.Heartbeat; took > limit {
		t.Errorf("b dropped after %v, want within NodeTimeout plus a few heartbeats (%v)", took, limit)
	}
	if n := a.Publish(Message{Topic: "d/x", Reliable: true, Body: []byte("late")}); n != 0 {
		t.Errorf("Publish still targets the dead router (%d)", n)
	}
	if got := a.met.get("dropped_dead_node"); got != 10 {
		t.Errorf("dropped_dead_node = %d, want 10 (its spool)", got)
	}
	waitFor(t, 10*time.Second, "b's keys removed", func() bool {
		_, err := cl.ZScore(context.Background(), a.keys.nodes, b.ID()).Result()
		if !errors.Is(err, redis.Nil) {
			return false
		}
		for _, k := range []string{a.keys.routeSet(b.ID()), a.keys.inbox(b.ID())} {
			if n, err := cl.Exists(context.Background(), k).Result(); err != nil || n != 0 {
				return false
			}
		}
		return true
	})

	b2 := startNode(t, testConfig(d, prefix, "b"))
	b2.AddRoute(mqtt("d/#"))
	waitRoutes(t, b2, 1, a, c)
	if n := a.Publish(Message{Topic: "d/x", Reliable: true, Body: []byte("a 0")}); n != 1 {
		t.Fatalf("the new b is not targeted (%d)", n)
	}
	waitFor(t, 10*time.Second, "the new b served", func() bool { return b2.rec.count() == 1 })
}

// A router that finds itself removed from Redis (judged dead while it was
// only slow, or removed by hand) re-announces its routes by itself.
func TestRemovedRouterReannounces(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	waitUp(t, a, b)
	dumpOnFailure(t, a, b)
	b.AddRoute(mqtt("z/#"))
	b.AddRoute(mqtt("y"))
	waitRoutes(t, b, 2, a)
	// What another router does to a dead one: remove it, unconditionally.
	cl := srv.Client()
	if err := cl.Eval(context.Background(), scriptRemove, []string{a.keys.nodes, a.keys.ver, a.keys.routeSet(b.ID()), a.keys.routeLog},
		b.ID(), -1, routeLogMaxLen).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b back in a's table", func() bool {
		n, err := cl.SCard(context.Background(), a.keys.routeSet(b.ID())).Result()
		return err == nil && n == 2 && a.remoteRoutes(b.ID()) == 2
	})
	if n := a.Publish(Message{Topic: "z/1", Reliable: true, Body: []byte("after")}); n != 1 {
		t.Fatalf("b not targeted after re-announcing (%d)", n)
	}
	waitFor(t, 10*time.Second, "b served", func() bool { return slices.Contains(b.rec.messages(), "after") })
}

// Redis restarted empty: every router re-announces its routes, the route
// tables converge again, traffic resumes, and the retained store, which was
// lost, is reported cleared.
func TestRedisRestartedEmpty(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	waitUp(t, a, b)
	dumpOnFailure(t, a, b)
	a.AddRoute(wamp("exact", "to.a"))
	b.AddRoute(mqtt("to/b"))
	b.AddRoute(mqtt("also/b/#"))
	waitRoutes(t, a, 1, b)
	waitRoutes(t, b, 2, a)
	a.Retain("r", []byte("v"))
	waitFor(t, 10*time.Second, "retained r at b", func() bool { return b.rec.retainedState()["r"] == "v" })

	srv.Stop()
	srv.Restart()
	cl := srv.Client()
	waitFor(t, 10*time.Second, "routes re-announced in Redis", func() bool {
		na, err1 := cl.SCard(context.Background(), a.keys.routeSet(a.ID())).Result()
		nb, err2 := cl.SCard(context.Background(), a.keys.routeSet(b.ID())).Result()
		return err1 == nil && err2 == nil && na == 1 && nb == 2
	})
	waitUp(t, a, b)
	dumpOnFailure(t, a, b)
	waitRoutes(t, a, 1, b)
	waitRoutes(t, b, 2, a)
	waitFor(t, 10*time.Second, "retained r reported cleared", func() bool {
		_, ok := b.rec.retainedState()["r"]
		return !ok
	})
	a.Publish(Message{Topic: "also/b/1", Reliable: true, Body: []byte("a 0")})
	b.Publish(Message{URI: "to.a", Reliable: true, Body: []byte("b 0")})
	waitFor(t, 10*time.Second, "traffic both ways", func() bool {
		return slices.Contains(b.rec.messages(), "a 0") && slices.Contains(a.rec.messages(), "b 0")
	})
}

// While Redis is down, the spool holds at most SpoolMessages per destination
// and SpoolBytes in all: what does not fit is dropped (the new messages),
// counted, and the rest is delivered in order once Redis is back.
func TestSpoolOverflow(t *testing.T) {
	for _, c := range []struct {
		name       string
		messages   int
		bytes      int64
		wantQueued int
	}{
		{"messages", 100, 0, 100},
		{"bytes", 0, 1000, 10}, // bodies of 100 bytes
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := fedtest.Start(t, fedtest.Options{})
			prefix := uniquePrefix(t)
			cfg := testConfig(single(srv), prefix, "a")
			cfg.SpoolMessages, cfg.SpoolBytes = c.messages, c.bytes
			a := startNode(t, cfg)
			b := startNode(t, testConfig(single(srv), prefix, "b"))
			waitUp(t, a, b)
			dumpOnFailure(t, a, b)
			b.AddRoute(mqtt("o/#"))
			waitRoutes(t, b, 1, a)
			srv.Kill()
			waitFor(t, 10*time.Second, "the link to notice", func() bool { return !a.Up() })
			queued := 0
			for i := range 500 {
				body := fmt.Appendf(nil, "a %-98d", i)[:100]
				queued += a.Publish(Message{Topic: "o/1", Reliable: true, Body: body})
			}
			if queued != c.wantQueued || a.met.get("dropped_spool_full") != 500-c.wantQueued {
				t.Fatalf("queued %d, dropped %d; want %d queued", queued, a.met.get("dropped_spool_full"), c.wantQueued)
			}
			srv.Restart()
			waitFor(t, 30*time.Second, "the spool delivered", func() bool { return b.rec.count() >= c.wantQueued })
			msgs := b.rec.messages()
			for i := range msgs {
				msgs[i] = string(trimSpace([]byte(msgs[i])))
			}
			checkStreams(t, msgs, map[string]int{"a": c.wantQueued})
			waitDrained(t, a)
		})
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// Redis refusing a write for good (another program holds one of our keys
// with the wrong type) costs only what it refuses: the writer neither spins
// nor stops, and reliable messages to the refused inbox go through once the
// key is fixed.
func TestRefusedWrites(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	b := startNode(t, testConfig(single(srv), prefix, "b"))
	c := startNode(t, testConfig(single(srv), prefix, "c"))
	waitUp(t, a, b, c)
	dumpOnFailure(t, a, b, c)
	b.AddRoute(mqtt("r/#"))
	c.AddRoute(mqtt("r/#"))
	waitRoutes(t, b, 1, a)
	waitRoutes(t, c, 1, a)
	cl := srv.Client()
	ctx := context.Background()
	if err := cl.Del(ctx, a.keys.inbox(b.ID())).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, a.keys.inbox(b.ID()), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, a.keys.retained, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	a.Retain("refused", []byte("x"))
	for i := range 100 {
		a.Publish(Message{Topic: "r/1", Reliable: true, Body: fmt.Appendf(nil, "a %d", i)})
	}
	waitFor(t, 10*time.Second, "c served", func() bool { return c.rec.count() == 100 })
	waitFor(t, 10*time.Second, "the retained change dropped", func() bool { return a.met.get("dropped_send_failed") == 1 })
	if !a.Up() || a.sendFailing.Load() {
		t.Fatal("a refused write took the link down")
	}
	r0 := a.rounds.Load()
	time.Sleep(200 * time.Millisecond) // a spinning writer would run thousands of rounds
	if r := a.rounds.Load() - r0; r > 20 {
		t.Fatalf("the writer ran %d rounds in 200ms", r)
	}
	// Fixed: b's heartbeat recreates its inbox, a resends.
	if err := cl.Del(ctx, a.keys.inbox(b.ID()), a.keys.retained).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "b served", func() bool { return b.rec.count() == 100 })
	checkStreams(t, b.rec.messages(), map[string]int{"a": 100})
}
