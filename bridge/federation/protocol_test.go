package federation

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
	"github.com/redis/go-redis/v9"
)

// A router written by hand, straight into Redis: its route changes reach a
// Link through the log; changes made without a log entry are found by the
// version backstop; a version gap in the log makes the Link reload the
// router's set; and when its heartbeat stops the Link drops it and removes
// its keys.
func TestRouteProtocol(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(single(srv), prefix, "a"))
	dumpOnFailure(t, a)
	cl := srv.Client()
	ctx := context.Background()
	k := a.keys
	const fake = "fake-000000000001"

	// Its heartbeat, until the test stops it.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			_ = cl.Eval(ctx, scriptHeartbeat, []string{k.nodes, k.epoch, k.ver, k.routeSet(fake)}, fake, "x").Err()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	stopped := false
	stopHeartbeat := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopHeartbeat()
	waitFor(t, 10*time.Second, "the fake router live", func() bool { return len(a.Nodes()) == 1 })

	write := func(mode string, expect int64, items ...any) {
		t.Helper()
		args := append([]any{fake, routeLogMaxLen, mode, expect}, items...)
		res, err := cl.Eval(ctx, scriptRoutes, []string{k.routeSet(fake), k.ver, k.routeLog}, args...).Slice()
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _, err := parseRoutesReply(res); err != nil || status != "ok" {
			t.Fatalf("routes script: %v %v", res, err)
		}
	}
	// Through the log.
	write("delta", 0, "+mqtt|one")
	waitFor(t, 10*time.Second, "the logged change", func() bool { return a.remoteRoutes(fake) == 1 })

	// Behind the log's back: only the version backstop can tell.
	if err := cl.SAdd(ctx, k.routeSet(fake), "mqtt|two").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.HIncrBy(ctx, k.ver, fake, 1).Err(); err != nil { // version 2
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the backstop finds the silent change", func() bool { return a.remoteRoutes(fake) == 2 })

	// A gap: version 3 is missing from the log, version 4 is there.
	if err := cl.SAdd(ctx, k.routeSet(fake), "mqtt|three", "mqtt|four").Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.HIncrBy(ctx, k.ver, fake, 2).Err(); err != nil { // version 4
		t.Fatal(err)
	}
	if err := cl.XAdd(ctx, &redis.XAddArgs{Stream: k.routeLog, Values: []any{"n", fake, "v", 4, "op", "add", "r", "mqtt|four"}}).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the gap makes a reload the fake router", func() bool { return a.remoteRoutes(fake) == 4 })
	if n := a.Publish(Message{Topic: "three", Body: []byte("x")}); n != 1 {
		t.Fatalf("the reloaded route does not route (%d)", n)
	}

	// Silence: dropped, and its keys removed.
	stopHeartbeat()
	waitFor(t, 10*time.Second, "the silent router dropped", func() bool { return a.remoteRoutes(fake) == 0 && len(a.Nodes()) == 0 })
	waitFor(t, 10*time.Second, "its keys removed", func() bool {
		n, err := cl.Exists(ctx, k.routeSet(fake)).Result()
		v, _ := cl.HExists(ctx, k.ver, fake).Result()
		return err == nil && n == 0 && !v
	})
}
