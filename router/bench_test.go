//go:build unix

// Throughput benchmarks: Junction against the bare engines it is built on.
//
// Every benchmark has one sub-benchmark per system, run in the same process
// with the same harness, clients and payloads:
//
//	BenchmarkMQTTQoS0/junction     Junction's MQTT port        vs  BenchmarkMQTTQoS0/mochi
//	BenchmarkMQTTQoS1/junction     (paho MQTT 3.1.1 over TCP)  vs  BenchmarkMQTTQoS1/mochi
//	BenchmarkWAMPJSON/junction     Junction's WebSocket /ws    vs  BenchmarkWAMPJSON/nexus
//	BenchmarkWAMPMsgpack/junction  (nexus client, realm1)      vs  BenchmarkWAMPMsgpack/nexus
//
// The bare systems are configured as plainly as possible: mochi is mochi.New
// with default options (only its logger silenced), the auth.AllowHook and a
// listeners.TCP on 127.0.0.1:0; nexus is router.NewRouter with realm1
// (anonymous) served by nexus' own WebsocketServer on an http.Server on
// 127.0.0.1:0, its per-session out queue set to Junction's limits.wamp_queue
// so both routers buffer the same number of events per subscriber.
//
// One operation is one message: a publisher client publishes b.N messages of
// 100 bytes (an MQTT payload, or one WAMP string argument) to a topic, and the
// benchmark ends when a second, subscribed client has received all b.N of
// them. Setup (server start, connects, subscribe) is outside the timer. The
// publisher is paced by a credit window identical for both systems: it never
// has more than benchWindow messages published but not yet delivered; when the
// window is full it waits, on an event from the subscriber and not by sleeping,
// until half of it has been delivered. The window is far below every queue in
// the path (mochi's per-client queue, Junction's mqtt_queue and wamp_queue,
// nexus' out queue), so the numbers measure throughput, not loss: a queue that
// still overflows shows up as a timeout or as the subscriber being evicted, and
// the benchmark fails saying so.
//
// Each sub-benchmark reports msg/s (b.N divided by the timed duration). Read
// a pair as the ratio junction msg/s ÷ bare msg/s (mochi or nexus): 1.0 means
// Junction adds nothing over the engine it wraps; the goal for same-protocol
// traffic is ≥ 0.95. With -count > 1 compare medians (benchstat works too:
// ns/op is the inverse of msg/s). Wall-clock throughput on a small or shared
// machine is noisy (±15% between runs is common on 2 cores), so each run also
// reports cpu-ns/msg: the CPU time (user+system, getrusage; hence unix only)
// the whole process used per message, clients included. The clients are the
// same on both sides, so the difference in cpu-ns/msg is what the router
// costs, and it is far less sensitive to other load than msg/s; lower is
// better, and bare ÷ junction cpu-ns/msg is the matching efficiency ratio.
package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
)

const (
	benchPayloadSize = 100
	// benchWindow is the most messages published and not yet delivered.
	benchWindow = 256
	// benchDeadline bounds one timed run; a run normally takes the benchtime.
	benchDeadline = 2 * time.Minute
	benchConnect  = 10 * time.Second
)

var (
	benchPayload    = []byte(strings.Repeat("j", benchPayloadSize))
	benchPayloadStr = string(benchPayload)
)

func BenchmarkMQTTQoS0(b *testing.B) { benchMQTTPair(b, 0) }
func BenchmarkMQTTQoS1(b *testing.B) { benchMQTTPair(b, 1) }

func BenchmarkWAMPJSON(b *testing.B)    { benchWAMPPair(b, serialize.JSON) }
func BenchmarkWAMPMsgpack(b *testing.B) { benchWAMPPair(b, serialize.MSGPACK) }

func benchMQTTPair(b *testing.B, qos byte) {
	b.Run("junction", func(b *testing.B) {
		r := startRouter(b, nil)
		benchMQTT(b, mqttAddr(r), qos)
	})
	b.Run("mochi", func(b *testing.B) {
		benchMQTT(b, startBareMochi(b), qos)
	})
}

func benchWAMPPair(b *testing.B, ser serialize.Serialization) {
	b.Run("junction", func(b *testing.B) {
		r := startRouter(b, nil)
		benchWAMP(b, wsURL(r), ser)
	})
	b.Run("nexus", func(b *testing.B) {
		benchWAMP(b, startBareNexus(b, DefaultConfig().Limits.WAMPQueue), ser)
	})
}

