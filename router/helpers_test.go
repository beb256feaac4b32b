package router

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/junctionmq/junction/bridge/federation"
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(connsServerEnv); kind != "" {
		os.Exit(connsServerMain(kind)) // a server for BenchmarkIdleConnections
	}
	// go-redis logs through one process-wide logger (failed dials while a
	// test has Redis down): into slog, rate-limited, and here discarded.
	redis.SetLogger(federation.NewRedisLogger(slog.New(slog.DiscardHandler)))
	goleak.VerifyTestMain(m,
		// Started by nexus and mochi per process, not per router.
		goleak.IgnoreTopFunction("github.com/gammazero/nexus/v3/router.(*realm).run"),
	)
}

// startRouter starts a router with the default config on 127.0.0.1:0 ports,
// changed by mutate, and shuts it down when the test ends. Logs go to the
// test log at debug level when JUNCTION_TEST_LOG is set.
func startRouter(t testing.TB, mutate func(*Config)) *Router {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.MQTT.Listen = "127.0.0.1:0"
	cfg.Shutdown.DrainTimeout = Duration(5 * time.Second)
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatalf("router.New: %v", err)
	}
	if err := r.Start(); err != nil {
		t.Fatalf("router.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil && !strings.Contains(err.Error(), "already shut down") {
			t.Errorf("shutdown: %v", err)
		}
	})
	return r
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("JUNCTION_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// wsURL is the router's WebSocket endpoint.
func wsURL(r *Router) string { return "ws://" + r.HTTPAddr().String() + r.cfg.HTTP.WSPath }

// mqttAddr is host:port of the dedicated MQTT listener.
func mqttAddr(r *Router) string { return r.MQTTAddr().String() }

// httpAddr is host:port of the universal port.
func httpAddr(r *Router) string { return r.HTTPAddr().String() }

// waitFor polls cond until it holds or the deadline passes. Use it only for
// state with no event to wait on (metrics, counters); wait on channels otherwise.
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

// recv waits for a value on ch or fails the test after d.
func recv[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
	var zero T
	return zero
}
