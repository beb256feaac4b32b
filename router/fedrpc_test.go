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

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
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
		if err != nil || len(res.Arguments) == 0 {
			return false
		}
		id, _ := nxwamp.AsID(res.Arguments[0])
		return id != 0
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

// TestClusterRPCPairings: each pairing of caller and callee protocols, on
// different routers, both ways through the proxies: WAMP → MQTT, MQTT →
// WAMP, MQTT → MQTT (WAMP → WAMP is TestClusterRPC).
func TestClusterRPCPairings(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)

	// Callees on B: an MQTT 3.1.1 device (envelope), a WAMP client.
	startV3Device(t, mqttAddr(b), "lamp-b", "$rpc/com/fed/lamp/+", func(inv map[string]any) []map[string]any {
		return []map[string]any{{"correlation": inv["correlation"], "args": []any{"lamp", inv["procedure"], inv["args"].([]any)[0]}}}
	})
	wcallee := connectWAMP(t, wsURL(b), serialize.JSON)
	if err := wcallee.Register("com.fed.wamp.echo", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: append(nxwamp.List{"wamp"}, inv.Arguments...)}
	}, nil); err != nil {
		t.Fatal(err)
	}
	wcaller := connectWAMP(t, wsURL(a), serialize.MSGPACK)
	waitCallable(t, wcaller, "com.fed.lamp.x")
	waitCallable(t, wcaller, "com.fed.wamp.echo")
	mcaller := rpcCaller(t, a, "phone-a")

	t.Run("WAMP to MQTT", func(t *testing.T) {
		res, err := wcaller.Call(callCtx(t), "com.fed.lamp.kitchen", nil, nxwamp.List{"on"}, nil, nil)
		if err != nil || fmt.Sprint(res.Arguments) != "[lamp com.fed.lamp.kitchen on]" {
			t.Fatalf("%v %v", res, err)
		}
	})
	t.Run("MQTT to WAMP", func(t *testing.T) {
		mcaller.call(t, "com.fed.wamp.echo", "replies/phone-a", "c1", []byte(`"hi"`), 1)
		if got := mcaller.reply(t); got.payload != `{"args":["wamp","hi"]}` || got.correlation != "c1" || got.qos != 1 {
			t.Fatalf("reply %+v", got)
		}
	})
	t.Run("MQTT to MQTT", func(t *testing.T) {
		mcaller.call(t, "com.fed.lamp.hall", "replies/phone-a", "c2", []byte(`"off"`), 1)
		if got := mcaller.reply(t); got.payload != `{"args":["lamp","com.fed.lamp.hall","off"]}` || got.correlation != "c2" {
			t.Fatalf("reply %+v", got)
		}
	})
}

