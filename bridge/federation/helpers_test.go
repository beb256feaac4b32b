package federation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain fails the run if goroutines outlive the tests. go-redis probes
// an unreachable node once a second until its client is closed, so after a
// test that killed a node that goroutine takes up to a second to notice the
// Close: the check waits up to 5s for goroutines to end (none is ignored).
func TestMain(m *testing.M) {
	redis.SetLogger(NewRedisLogger(testLogger())) // the test binary is the program here
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			err := goleak.Find()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintln(os.Stderr, "goleak: goroutines outlived the tests:", err)
				code = 1
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	os.Exit(code)
}

// recorder is a Handler that records what arrives, in order.
type recorder struct {
	mu       sync.Mutex
	msgs     []string
	from     []string                       // the origin of each message
	rows     map[string]map[string]struct{} // RowWatcher: other routers' RPC rows
	gone     []string                       // NodeWatcher
	retained []retainedEvent
	changed  chan struct{} // signalled (non-blocking) on every event
}

type retainedEvent struct {
	topic string
	body  string
	clear bool
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}, 1), rows: map[string]map[string]struct{}{}}
}

func (r *recorder) Deliver(body []byte) { r.DeliverFrom("", body) }

func (r *recorder) DeliverFrom(origin string, body []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(body))
	r.from = append(r.from, origin)
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) RemoteRows(node string, added, removed []string) {
	r.mu.Lock()
	set := r.rows[node]
	if set == nil {
		set = map[string]struct{}{}
		r.rows[node] = set
	}
	for _, s := range added {
		set[s] = struct{}{}
	}
	for _, s := range removed {
		delete(set, s)
	}
	if len(set) == 0 {
		delete(r.rows, node)
	}
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) NodeGone(node string) {
	r.mu.Lock()
	r.gone = append(r.gone, node)
	r.mu.Unlock()
	r.signal()
}

// rowsOf is what the recorder was told of node's RPC rows, sorted.
func (r *recorder) rowsOf(node string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.rows[node]))
}

func (r *recorder) goneNodes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.gone...)
}

func (r *recorder) Retained(topic string, body []byte) {
	r.mu.Lock()
	r.retained = append(r.retained, retainedEvent{topic: topic, body: string(body), clear: body == nil})
	r.mu.Unlock()
	r.signal()
}

func (r *recorder) signal() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.msgs...)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

func (r *recorder) retainedEvents() []retainedEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]retainedEvent(nil), r.retained...)
}

// retainedState is the retained store as the Handler sees it.
func (r *recorder) retainedState() map[string]string {
	st := map[string]string{}
	for _, e := range r.retainedEvents() {
		if e.clear {
			delete(st, e.topic)
		} else {
			st[e.topic] = e.body
		}
	}
	return st
}

// counters is a Metrics that counts.
type counters struct {
	mu sync.Mutex
	n  map[string]int
	up atomic.Bool
}

func newCounters() *counters { return &counters{n: map[string]int{}} }

func (c *counters) add(k string, n int) {
	c.mu.Lock()
	c.n[k] += n
	c.mu.Unlock()
}

func (c *counters) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

func (c *counters) get(k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}

func (c *counters) Sent(n int)                   { c.add("sent", n) }
func (c *counters) Received(n int)               { c.add("received", n) }
func (c *counters) Duplicates(n int)             { c.add("duplicates", n) }
func (c *counters) Dropped(reason string, n int) { c.add("dropped_"+reason, n) }
func (c *counters) Resent(n int)                 { c.add("resent", n) }
func (c *counters) LinkUp(up bool)               { c.up.Store(up) }
func (c *counters) RemoteNodes(n int)            {}
func (c *counters) RemoteRoutes(n int)           {}
func (c *counters) SpoolDepth(int, int64)        {}

// cmdCounter is a go-redis hook counting commands by name, and separately
// those the flusher sends (the data plane).
type cmdCounter struct {
	mu    sync.Mutex
	names map[string]int
	data  int
	total int
}

func newCmdCounter() *cmdCounter { return &cmdCounter{names: map[string]int{}} }

func (h *cmdCounter) count(ctx context.Context, cmds ...redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range cmds {
		h.names[c.Name()]++
		h.total++
		if ctx.Value(planeKey{}) != nil {
			h.data++
		}
	}
}

func (h *cmdCounter) get(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.names[name]
}

func (h *cmdCounter) dataCmds() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.data
}

func (h *cmdCounter) all() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

func (h *cmdCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *cmdCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.count(ctx, cmd)
		return next(ctx, cmd)
	}
}

func (h *cmdCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.count(ctx, cmds...)
		return next(ctx, cmds)
	}
}

// node is a Link under test with its handler, metrics and command counter.
type node struct {
	*Link
	rec  *recorder
	met  *counters
	cmds *cmdCounter
}