// startBareMochi runs a mochi broker with default options, allow-all auth and
// one TCP listener, and returns its address. It is closed when b ends.
func startBareMochi(b *testing.B) string {
	b.Helper()
	s := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		b.Fatalf("mochi AddHook: %v", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "bench-tcp", Address: "127.0.0.1:0"})
	if err := s.AddListener(tcp); err != nil { // binds the socket
		b.Fatalf("mochi AddListener: %v", err)
	}
	if err := s.Serve(); err != nil {
		b.Fatalf("mochi Serve: %v", err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Errorf("mochi Close: %v", err)
		}
	})
	return tcp.Address()
}

// startBareNexus runs a nexus router with realm1 (anonymous) behind nexus'
// WebsocketServer and returns its ws:// URL. It is closed when b ends.
func startBareNexus(b *testing.B, outQueue int) string {
	b.Helper()
	nr, err := nxrouter.NewRouter(&nxrouter.Config{
		RealmConfigs: []*nxrouter.RealmConfig{{
			URI:           "realm1",
			AnonymousAuth: true,
			AllowDisclose: true,
		}},
	}, benchDiscardLog{})
	if err != nil {
		b.Fatalf("nexus NewRouter: %v", err)
	}
	wss := nxrouter.NewWebsocketServer(nr)
	wss.OutQueueSize = outQueue
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		nr.Close()
		b.Fatalf("listen: %v", err)
	}
	srv := &http.Server{Handler: wss, ReadHeaderTimeout: benchConnect}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	b.Cleanup(func() {
		// http.Server forgets hijacked (WebSocket) connections; nexus' Close
		// ends their sessions.
		_ = srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			b.Errorf("nexus http.Server: %v", err)
		}
		nr.Close()
	})
	return "ws://" + ln.Addr().String() + "/"
}

// benchFlow counts deliveries and paces the publisher by them.
type benchFlow struct {
	received atomic.Int64
	want     atomic.Int64  // the publisher is waiting for received >= want
	wake     chan struct{} // cap 1: received reached want
	lost     chan error    // cap 1: a client's connection ended
	bad      atomic.Value  // error: the subscriber got something wrong
	cpuStart time.Duration // process CPU time when the timer started
}

func newBenchFlow() *benchFlow {
	f := &benchFlow{wake: make(chan struct{}, 1), lost: make(chan error, 1)}
	f.want.Store(math.MaxInt64)
	return f
}

