package fedtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// SentinelMaster is the name StartSentinel monitors the primary under.
const SentinelMaster = "fedtest"

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) that
// monitors primary as SentinelMaster with a quorum of one, and waits until it
// reports the primary's address. A client configured with the sentinel's
// address and that master name reaches the primary through it.
func StartSentinel(t testing.TB, primary *Server) *Server {
	t.Helper()
	Require(t)
	s := &Server{t: t, dir: t.TempDir()}
	s.conf = filepath.Join(s.dir, "sentinel.conf")
	conf := fmt.Sprintf("bind 127.0.0.1\ndir %s\nlogfile sentinel.log\n"+
		"sentinel monitor %s 127.0.0.1 %d 1\nsentinel down-after-milliseconds %[2]s 1000\nsentinel failover-timeout %[2]s 3000\n",
		s.dir, SentinelMaster, primary.Port())
	if err := os.WriteFile(s.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = []string{"--sentinel"}
	t.Cleanup(s.Kill)
	s.startOnFreePort(false)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		v, err := s.Do("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SentinelMaster)
		if a, ok := v.([]any); err == nil && ok && len(a) == 2 && fmt.Sprint(a[1]) == fmt.Sprint(primary.Port()) {
			return s
		}
		select {
		case <-ctx.Done():
			t.Fatalf("fedtest: sentinel does not report the primary: %v %v: %s", v, err, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
