package federation

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

func TestNewRejectsBadConfig(t *testing.T) {
	ok := Config{Addrs: []string{"127.0.0.1:6379"}, NodeID: "n"}
	for _, c := range []struct {
		name  string
		edit  func(*Config)
		field string // named in the error
	}{
		{"no address", func(c *Config) { c.Addrs = nil }, "Addrs"},
		{"two addresses, single Redis", func(c *Config) { c.Addrs = []string{"a:1", "b:2"} }, "Addrs"},
		{"not host:port", func(c *Config) { c.Addrs = []string{"localhost"} }, "Addrs[0]"},
		{"cluster and sentinel", func(c *Config) { c.Cluster, c.SentinelMaster = true, "m" }, "SentinelMaster"},
		{"cluster database", func(c *Config) { c.Cluster, c.DB = true, 2 }, "DB"},
		{"sentinel password without sentinel", func(c *Config) { c.SentinelPassword = "x" }, "SentinelPassword"},
		{"negative database", func(c *Config) { c.DB = -1 }, "DB"},
		{"brace in prefix", func(c *Config) { c.KeyPrefix = "a{b}" }, "KeyPrefix"},
		{"bad node id", func(c *Config) { c.NodeID = "a b" }, "NodeID"},
		{"long node id", func(c *Config) { c.NodeID = strings.Repeat("x", 65) }, "NodeID"},
		{"tiny heartbeat", func(c *Config) { c.Heartbeat = time.Microsecond }, "Heartbeat"},
		{"node timeout below two heartbeats", func(c *Config) { c.Heartbeat, c.NodeTimeout = time.Second, 1500*time.Millisecond }, "NodeTimeout"},
		{"negative spool", func(c *Config) { c.SpoolMessages = -1 }, "SpoolMessages"},
		{"negative spool bytes", func(c *Config) { c.SpoolBytes = -1 }, "SpoolBytes"},
		{"negative inbox length", func(c *Config) { c.InboxMaxLen = -1 }, "InboxMaxLen"},
		{"negative resend", func(c *Config) { c.ResendAfter = -time.Second }, "ResendAfter"},
	} {
		cfg := ok
		c.edit(&cfg)
		_, err := New(cfg, newRecorder())
		if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.field)
		}
	}
	if _, err := New(ok, nil); err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "Handler") {
		t.Errorf("nil handler: %v", err)
	}
	// Several bad fields are all named.
	_, err := New(Config{KeyPrefix: "{", SpoolMessages: -1}, newRecorder())
	for _, f := range []string{"Addrs", "KeyPrefix", "SpoolMessages"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("error %v does not name %s", err, f)
		}
	}
}

func TestNewDefaults(t *testing.T) {
	l, err := New(Config{Addrs: []string{"127.0.0.1:6379"}}, newRecorder())
	if err != nil {
		t.Fatal(err)
	}
	c := l.cfg
	if c.KeyPrefix != DefaultKeyPrefix || c.Heartbeat != DefaultHeartbeat || c.NodeTimeout != DefaultNodeTimeout ||
		c.SpoolMessages != DefaultSpoolMessages || c.SpoolBytes != DefaultSpoolBytes || c.InboxMaxLen != DefaultInboxMaxLen ||
		c.ResendAfter != DefaultResendAfter || c.Logger == nil || c.Metrics == nil || c.NodeID == "" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if err := checkNodeID(c.NodeID); err != nil {
		t.Fatalf("default NodeID %q: %v", c.NodeID, err)
	}
	if !strings.HasPrefix(l.ID(), c.NodeID+"-") {
		t.Fatalf("incarnation %q does not start with the node ID", l.ID())
	}
	if l2, _ := New(Config{Addrs: []string{"127.0.0.1:6379"}}, newRecorder()); l2.ID() == l.ID() {
		t.Fatal("two links share an incarnation")
	}
	if got := sanitizeNodeID("web 1.example.com"); got != "web_1.example.com" {
		t.Fatalf("sanitizeNodeID: %q", got)
	}
}

// Start succeeds with Redis down, the link connects when Redis appears, and
// Start, Close and Close again behave.
func TestLifecycle(t *testing.T) {
	// A port with nothing behind it yet.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	cfg := testConfig(deployment{addrs: []string{addr}}, uniquePrefix(t), "a")
	n := startNode(t, cfg)
	if err := n.Start(context.Background()); err == nil {
		t.Fatal("a second Start succeeded")
	}
	n.AddRoute(mqtt("early/#")) // queued until Redis is there
	n.Retain("early", []byte("x"))
	waitFor(t, 10*time.Second, "three heartbeat attempts", func() bool { return n.cmds.get("eval") >= 3 })
	if n.Up() {
		t.Fatal("up without Redis")
	}

	_, port, _ := net.SplitHostPort(addr)
	srv := fedtest.StartOn(t, port, fedtest.Options{})
	waitFor(t, 10*time.Second, "up once Redis is there", n.Up)
	waitFor(t, 10*time.Second, "the early route and retained change written", func() bool {
		rows, err := srv.Client().SMembers(context.Background(), n.keys.routeSet(n.ID())).Result()
		return err == nil && len(rows) == 1 && n.rec.retainedState()["early"] == "x"
	})

	ctx := context.Background()
	if err := n.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(ctx); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if n.Up() || n.Publish(Message{Topic: "early/1", Body: []byte("x")}) != 0 {
		t.Fatal("a closed link is up or publishes")
	}
	if err := n.Start(ctx); err == nil {
		t.Fatal("Start after Close succeeded")
	}
	if ok, _ := srv.Client().Exists(ctx, n.keys.routeSet(n.ID()), n.keys.inbox(n.ID())).Result(); ok != 0 {
		t.Fatal("Close left the router's keys in Redis")
	}

	// Close of a link never started.
	l, _ := New(cfg, newRecorder())
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
