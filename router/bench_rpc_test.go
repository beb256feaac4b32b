//go:build unix

// RPC benchmarks: a call's round trip through the dealer, for every pair of
// caller and callee protocols, side by side in one process:
//
//	go test ./router -run '^$' -bench RPC -benchtime 2s -count 3
//
// Sub-benchmarks are named caller_to_callee:
//
//	wamp_to_wamp    nexus client (JSON over WebSocket) calls a nexus client: the baseline
//	mqtt_to_wamp    paho MQTT 5 client calls ($rpc/..., Response Topic and
//	                Correlation Data, QoS 0) a procedure a nexus client registered
//	wamp_to_mqtt    nexus client calls a procedure a paho MQTT 5 client registered
//	                (subscription to $rpc/..., QoS 0; it answers at QoS 0)
//	mqtt_to_mqtt    MQTT 5 caller, MQTT 5 callee
//
// Each call carries one short string argument ("ping" and its number as
// MQTT payload text) that the callee returns. BenchmarkRPCLatency makes one
// call at a time: its p50-µs and p99-µs are round trips on an idle router.
// BenchmarkRPCThroughput keeps rpcWindow calls in flight: calls/s is the
// most a path carries, and its latencies are those of a full window. Both
// report cpu-ns/call (process CPU per call, clients included). Clients and
// router share one process and its two cores, so read ratios between paths
// of one run, not absolute figures.
package router

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

const (
	rpcBenchProcedure = "bench.echo"
	// rpcWindow is how many calls BenchmarkRPCThroughput keeps in flight.
	rpcWindow = 64
)

func BenchmarkRPCLatency(b *testing.B)    { benchRPCPaths(b, 1) }
func BenchmarkRPCThroughput(b *testing.B) { benchRPCPaths(b, rpcWindow) }

func benchRPCPaths(b *testing.B, window int) {
	for _, p := range []struct {
		name                 string
		mqttCaller, mqttCall bool
	}{
		{"wamp_to_wamp", false, false},
		{"mqtt_to_wamp", true, false},
		{"wamp_to_mqtt", false, true},
		{"mqtt_to_mqtt", true, true},
	} {
		b.Run(p.name, func(b *testing.B) {
			r := startRouter(b, nil)
			if p.mqttCall {
				rpcBenchMQTTCallee(b, r)
			} else {
				rpcBenchWAMPCallee(b, r)
			}
			var call func(i int) (string, error)
			if p.mqttCaller {
				call = rpcBenchMQTTCaller(b, r)
			} else {
				call = rpcBenchWAMPCaller(b, r)
			}
			rpcBenchRun(b, window, call)
		})
	}
}

// rpcBenchRun makes b.N calls, window at a time, and reports calls/s,
// cpu-ns/call and the round-trip quantiles.
func rpcBenchRun(b *testing.B, window int, call func(i int) (string, error)) {
	ns := make([]int64, b.N)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	cpu := benchCPUTime(b)
	b.ResetTimer()
	for range window {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N || failed.Load() != nil {
					return
				}
				start := time.Now()
				got, err := call(i)
				ns[i] = int64(time.Since(start))
				if err == nil && got != "ping"+strconv.Itoa(i) {
					err = fmt.Errorf("call %d returned %q", i, got)
				}
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	used := benchCPUTime(b) - cpu
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/call")
	slices.Sort(ns)
	q := func(p float64) float64 { return float64(ns[min(len(ns)-1, int(p*float64(len(ns))))]) / 1e3 }
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

func rpcBenchWAMPCallee(b *testing.B, r *Router) {
	c := connectWAMP(b, wsURL(r), serialize.JSON)
	if err := c.Register(rpcBenchProcedure, func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: inv.Arguments}
	}, nil); err != nil {
		b.Fatal(err)
	}
}

func rpcBenchWAMPCaller(b *testing.B, r *Router) func(int) (string, error) {
	c := connectWAMP(b, wsURL(r), serialize.JSON)
	return func(i int) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), benchDeadline)
		defer cancel()
		res, err := c.Call(ctx, rpcBenchProcedure, nil, nxwamp.List{"ping" + strconv.Itoa(i)}, nil, nil)
		if err != nil {
			return "", err
		}
		s, _ := res.Arguments[0].(string)
		return s, nil
	}
}

// rpcBenchMQTTCallee serves bench.echo from an MQTT 5 client: it answers
// each invocation with its payload, from a goroutine of its own (paho calls
// the receive callback on its reading goroutine).
func rpcBenchMQTTCallee(b *testing.B, r *Router) {
	invs := make(chan *paho.Publish, 4*rpcWindow)
	c := connectV5(b, "mqtt://"+mqttAddr(r), "bench-callee", func(cfg *autopaho.ClientConfig) {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { invs <- pr.Packet; return true, nil },
		}
	})
	c.subscribe(b, bridgeRPCFilter, 0)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		for {
			select {
			case p := <-invs:
				_, _ = c.cm.Publish(ctx, &paho.Publish{Topic: p.Properties.ResponseTopic, Payload: p.Payload,
					Properties: &paho.PublishProperties{CorrelationData: p.Properties.CorrelationData}})
			case <-ctx.Done():
				return
			}
		}
	})
}

const bridgeRPCFilter = "$rpc/bench/echo"

// rpcBenchMQTTCaller calls from an MQTT 5 client: QoS 0 publishes with
// Correlation Data i; each reply wakes the call waiting for its i.
func rpcBenchMQTTCaller(b *testing.B, r *Router) func(int) (string, error) {
	var mu sync.Mutex
	waiting := map[string]chan string{}
	c := connectV5(b, "mqtt://"+mqttAddr(r), "bench-caller", func(cfg *autopaho.ClientConfig) {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				mu.Lock()
				ch := waiting[string(pr.Packet.Properties.CorrelationData)]
				mu.Unlock()
				if ch != nil {
					ch <- string(pr.Packet.Payload)
				}
				return true, nil
			},
		}
	})
	c.subscribe(b, "replies/bench", 0)
	return func(i int) (string, error) {
		corr := strconv.Itoa(i)
		ch := make(chan string, 1)
		mu.Lock()
		waiting[corr] = ch
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(waiting, corr)
			mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), benchDeadline)
		defer cancel()
		if _, err := c.cm.Publish(ctx, &paho.Publish{Topic: bridgeRPCFilter, Payload: []byte("ping" + corr),
			Properties: &paho.PublishProperties{ResponseTopic: "replies/bench", CorrelationData: []byte(corr)}}); err != nil {
			return "", err
		}
		select {
		case s := <-ch:
			return s, nil
		case <-ctx.Done():
			return "", fmt.Errorf("no reply to call %d within %v", i, benchDeadline)
		}
	}
}
