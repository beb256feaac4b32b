package federation

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// counting is a Handler that counts deliveries and signals progress.
type counting struct {
	n        atomic.Int64
	progress chan struct{}
}

func (c *counting) Deliver([]byte) {
	c.n.Add(1)
	select {
	case c.progress <- struct{}{}:
	default:
	}
}

func (c *counting) Retained(string, []byte) {}

// BenchmarkLink publishes 64-byte messages through Redis from one Link to
// another in the same process (one local redis-server), at most window
// messages in flight, and reports the sustained rate (msg/s, from the first
// publish to the last delivery) and the Redis commands both links sent per
// message (heartbeats and acknowledgements included). Compare with the
// router's same-router publish benchmarks: cross-router is this path plus
// the receiving router's local delivery.
//
//	go test ./bridge/federation -run '^$' -bench BenchmarkLink -benchtime 200000x
func BenchmarkLink(b *testing.B) {
	srv := fedtest.Start(b, fedtest.Options{})
	for _, reliable := range []bool{false, true} {
		name := "qos0"
		if reliable {
			name = "reliable"
		}
		b.Run(name, func(b *testing.B) {
			prefix := uniquePrefix(b)
			cfg := func(id string) Config {
				c := testConfig(single(srv), prefix, id)
				c.Heartbeat, c.NodeTimeout = time.Second, 5*time.Second
				c.SpoolMessages = 1 << 20
				return c
			}
			pub := startNode(b, cfg("pub"))
			h := &counting{progress: make(chan struct{}, 1)}
			subCfg := cfg("sub")
			sub, err := New(subCfg, h)
			if err != nil {
				b.Fatal(err)
			}
			subCmds := newCmdCounter()
			sub.hooks = append(sub.hooks, subCmds)
			if err := sub.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			defer sub.Close(context.Background())
			waitFor(b, 10*time.Second, "link up", func() bool { return pub.Up() && sub.Up() && len(pub.Nodes()) == 1 })
			sub.AddRoute(mqtt("bench/#"))
			waitFor(b, 10*time.Second, "route", func() bool { return pub.remoteRoutes(sub.ID()) == 1 })

			const window = 50000
			body := make([]byte, 64)
			m := Message{Topic: "bench/x", Reliable: reliable, Body: body}
			cmds0 := pub.cmds.all() + subCmds.all()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				for int64(i)-h.n.Load() > window {
					select {
					case <-h.progress:
					case <-time.After(time.Second):
					}
				}
				if pub.Publish(m) != 1 {
					b.Fatalf("message %d not queued", i)
				}
			}
			deadline := time.Now().Add(60 * time.Second)
			for h.n.Load() < int64(b.N) {
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d messages delivered", h.n.Load(), b.N)
				}
				select {
				case <-h.progress:
				case <-time.After(10 * time.Millisecond):
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			cmds := pub.cmds.all() + subCmds.all() - cmds0
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
			b.ReportMetric(float64(cmds)/float64(b.N), "redis-cmds/msg")
			if d := pub.met.get("dropped_send_failed") + pub.met.get("dropped_spool_full"); d > 0 {
				b.Fatalf("%d messages dropped", d)
			}
		})
	}
}

// BenchmarkLinkLatency sends one reliable message at a time from one Link
// to another through Redis and waits for it: ns/op is the cross-router
// latency at rest (writer wake-up, XADD, the reader's blocking XREAD).
func BenchmarkLinkLatency(b *testing.B) {
	srv := fedtest.Start(b, fedtest.Options{})
	prefix := uniquePrefix(b)
	cfg := func(id string) Config {
		c := testConfig(single(srv), prefix, id)
		c.Heartbeat, c.NodeTimeout = time.Second, 5*time.Second
		return c
	}
	pub := startNode(b, cfg("pub"))
	h := &counting{progress: make(chan struct{}, 1)}
	sub, err := New(cfg("sub"), h)
	if err != nil {
		b.Fatal(err)
	}
	if err := sub.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer sub.Close(context.Background())
	waitFor(b, 10*time.Second, "link up", func() bool { return pub.Up() && sub.Up() && len(pub.Nodes()) == 1 })
	sub.AddRoute(mqtt("lat/#"))
	waitFor(b, 10*time.Second, "route", func() bool { return pub.remoteRoutes(sub.ID()) == 1 })
	m := Message{Topic: "lat/x", Reliable: true, Body: make([]byte, 64)}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pub.Publish(m)
		for h.n.Load() <= int64(i) {
			select {
			case <-h.progress:
			case <-time.After(time.Second):
				b.Fatalf("message %d not delivered within 1s", i)
			}
		}
	}
}

// BenchmarkPublishNoInterest is the cost Publish adds to every local
// publish that no other router wants (routes of other topics exist).
func BenchmarkPublishNoInterest(b *testing.B) {
	l, x := benchIndex(b)
	m := Message{Topic: "devices/42/telemetry/temp", URI: "devices.42.telemetry.temp", Body: []byte("21.5")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if l.Publish(m) != 0 {
			b.Fatal("matched")
		}
	}
	_ = x
}

// BenchmarkMatch is the route lookup of a publish against 10 routers'
// 1000 MQTT and WAMP routes each, one of which matches.
func BenchmarkMatch(b *testing.B) {
	_, x := benchIndex(b)
	set := make([]uint64, x.words())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(set)
		x.match("devices/7/cmd", "devices.7.cmd", set)
	}
	if set[0] == 0 {
		b.Fatal("no match")
	}
}

// benchIndex returns a Link (not started) whose index holds 10 routers with
// 1000 routes each, as a fleet of devices would make: per-device command
// topics, some wildcards, WAMP exact, prefix and wildcard URIs.
func benchIndex(b *testing.B) (*Link, *index) {
	l, err := New(Config{Addrs: []string{"127.0.0.1:1"}, NodeID: "bench", Logger: testLogger()}, newRecorder())
	if err != nil {
		b.Fatal(err)
	}
	x := l.idx
	for node := range 10 {
		slot := x.allocSlot(newDest(fmt.Sprint(node), "", 0))
		for i := range 1000 {
			dev := node*1000 + i
			for _, r := range []Route{mqtt(fmt.Sprintf("devices/%d/cmd", dev))} {
				row, _ := r.row()
				p, _ := parseRow(row)
				x.update(slot, p, true)
			}
			if i%100 == 0 {
				for _, r := range []Route{mqtt(fmt.Sprintf("fleet/%d/+/status", dev)), wamp("prefix", fmt.Sprintf("app.%d.", dev)),
					wamp("wildcard", fmt.Sprintf("app..%d", dev)), wamp("exact", fmt.Sprintf("devices.%d.cmd", dev))} {
					row, _ := r.row()
					p, _ := parseRow(row)
					x.update(slot, p, true)
				}
			}
		}
	}
	return l, x
}