// delivered is called by the subscriber for every message.
func (f *benchFlow) delivered() {
	if f.received.Add(1) >= f.want.Load() {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

func (f *benchFlow) fail(err error) {
	f.bad.CompareAndSwap(nil, err)
}

func (f *benchFlow) connLost(err error) {
	select {
	case f.lost <- err:
	default:
	}
}

// pace lets the publisher send message number sent (0-based), waiting first
// until at most benchWindow/2 are in flight if benchWindow are.
func (f *benchFlow) pace(sent int64, timeout <-chan time.Time) error {
	if sent-f.received.Load() < benchWindow {
		return nil
	}
	return f.await(sent-benchWindow/2, timeout)
}

// await waits until n messages have been delivered.
func (f *benchFlow) await(n int64, timeout <-chan time.Time) error {
	f.want.Store(n)
	defer f.want.Store(math.MaxInt64)
	for f.received.Load() < n {
		select {
		case <-f.wake:
		case err := <-f.lost:
			return fmt.Errorf("connection lost after %d of %d deliveries: %w", f.received.Load(), n, err)
		case <-timeout:
			return fmt.Errorf("timed out after %v: %d of %d messages delivered", benchDeadline, f.received.Load(), n)
		}
	}
	if err, _ := f.bad.Load().(error); err != nil {
		return err
	}
	return nil
}

// start starts the timer (and the CPU time count) of a run.
func (f *benchFlow) start(b *testing.B) {
	f.cpuStart = benchCPUTime(b)
	b.ResetTimer()
}

// report stops the timer and reports the throughput and CPU time per message.
func (f *benchFlow) report(b *testing.B) {
	b.StopTimer()
	cpu := benchCPUTime(b) - f.cpuStart
	if got := f.received.Load(); got != int64(b.N) {
		b.Fatalf("subscriber received %d messages, want %d", got, b.N)
	}
	if err, _ := f.bad.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/msg")
}

// benchCPUTime is the user and system CPU time the process has used.
func benchCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// --- MQTT ---------------------------------------------------------------

func benchMQTT(b *testing.B, addr string, qos byte) { benchMQTTBetween(b, addr, addr, qos, nil) }

// benchMQTTBetween publishes on the broker at pubAddr to a subscriber on the
// one at subAddr (the same, or another federated router).
func benchMQTTBetween(b *testing.B, pubAddr, subAddr string, qos byte, before func()) {
	const topic = "bench/throughput"
	f := newBenchFlow()
	sub := benchMQTTClient(b, subAddr, "bench-sub", f)
	tok := sub.Subscribe(topic, qos, func(_ mqtt3.Client, m mqtt3.Message) {
		if len(m.Payload()) != benchPayloadSize || m.Qos() != qos {
			f.fail(fmt.Errorf("subscriber got a %d-byte QoS %d message, want %d bytes QoS %d",
				len(m.Payload()), m.Qos(), benchPayloadSize, qos))
		}
		f.delivered()
	})
	if err := benchWaitToken(tok); err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	if codes := tok.(*mqtt3.SubscribeToken).Result(); codes[topic] != qos {
		b.Fatalf("subscribe: granted QoS %d, want %d", codes[topic], qos)
	}
	pub := benchMQTTClient(b, pubAddr, "bench-pub", f)
	if before != nil {
		before() // subscriptions made: e.g. wait until other routers know them
	}

	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	f.start(b)
	var last mqtt3.Token
	for i := range int64(b.N) {
		if err := f.pace(i, timeout.C); err != nil {
			b.Fatal(err)
		}
		last = pub.Publish(topic, qos, false, benchPayload)
		if err := last.Error(); err != nil { // set at once for a client-side failure
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := f.await(int64(b.N), timeout.C); err != nil {
		b.Fatal(err)
	}
	f.report(b)
	if err := benchWaitToken(last); err != nil {
		b.Fatalf("last publish: %v", err)
	}
}

// benchMQTTClient connects an MQTT 3.1.1 client that reports a lost
// connection to f and disconnects when b ends.
func benchMQTTClient(b *testing.B, addr, id string, f *benchFlow) mqtt3.Client {
	b.Helper()
	opts := mqtt3.NewClientOptions().
		AddBroker("tcp://" + addr).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(30 * time.Second).
		SetConnectTimeout(benchConnect).
		SetWriteTimeout(benchConnect).
		SetConnectionLostHandler(func(_ mqtt3.Client, err error) {
			f.connLost(fmt.Errorf("MQTT client %s: %w", id, err))
		})
	c := mqtt3.NewClient(opts)
	if err := benchWaitToken(c.Connect()); err != nil {
		b.Fatalf("MQTT %s connect to %s: %v", id, addr, err)
	}
	b.Cleanup(func() { c.Disconnect(250) })
	return c
}

func benchWaitToken(t mqtt3.Token) error {
	if !t.WaitTimeout(benchConnect) {
		return errors.New("timed out")
	}
	return t.Error()
}

// --- WAMP ---------------------------------------------------------------

func benchWAMP(b *testing.B, url string, ser serialize.Serialization) {
	const topic = "bench.throughput"
	f := newBenchFlow()
	sub := benchWAMPClient(b, url, ser, "subscriber", f)
	err := sub.Subscribe(topic, func(ev *nxwamp.Event) {
		if len(ev.Arguments) != 1 {
			f.fail(fmt.Errorf("event with %d arguments, want 1", len(ev.Arguments)))
		} else if s, _ := nxwamp.AsString(ev.Arguments[0]); len(s) != benchPayloadSize {
			f.fail(fmt.Errorf("event argument %T of length %d, want a %d-byte string", ev.Arguments[0], len(s), benchPayloadSize))
		}
		f.delivered()
	}, nil)
	if err != nil {
		b.Fatalf("subscribe: %v", err)
	}
	pub := benchWAMPClient(b, url, ser, "publisher", f)
	args := nxwamp.List{benchPayloadStr}

	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	f.start(b)
	for i := range int64(b.N) {
		if err := f.pace(i, timeout.C); err != nil {
			b.Fatal(err)
		}
		if err := pub.Publish(topic, nil, args, nil); err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := f.await(int64(b.N), timeout.C); err != nil {
		b.Fatal(err)
	}
	f.report(b)
}

// benchWAMPClient joins realm1, reports the end of its session to f, and
// leaves when b ends.
func benchWAMPClient(b *testing.B, url string, ser serialize.Serialization, name string, f *benchFlow) *client.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchConnect)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, client.Config{
		Realm:           "realm1",
		Serialization:   ser,
		ResponseTimeout: benchConnect,
		Logger:          benchDiscardLog{},
	})
	if err != nil {
		b.Fatalf("WAMP %s connect to %s: %v", name, url, err)
	}
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		<-c.Done()
		f.connLost(fmt.Errorf("WAMP %s session ended", name))
	}()
	b.Cleanup(func() {
		_ = c.Close()
		<-watched
	})
	return c
}

type benchDiscardLog struct{}

func (benchDiscardLog) Print(...any)          {}
func (benchDiscardLog) Println(...any)        {}
func (benchDiscardLog) Printf(string, ...any) {}