// deployment is how the links under test reach Redis.
type deployment struct {
	addrs   []string
	cluster bool
	master  string // Sentinel
}

func single(s *fedtest.Server) deployment     { return deployment{addrs: []string{s.Addr()}} }
func clustered(c *fedtest.Cluster) deployment { return deployment{addrs: c.Addrs(), cluster: true} }
func sentinel(s *fedtest.Server) deployment {
	return deployment{addrs: []string{s.Addr()}, master: fedtest.SentinelMaster}
}

// testConfig is a Config with short timings for tests.
func testConfig(d deployment, prefix, id string) Config {
	return Config{
		Addrs:          d.addrs,
		Cluster:        d.cluster,
		SentinelMaster: d.master,
		KeyPrefix:      prefix,
		NodeID:         id,
		Heartbeat:      100 * time.Millisecond,
		// Short enough for death tests, long enough that a loaded machine
		// running -race never starves a live link's heartbeats that long.
		NodeTimeout: 2 * time.Second,
		ResendAfter: 400 * time.Millisecond,
		Logger:      testLogger(),
	}
}

// testLogger logs to stderr with FED_LOG=debug|info, else nowhere.
func testLogger() *slog.Logger {
	var w io.Writer = io.Discard
	level := slog.LevelInfo
	switch os.Getenv("FED_LOG") {
	case "debug":
		w, level = os.Stderr, slog.LevelDebug
	case "info":
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// startNode starts a link with cfg (its Metrics replaced by counters) and
// closes it when the test ends.
func startNode(t testing.TB, cfg Config) *node {
	t.Helper()
	n := &node{rec: newRecorder(), met: newCounters(), cmds: newCmdCounter()}
	cfg.Metrics = n.met
	l, err := New(cfg, n.rec)
	if err != nil {
		t.Fatal(err)
	}
	l.hooks = append(l.hooks, n.cmds)
	n.Link = l
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Close(ctx)
	})
	return n
}

// kill stops the link's loops as a crash would: nothing is flushed and
// nothing removed from Redis.
func (n *node) kill(t testing.TB) {
	t.Helper()
	if err := n.stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUp waits until every node is up and knows every other one.
func waitUp(t testing.TB, nodes ...*node) {
	t.Helper()
	waitFor(t, 10*time.Second, "links up and seeing each other", func() bool {
		for _, n := range nodes {
			if !n.Up() || len(n.Nodes()) < len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

// remoteRoutes returns how many rows of inc the node's table holds.
func (n *node) remoteRoutes(inc string) int {
	n.tmu.Lock()
	defer n.tmu.Unlock()
	if r := n.nodes[inc]; r != nil {
		return len(r.rows)
	}
	return 0
}

// waitRoutes waits until every observer holds want rows of from.
func waitRoutes(t testing.TB, from *node, want int, observers ...*node) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d routes of %s", want, from.ID()), func() bool {
		for _, o := range observers {
			if o == from {
				continue
			}
			if o.remoteRoutes(from.ID()) != want {
				return false
			}
		}
		return true
	})
}

// waitDrained waits until the nodes' spools are empty: everything written
// and acknowledged, and the byte accounting back to zero.
func waitDrained(t testing.TB, nodes ...*node) {
	t.Helper()
	waitFor(t, 10*time.Second, "spools drained", func() bool {
		for _, n := range nodes {
			if n.budget.count.Load() != 0 || n.budget.used.Load() != 0 {
				return false
			}
		}
		return true
	})
}

// state describes a link for a failing test's log.
func (n *node) state() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s up=%v nodes=%v spool=%d/%dB counters=%v\n", n.ID(), n.Up(), n.Nodes(),
		n.budget.count.Load(), n.budget.used.Load(), n.met.snapshot())
	n.idx.mu.RLock()
	for _, d := range n.idx.dests {
		if d == nil {
			continue
		}
		d.mu.Lock()
		front := uint64(0)
		if d.rel.len() > 0 {
			front = d.rel.front().seq
		}
		fmt.Fprintf(&b, "  to %s: unacked from %d, next %d, last %d, unreliable %d, dead %v\n", d.inc, front, d.next, d.lastSeq, len(d.unrel), d.dead)
		d.mu.Unlock()
	}
	n.idx.mu.RUnlock()
	n.recvMu.Lock()
	for inc, o := range n.origins {
		fmt.Fprintf(&b, "  from %s: next %d, acked %d, dirty %v\n", inc, o.next, o.acked, o.dirty)
	}
	n.recvMu.Unlock()
	return b.String()
}

// dumpOnFailure logs the nodes' state at the end of a failed test.
func dumpOnFailure(t testing.TB, nodes ...*node) {
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Log(n.state())
			}
		}
	})
}

// uniquePrefix gives each test its own key space on a shared server.
func uniquePrefix(t testing.TB) string {
	return "t" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
}
