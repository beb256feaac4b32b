package federation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// The core scenarios on a Redis Cluster of three primaries and three
// replicas, and a primary killed mid-stream (its replica takes over).
func TestCluster(t *testing.T) {
	c := fedtest.StartCluster(t)
	d := clustered(c)
	t.Run("routing", func(t *testing.T) { testInterestRouting(t, d) })
	t.Run("reliable", func(t *testing.T) { testReliableOrderDedup(t, d) })
	t.Run("retained", func(t *testing.T) { testRetained(t, d) })
	t.Run("death", func(t *testing.T) { testNodeDeath(t, d, c.Client(t)) })
	t.Run("failover", func(t *testing.T) { testFailover(t, c) })
}

// testFailover kills (SIGKILL) the primary holding a receiver's inbox while
// reliable messages stream to it. Until a replica is promoted the cluster
// refuses commands; replication is asynchronous, so the new primary may miss
// the last writes. The receiver still gets every message once, in order.
func testFailover(t *testing.T, c *fedtest.Cluster) {
	prefix := uniquePrefix(t)
	a := startNode(t, testConfig(clustered(c), prefix, "a"))
	b := startNode(t, testConfig(clustered(c), prefix, "b"))
	waitUp(t, a, b)
	dumpOnFailure(t, a, b)
	b.AddRoute(mqtt("f/#"))
	waitRoutes(t, b, 1, a)

	cl := c.Client(t)
	primary, err := cl.MasterForKey(context.Background(), a.keys.inbox(b.ID()))
	if err != nil {
		t.Fatal(err)
	}
	var victim *fedtest.Server
	for _, s := range c.Nodes {
		if s.Addr() == primary.Options().Addr {
			victim = s
		}
	}
	if victim == nil {
		t.Fatalf("primary %s of b's inbox is not a cluster node", primary.Options().Addr)
	}

	const n = 1000
	var published atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		begin := time.Now()
		for i := range n {
			time.Sleep(time.Until(begin.Add(time.Duration(i) * 4 * time.Millisecond)))
			if q := a.Publish(Message{Topic: "f/x", Reliable: true, Body: fmt.Appendf(nil, "a %d", i)}); q != 1 {
				t.Errorf("message %d queued for %d routers", i, q)
			}
			published.Add(1)
		}
	}()
	waitFor(t, 10*time.Second, "a quarter of the stream", func() bool { return published.Load() > n/4 })
	victim.Kill()
	t.Logf("primary %s killed at message %d", victim.Addr(), published.Load())
	<-done
	waitFor(t, 60*time.Second, "the whole stream", func() bool { return b.rec.count() >= n })
	checkStreams(t, b.rec.messages(), map[string]int{"a": n})
	t.Logf("resent %d, duplicates %d", a.met.get("resent"), b.met.get("duplicates"))
}

// The core scenarios through Redis Sentinel (one primary, one sentinel).
func TestSentinel(t *testing.T) {
	p := fedtest.Start(t, fedtest.Options{})
	d := sentinel(fedtest.StartSentinel(t, p))
	t.Run("routing", func(t *testing.T) { testInterestRouting(t, d) })
	t.Run("retained", func(t *testing.T) { testRetained(t, d) })
	t.Run("death", func(t *testing.T) { testNodeDeath(t, d, p.Client()) })
}
