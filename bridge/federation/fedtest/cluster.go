package fedtest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a Redis Cluster of three primaries and three replicas.
type Cluster struct {
	// Nodes are the six servers; which are primaries is Redis' choice
	// (redis-cli makes the first three primaries at creation).
	Nodes []*Server
}

// StartCluster starts six cluster-enabled redis-servers, joins them with
// `redis-cli --cluster create --cluster-replicas 1`, and waits until every
// node reports cluster_state:ok with all slots assigned and every node
// known, and every replica is in sync with its primary (so that it can take
// over when a test kills the primary: the cluster node timeout is 2s). It
// fails the test if that takes more than 30 seconds.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	Require(t)
	c := &Cluster{}
	for range 6 {
		s := &Server{t: t, dir: t.TempDir()}
		s.args = []string{"--bind", "127.0.0.1", "--dir", s.dir, "--logfile", "redis.log", "--daemonize", "no",
			"--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
			// Replicas sync at once (the default waits 5s): a replica that
			// never synced refuses to take over from a dead primary.
			"--repl-diskless-sync-delay", "0"}
		t.Cleanup(s.Kill)
		s.startOnFreePort(true)
		c.Nodes = append(c.Nodes, s)
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("fedtest: redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.waitOK(ctx); err != nil {
		t.Fatalf("fedtest: cluster not ready: %v", err)
	}
	return c
}

// Addrs are the nodes' addresses: seeds for a cluster client.
func (c *Cluster) Addrs() []string {
	a := make([]string, len(c.Nodes))
	for i, s := range c.Nodes {
		a[i] = s.Addr()
	}
	return a
}

// waitOK waits until every node sees a healthy cluster of all six nodes.
func (c *Cluster) waitOK(ctx context.Context) error {
	var last string
	for {
		ok := true
		for _, s := range c.Nodes {
			info, err := s.Do("CLUSTER", "INFO")
			text, _ := info.(string)
			if err != nil || !strings.Contains(text, "cluster_state:ok") ||
				!strings.Contains(text, "cluster_slots_ok:16384") || !strings.Contains(text, "cluster_known_nodes:6") {
				ok = false
				last = fmt.Sprintf("%s: %v %s", s.Addr(), err, text)
				break
			}
			info, err = s.Do("INFO", "replication")
			text, _ = info.(string)
			if err != nil || strings.Contains(text, "role:slave") && !strings.Contains(text, "master_link_status:up") {
				ok = false
				last = fmt.Sprintf("%s: %v %s", s.Addr(), err, text)
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w; last seen: %s", ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Client returns a go-redis cluster client, closed when the test ends.
func (c *Cluster) Client(t testing.TB) *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs(), DisableIdentity: true})
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}
