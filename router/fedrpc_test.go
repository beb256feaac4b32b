package router

// Cluster-wide RPC with routers in this process and Go clients (the nexus
// client, paho): every pairing of caller and callee protocols on different
// routers, results, errors, progressive results, cancellation, timeouts,
// uniqueness of single registrations, shared registrations across routers,
// a callee's router leaving. The routers as processes, with third-party
// clients and a router killed mid-call, are in fedrpc_external_test.go.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// waitCallable waits until procedure is callable from c (the route of the
// callee's router has reached c's router and its proxy registered).
func waitCallable(t testing.TB, c *client.Client, procedure string) {
	t.Helper()
	waitFor(t, 10*time.Second, procedure+" callable", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := c.Call(ctx, "wamp.registration.match", nil, nxwamp.List{procedure}, nil, nil)
		return err == nil && len(res.Arguments) > 0 && res.Arguments[0] != nil
	})
}

func callErr(err error) string {
	var rpcErr client.RPCError
	if errors.As(err, &rpcErr) && rpcErr.Err != nil {
		return string(rpcErr.Err.Error)
	}
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestClusterRPC(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)

	callee := connectWAMP(t, wsURL(b), serialize.MSGPACK)
	var gotCaller sync.Map
	if err := callee.Register("com.fed.add", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		x, _ := nxwamp.AsInt64(inv.Arguments[0])
		y, _ := nxwamp.AsInt64(inv.Arguments[1])
		if id, ok := inv.Details["caller_authrole"]; ok {
			gotCaller.Store("role", id)
		}
		return client.InvokeResult{Args: nxwamp.List{x + y}}
	}, nxwamp.Dict{"disclose_caller": true}); err != nil {
		t.Fatal(err)
	}
	if err := callee.Register("com.fed.fail", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Err: "com.fed.error.nope", Args: nxwamp.List{"no"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := callee.Register("com.fed.count", func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		n, _ := nxwamp.AsInt64(inv.Arguments[0])
		for i := range n {
			if err := callee.SendProgress(ctx, nxwamp.List{i}, nil); err != nil {
				return client.InvokeResult{Err: "com.fed.error.progress"}
			}
		}
		return client.InvokeResult{Args: nxwamp.List{"done"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	interrupted := make(chan struct{}, 1)
	if err := callee.Register("com.fed.hang", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		<-ctx.Done()
		interrupted <- struct{}{}
		return client.InvokeResult{Err: nxwamp.ErrCanceled}
	}, nil); err != nil {
		t.Fatal(err)
	}

	caller := connectWAMP(t, wsURL(a), serialize.JSON)
	waitCallable(t, caller, "com.fed.hang")

	t.Run("result", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		res, err := caller.Call(ctx, "com.fed.add", nil, nxwamp.List{2, 3}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 5 {
			t.Fatalf("com.fed.add(2, 3) = %v", res.Arguments)
		}
		// The registration discloses callers: the callee on B sees the
		// caller on A, not federation's session.
		if role, _ := gotCaller.Load("role"); role != "anonymous" {
			t.Fatalf("callee saw caller_authrole %v, want anonymous", role)
		}
	})
	t.Run("error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err := caller.Call(ctx, "com.fed.fail", nil, nil, nil, nil)
		var rpcErr client.RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Err.Error != "com.fed.error.nope" || fmt.Sprint(rpcErr.Err.Arguments) != "[no]" {
			t.Fatalf("com.fed.fail: %v", err)
		}
	})
	t.Run("progress", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		var got []int64
		res, err := caller.Call(ctx, "com.fed.count", nil, nxwamp.List{5}, nil, func(r *nxwamp.Result) {
			n, _ := nxwamp.AsInt64(r.Arguments[0])
			got = append(got, n)
		})
		if err != nil || fmt.Sprint(res.Arguments) != "[done]" || fmt.Sprint(got) != "[0 1 2 3 4]" {
			t.Fatalf("com.fed.count: %v %v, progress %v", res, err, got)
		}
	})
	t.Run("timeout interrupts the callee", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err := caller.Call(ctx, "com.fed.hang", nxwamp.Dict{"timeout": 200}, nil, nil, nil)
		if e := callErr(err); e != string(nxwamp.ErrTimeout) && e != string(nxwamp.ErrCanceled) {
			t.Fatalf("a call that timed out: %v", err)
		}
		recv(t, interrupted, wait, "the interrupt at the callee on B")
	})
	t.Run("cancel interrupts the callee", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := caller.Call(ctx, "com.fed.hang", nil, nil, nil, nil)
			done <- err
		}()
		time.AfterFunc(100*time.Millisecond, cancel)
		recv(t, interrupted, wait, "the interrupt at the callee on B")
		if err := recv(t, done, wait, "the canceled call"); err == nil {
			t.Fatal("a canceled call returned a result")
		}
	})
	t.Run("single registration is unique in the cluster", func(t *testing.T) {
		other := connectWAMP(t, wsURL(a), serialize.CBOR)
		err := other.Register("com.fed.add", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
			return client.InvokeResult{}
		}, nil)
		if err == nil || !strings.Contains(err.Error(), string(nxwamp.ErrProcedureAlreadyExists)) {
			t.Fatalf("REGISTER on A of a procedure B serves: %v", err)
		}
	})
	t.Run("no such procedure", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		_, err := caller.Call(ctx, "com.fed.nobody", nil, nil, nil, nil)
		if e := callErr(err); e != string(nxwamp.ErrNoSuchProcedure) {
			t.Fatalf("a call of an unregistered procedure: %v", err)
		}
	})
	if n := testutil.ToFloat64(a.metrics.fedRoutes); n < 4 {
		t.Errorf("A knows %v remote routes, want B's 4 procedures", n)
	}
}
