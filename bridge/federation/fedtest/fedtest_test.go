package fedtest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestServerKillRestart(t *testing.T) {
	for _, aof := range []bool{false, true} {
		s := Start(t, Options{AppendOnly: aof, Fsync: "always"})
		if _, err := s.Do("SET", "k", "v"); err != nil {
			t.Fatal(err)
		}
		s.Kill()
		if s.Running() {
			t.Fatal("running after Kill")
		}
		if _, err := s.Do("PING"); err == nil {
			t.Fatal("PING answered after Kill")
		}
		s.Restart()
		v, err := s.Do("GET", "k")
		if aof && v != "v" || !aof && err == nil {
			t.Fatalf("appendonly %v: GET after restart: %v %v", aof, v, err)
		}
		s.Stop()
		s.Restart()
	}
}

func TestCluster(t *testing.T) {
	start := time.Now()
	c := StartCluster(t)
	t.Logf("cluster ready in %v", time.Since(start))
	cl := c.Client(t)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c", "{x}1", "{y}2"} {
		if err := cl.Set(ctx, k, k, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var masters atomic.Int32
	err := cl.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		masters.Add(1)
		return nil
	})
	if err != nil || masters.Load() != 3 {
		t.Fatalf("%d masters (%v)", masters.Load(), err)
	}
}

func TestSentinel(t *testing.T) {
	p := Start(t, Options{})
	s := StartSentinel(t, p)
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: SentinelMaster, SentinelAddrs: []string{s.Addr()}, DisableIdentity: true})
	defer c.Close()
	if err := c.Set(context.Background(), "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := p.Do("GET", "k"); err != nil || v != "v" {
		t.Fatalf("the write did not reach the primary: %v %v", v, err)
	}
}