// TestClusterRPCShared: a shared registration spans three routers; a router
// without a callee of its own spreads its calls over the routers that have
// one, a router with one keeps its calls local; a callee's router that
// leaves fails its calls in flight at once and stops being called.
func TestClusterRPCShared(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	c := startFederated(t, url, "c", nil)

	var mu sync.Mutex
	served := map[string]int{}
	hold := make(chan struct{})
	register := func(r *Router, name string) *client.Client {
		cl := connectWAMP(t, wsURL(r), serialize.JSON)
		if err := cl.Register("com.fed.pool", func(ctx context.Context, inv *nxwamp.Invocation) client.InvokeResult {
			mu.Lock()
			served[name]++
			mu.Unlock()
			if name == "c1" && len(inv.Arguments) > 0 && inv.Arguments[0] == "hold" {
				select {
				case <-hold:
				case <-ctx.Done():
				}
			}
			return client.InvokeResult{Args: nxwamp.List{name}}
		}, nxwamp.Dict{"invoke": "roundrobin"}); err != nil {
			t.Fatal(err)
		}
		return cl
	}
	register(b, "b1")
	register(b, "b2")
	register(c, "c1")
	caller := connectWAMP(t, wsURL(a), serialize.JSON)
	waitFor(t, 10*time.Second, "both routers' callees reachable from A", func() bool {
		res, err := caller.Call(callCtx(t), "com.fed.pool", nil, nil, nil, nil)
		return err == nil && res.Arguments[0] == "c1"
	})
	mu.Lock()
	clear(served)
	mu.Unlock()
	for range 40 {
		if _, err := caller.Call(callCtx(t), "com.fed.pool", nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	// Round robin over the routers (B, C), then over B's callees.
	if served["c1"] != 20 || served["b1"] != 10 || served["b2"] != 10 {
		t.Errorf("calls from A served %v, want c1 20, b1 10, b2 10", served)
	}
	clear(served)
	mu.Unlock()

	// C calls: it has a callee of its own, so every call stays on C.
	ccaller := connectWAMP(t, wsURL(c), serialize.JSON)
	for range 10 {
		if _, err := ccaller.Call(callCtx(t), "com.fed.pool", nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if served["c1"] != 10 {
		t.Errorf("calls from C served %v, want all 10 by c1", served)
	}
	mu.Unlock()

	// C leaves while A has a call in flight there: the call fails at once
	// with wamp.error.canceled, and later calls go to B only.
	done := make(chan error, 1)
	go func() {
		for {
			res, err := caller.Call(context.Background(), "com.fed.pool", nil, nxwamp.List{"hold"}, nil, nil)
			if err != nil || res.Arguments[0] == "c1" {
				done <- err
				return
			}
		}
	}()
	waitFor(t, wait, "a call held by c1", func() bool { mu.Lock(); defer mu.Unlock(); return served["c1"] > 10 })
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = c.Shutdown(ctx)
	}()
	err := recv(t, done, 10*time.Second, "the call held on C")
	if e := callErr(err); e != string(nxwamp.ErrCanceled) {
		t.Fatalf("a call in flight to a router that left: %v", err)
	}
	t.Logf("the call held on C failed %v after C began to leave", time.Since(start))
	close(hold)
	waitFor(t, 10*time.Second, "C's callee gone from A", func() bool {
		res, err := caller.Call(callCtx(t), "com.fed.pool", nil, nil, nil, nil)
		return err == nil && res.Arguments[0] != "c1"
	})
	mu.Lock()
	clear(served)
	mu.Unlock()
	for range 10 {
		if _, err := caller.Call(callCtx(t), "com.fed.pool", nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	if served["b1"]+served["b2"] != 10 {
		t.Errorf("after C left, calls served %v", served)
	}
	mu.Unlock()
}

// TestClusterRPCEveryRealm: procedures and publications federate in every
// realm, not only the realm bridged to MQTT, and never cross into another
// realm.
func TestClusterRPCEveryRealm(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	twoRealms := func(c *Config) {
		r2 := c.Realms[0]
		r2.Name = "realm2"
		c.Realms = append(c.Realms, r2)
	}
	a := startFederated(t, url, "a", twoRealms)
	b := startFederated(t, url, "b", twoRealms)
	connect := func(r *Router, realm string) *client.Client {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		cl, err := client.ConnectNet(ctx, wsURL(r), client.Config{Realm: realm, Serialization: serialize.JSON, Logger: discardStdLog{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cl.Close() })
		return cl
	}
	callee := connect(b, "realm2")
	if err := callee.Register("com.fed.r2", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{"realm2"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	caller := connect(a, "realm2")
	waitCallable(t, caller, "com.fed.r2")
	res, err := caller.Call(callCtx(t), "com.fed.r2", nil, nil, nil, nil)
	if err != nil || fmt.Sprint(res.Arguments) != "[realm2]" {
		t.Fatalf("%v %v", res, err)
	}
	other := connect(a, "realm1")
	if _, err := other.Call(callCtx(t), "com.fed.r2", nil, nil, nil, nil); callErr(err) != string(nxwamp.ErrNoSuchProcedure) {
		t.Fatalf("realm1 caller reached realm2's procedure: %v", err)
	}

	// Publications of realm2 reach realm2's subscribers on the other router
	// (exact, prefix, wildcard), acknowledged ones at least once; realm1's
	// subscribers to the same URIs get nothing.
	events := make(chan *nxwamp.Event, 10)
	sub := connect(b, "realm2")
	for _, s := range []struct{ uri, match string }{{"com.fed.news", "exact"}, {"com.fed.", "prefix"}, {"com..news", "wildcard"}} {
		if err := sub.SubscribeChan(s.uri, events, nxwamp.Dict{"match": s.match}); err != nil {
			t.Fatal(err)
		}
	}
	leak := make(chan *nxwamp.Event, 10)
	if err := connect(b, "realm1").SubscribeChan("com.fed.", leak, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, a, 5) // realm2's three patterns, realm1's one, and B's procedure
	pub := connect(a, "realm2")
	if err := pub.Publish("com.fed.news", nxwamp.Dict{"acknowledge": true}, nxwamp.List{"hello"}, nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if ev := recv(t, events, wait, "realm2 event on B"); fmt.Sprint(ev.Arguments) != "[hello]" {
			t.Fatalf("event %v", ev.Arguments)
		}
	}
	select {
	case ev := <-leak:
		t.Fatalf("a realm1 subscriber got realm2's event %v", ev.Arguments)
	case ev := <-events:
		t.Fatalf("a fourth realm2 event %v", ev.Arguments)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestClusterRPCSingleRace: the same single registration made at the same
// moment on two routers, before either knows of the other's: exactly one
// wins (the claim in Redis decides), the other gets
// wamp.error.procedure_already_exists; an MQTT device is refused too.
func TestClusterRPCSingleRace(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	ca := connectWAMP(t, wsURL(a), serialize.JSON)
	cb := connectWAMP(t, wsURL(b), serialize.MSGPACK)
	noop := func(context.Context, *nxwamp.Invocation) client.InvokeResult { return client.InvokeResult{} }
	for i := range 20 {
		proc := fmt.Sprintf("com.fed.race.%d", i)
		errs := make(chan error, 2)
		for _, c := range []*client.Client{ca, cb} {
			go func() { errs <- c.Register(proc, noop, nil) }()
		}
		won := 0
		for range 2 {
			err := recv(t, errs, wait, "REGISTER "+proc)
			switch {
			case err == nil:
				won++
			case !strings.Contains(err.Error(), string(nxwamp.ErrProcedureAlreadyExists)):
				t.Fatalf("REGISTER %s: %v", proc, err)
			}
		}
		if won != 1 {
			t.Fatalf("%s registered on %d routers", proc, won)
		}
	}
	// An MQTT device's single registration of a procedure another router's
	// WAMP callee holds: SUBACK 0x80 (3.1.1).
	tok := connectV3(t, "tcp://"+mqttAddr(a), "dev-race", nil).Subscribe("$rpc/com/fed/race/0", 1, nil)
	waitToken(t, tok, "subscribe")
	if got := tok.(*mqtt3.SubscribeToken).Result()["$rpc/com/fed/race/0"]; got != 0x80 {
		t.Fatalf("MQTT registration of a procedure held elsewhere: SUBACK %#x", got)
	}
	// A procedure freed on one router can be registered on the other.
	if err := cb.Register("com.fed.free", noop, nil); err != nil {
		t.Fatal(err)
	}
	if err := cb.Unregister("com.fed.free"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "com.fed.free registered on A after B let it go", func() bool {
		return ca.Register("com.fed.free", noop, nil) == nil
	})
}
