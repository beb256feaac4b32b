package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// wampTransports are the ways a WAMP client reaches Junction: WebSocket with
// each serializer, and RawSocket on the universal port.
func wampTransports(r *Router) []struct {
	name string
	url  string
	ser  serialize.Serialization
} {
	ws, raw := wsURL(r), "tcp://"+httpAddr(r)
	return []struct {
		name string
		url  string
		ser  serialize.Serialization
	}{
		{"websocket-json", ws, serialize.JSON},
		{"websocket-msgpack", ws, serialize.MSGPACK},
		{"websocket-cbor", ws, serialize.CBOR},
		{"rawsocket-json", raw, serialize.JSON},
		{"rawsocket-msgpack", raw, serialize.MSGPACK},
		{"rawsocket-cbor", raw, serialize.CBOR},
	}
}

func connectWAMP(t testing.TB, url string, ser serialize.Serialization) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, client.Config{
		Realm:           "realm1",
		Serialization:   ser,
		ResponseTimeout: 5 * time.Second,
		Logger:          discardStdLog{},
	})
	if err != nil {
		t.Fatalf("WAMP connect %s (%v): %v", url, ser, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// anonymousRole filters wamp.session.count and list to the anonymous test
// clients, leaving out the bridge's own session (authrole trusted).
var anonymousRole = nxwamp.List{nxwamp.List{"anonymous"}}

type discardStdLog struct{}

func (discardStdLog) Print(...any)          {}
func (discardStdLog) Println(...any)        {}
func (discardStdLog) Printf(string, ...any) {}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestWAMPAcrossTransports(t *testing.T) {
	r := startRouter(t, nil)
	for _, tr := range wampTransports(r) {
		t.Run(tr.name, func(t *testing.T) {
			sub := connectWAMP(t, tr.url, tr.ser)
			pub := connectWAMP(t, tr.url, tr.ser)
			events := make(chan *nxwamp.Event, 10)
			topic := "com.test." + tr.name
			if err := sub.SubscribeChan(topic, events, nil); err != nil {
				t.Fatal(err)
			}
			// Binary: native in msgpack and cbor; in JSON, WAMP's convention of
			// "\x00" + base64 in a string, which the router passes through.
			var bin any = []byte{0, 1, 255}
			if tr.ser == serialize.JSON {
				bin = serialize.BinaryData{0, 1, 255}
			}
			args := nxwamp.List{"on", 42, bin}
			if err := pub.Publish(topic, nxwamp.Dict{"acknowledge": true}, args, nxwamp.Dict{"k": "v"}); err != nil {
				t.Fatal(err)
			}
			ev := recv(t, events, 5*time.Second, "event")
			if s, _ := nxwamp.AsString(ev.Arguments[0]); s != "on" {
				t.Fatalf("args[0] = %#v", ev.Arguments[0])
			}
			if n, _ := nxwamp.AsInt64(ev.Arguments[1]); n != 42 {
				t.Fatalf("args[1] = %#v", ev.Arguments[1])
			}
			switch b := ev.Arguments[2].(type) {
			case []byte:
				if string(b) != "\x00\x01\xff" {
					t.Fatalf("args[2] = %#v, want the bytes 00 01 ff", b)
				}
			case string:
				if tr.ser != serialize.JSON || b != "\x00AAH/" {
					t.Fatalf("args[2] = %q, want the bytes 00 01 ff", b)
				}
			default:
				t.Fatalf("args[2] = %#v, want the bytes 00 01 ff", b)
			}
			if s, _ := nxwamp.AsString(ev.ArgumentsKw["k"]); s != "v" {
				t.Fatalf("kwargs = %#v", ev.ArgumentsKw)
			}

			proc := "com.test.add." + tr.name
			if err := sub.Register(proc, func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
				a, _ := nxwamp.AsInt64(inv.Arguments[0])
				b, _ := nxwamp.AsInt64(inv.Arguments[1])
				return client.InvokeResult{Args: nxwamp.List{a + b}}
			}, nil); err != nil {
				t.Fatal(err)
			}
			res, err := pub.Call(callCtx(t), proc, nil, nxwamp.List{2, 3}, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 5 {
				t.Fatalf("2+3 = %#v", res.Arguments)
			}
		})
	}
}

func rpcErrorURI(err error) nxwamp.URI {
	var rpcErr client.RPCError
	if errors.As(err, &rpcErr) {
		return rpcErr.Err.Error
	}
	return ""
}

func TestWAMPPatternSubscriptions(t *testing.T) {
	r := startRouter(t, nil)
	sub := connectWAMP(t, wsURL(r), serialize.JSON)
	pub := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	prefix := make(chan *nxwamp.Event, 10)
	wildcard := make(chan *nxwamp.Event, 10)
	if err := sub.SubscribeChan("com.acme.", prefix, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	if err := sub.SubscribeChan("com.acme.sensor..temp", wildcard, nxwamp.Dict{"match": "wildcard"}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish("com.acme.sensor.7.temp", nxwamp.Dict{"acknowledge": true}, nxwamp.List{21.5}, nil); err != nil {
		t.Fatal(err)
	}
	for name, ch := range map[string]chan *nxwamp.Event{"prefix": prefix, "wildcard": wildcard} {
		ev := recv(t, ch, 5*time.Second, name+" event")
		if topic, _ := nxwamp.AsURI(ev.Details["topic"]); topic != "com.acme.sensor.7.temp" {
			t.Fatalf("%s: details.topic = %v", name, ev.Details["topic"])
		}
		if f, _ := nxwamp.AsFloat64(ev.Arguments[0]); f != 21.5 {
			t.Fatalf("%s: args = %v", name, ev.Arguments)
		}
	}
}

func TestWAMPSharedRegistrationRoundRobin(t *testing.T) {
	r := startRouter(t, nil)
	caller := connectWAMP(t, wsURL(r), serialize.JSON)
	var mu sync.Mutex
	count := map[string]int{}
	for _, name := range []string{"a", "b"} {
		callee := connectWAMP(t, "tcp://"+httpAddr(r), serialize.MSGPACK)
		if err := callee.Register("com.test.shared", func(context.Context, *nxwamp.Invocation) client.InvokeResult {
			mu.Lock()
			count[name]++
			mu.Unlock()
			return client.InvokeResult{Args: nxwamp.List{name}}
		}, nxwamp.Dict{"invoke": "roundrobin"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		if _, err := caller.Call(callCtx(t), "com.test.shared", nil, nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if count["a"] != 5 || count["b"] != 5 {
		t.Fatalf("round robin over two callees: %v, want 5 each", count)
	}
}

func TestWAMPProgressiveResults(t *testing.T) {
	r := startRouter(t, nil)
	callee := connectWAMP(t, wsURL(r), serialize.CBOR)
	caller := connectWAMP(t, "tcp://"+httpAddr(r), serialize.JSON)
	if err := callee.Register("com.test.count", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		for i := 1; i <= 3; i++ {
			if err := callee.SendProgress(ctx, nxwamp.List{i}, nil); err != nil {
				return client.InvokeResult{Err: "com.test.progress_failed"}
			}
		}
		return client.InvokeResult{Args: nxwamp.List{"done"}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	var progress []int64
	res, err := caller.Call(callCtx(t), "com.test.count", nil, nil, nil, func(r *nxwamp.Result) {
		n, _ := nxwamp.AsInt64(r.Arguments[0])
		progress = append(progress, n)
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(progress) != "[1 2 3]" || res.Arguments[0] != "done" {
		t.Fatalf("progress %v, result %v", progress, res.Arguments)
	}
}

func TestWAMPCancelAndTimeout(t *testing.T) {
	r := startRouter(t, nil)
	callee := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	caller := connectWAMP(t, wsURL(r), serialize.MSGPACK)
	interrupted := make(chan struct{}, 2)
	if err := callee.Register("com.test.slow", func(ctx context.Context, _ *nxwamp.Invocation) client.InvokeResult {
		<-ctx.Done() // until the router interrupts the call
		interrupted <- struct{}{}
		return client.InvokeResult{Err: nxwamp.ErrCanceled}
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := caller.SetCallCancelMode(nxwamp.CancelModeKill); err != nil {
		t.Fatal(err)
	}

	// Cancel: the caller gives up, the callee is interrupted.
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := caller.Call(ctx, "com.test.slow", nil, nil, nil, nil)
		errc <- err
	}()
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := recv(t, errc, 5*time.Second, "cancelled call"); err == nil {
		t.Fatal("cancelled call succeeded")
	}
	recv(t, interrupted, 5*time.Second, "INTERRUPT at the callee after cancel")

	// Timeout: the dealer ends the call after the timeout the caller asked for.
	_, err := caller.Call(callCtx(t), "com.test.slow", nxwamp.Dict{"timeout": 100}, nil, nil, nil)
	if uri := rpcErrorURI(err); uri != nxwamp.ErrCanceled && uri != nxwamp.ErrTimeout {
		t.Fatalf("timed-out call: %v (URI %q), want wamp.error.canceled or timeout", err, uri)
	}
	recv(t, interrupted, 5*time.Second, "INTERRUPT at the callee after timeout")
}

func TestWAMPErrorsAndMetaAPI(t *testing.T) {
	r := startRouter(t, nil)
	a := connectWAMP(t, wsURL(r), serialize.JSON)
	connectWAMP(t, "tcp://"+httpAddr(r), serialize.CBOR)

	_, err := a.Call(callCtx(t), "com.test.nobody", nil, nil, nil, nil)
	if uri := rpcErrorURI(err); uri != nxwamp.ErrNoSuchProcedure {
		t.Fatalf("call without callee: %v, want wamp.error.no_such_procedure", err)
	}
	res, err := a.Call(callCtx(t), "wamp.session.count", nil, anonymousRole, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 2 {
		t.Fatalf("wamp.session.count = %v, want 2", res.Arguments)
	}
}
