//go:build unix

// Bridge benchmarks: what carrying publications between MQTT and WAMP costs.
// They reuse bench_test.go's harness (its clients, credit window, msg/s and
// cpu-ns/msg) and run, like it, every compared case side by side in one
// process:
//
//	go test ./router -run '^$' -bench Bridge -benchtime 2s -count 3
//
// BenchmarkBridgeLatency: one publisher and one subscriber on one Junction
// router (default config, bridge on), the publisher offering bridgeRate
// msg/s. Sub-benchmarks are named publisher_to_subscriber:
//
//	mqtt_to_mqtt, wampjson_to_wampjson, wampmsgpack_to_wampmsgpack    same protocol
//	mqtt_to_wampjson, mqtt_to_wampmsgpack                             MQTT a/b → WAMP a.b
//	wampjson_to_mqtt, wampmsgpack_to_mqtt                             WAMP a.b → MQTT a/b
//
// MQTT clients are bench_test.go's paho MQTT 3.1.1 clients at QoS 0 (the
// like of WAMP's unacknowledged PUBLISH; the bridge's QoS 1 for WAMP events is
// lowered to the subscriber's granted QoS 0); WAMP clients are nexus clients
// in realm1, the realm MQTT is bridged to. Each message carries its send time:
// nanoseconds on the monotonic clock since bridgeEpoch, in decimal (8 to 12
// digits), as the MQTT payload bytes or as one WAMP string argument. Crossing,
// a WAMP string argument becomes those MQTT payload bytes, and MQTT payload
// bytes that are a JSON number become a WAMP integer argument; the subscriber
// reads either. Both clients live in this process, so the receive time minus
// the send time is the latency of the whole path: publisher client,
// router (and hub), subscriber client. Besides msg/s and cpu-ns/msg each
// sub-benchmark reports p50-µs and p99-µs of those latencies.
//
// The publisher sends message i at start + i/bridgeRate (catching up at once
// when a sleep overslept, so the offered rate holds on average), and never
// has more than benchWindow messages in flight, as in bench_test.go.
//
// BenchmarkBridgeThroughput: the same paths unpaced, bench_test.go's credit
// window only: the most the path carries. Its latencies are those of a full
// window (up to benchWindow messages queued), not of an idle router.
//
// BenchmarkBridgeMQTTQoS0 and BenchmarkBridgeMQTTQoS1: bench_test.go's MQTT
// workload (benchMQTT: 100-byte payloads on bench/throughput) on Junction
// with the bridge off, and on with a WAMP client in realm1 subscribed to
// something else, so every MQTT publish goes past the hub's interest index
// and is found to interest no WAMP subscriber:
//
//	off           bridge.enabled: false
//	on_exact      bridge on; WAMP subscription to com.example.unrelated (exact)
//	on_pattern    bridge on; WAMP subscriptions to bench.other. (prefix) and
//	              other. (wildcard, as many components as bench.throughput,
//	              so the hub splits the URI and compares)
//
// Read on_* msg/s ÷ off msg/s (goal ≥ 0.95) and off cpu-ns/msg ÷ on_*
// cpu-ns/msg; the latter is the steadier on a small, shared machine.
//
// BenchmarkBridgeWAMPJSON is the same for WAMP traffic (benchWAMP: nexus
// clients with JSON, 100-byte string argument, bench.throughput in realm1):
// off, and on with an MQTT client subscribed to other/unrelated, so every WAMP
// publish is mapped to an MQTT topic and mochi's topic tree is asked, in
// vain, for its subscribers.
package router

import (
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

const (
	// bridgeRate is the offered rate of BenchmarkBridgeLatency, msg/s.
	bridgeRate = 2000

	bridgeMQTTTopic = "bench/bridge"
	bridgeWAMPTopic = "bench.bridge"
)

// bridgeEpoch is the origin of the send times carried in the payloads.
var bridgeEpoch = time.Now()

func bridgeStamp() int64 { return int64(time.Since(bridgeEpoch)) }

// bridgeEnd is one side of a path: a client and its protocol.
type bridgeEnd struct {
	name string
	wamp bool
	ser  serialize.Serialization // WAMP only
}

var (
	endMQTT        = bridgeEnd{name: "mqtt"}
	endWAMPJSON    = bridgeEnd{name: "wampjson", wamp: true, ser: serialize.JSON}
	endWAMPMsgpack = bridgeEnd{name: "wampmsgpack", wamp: true, ser: serialize.MSGPACK}
)

// bridgePaths are the compared paths: same protocol first, then across.
var bridgePaths = [][2]bridgeEnd{
	{endMQTT, endMQTT},
	{endWAMPJSON, endWAMPJSON},
	{endWAMPMsgpack, endWAMPMsgpack},
	{endMQTT, endWAMPJSON},
	{endMQTT, endWAMPMsgpack},
	{endWAMPJSON, endMQTT},
	{endWAMPMsgpack, endMQTT},
}

func BenchmarkBridgeLatency(b *testing.B)    { benchBridgePaths(b, bridgeRate) }
func BenchmarkBridgeThroughput(b *testing.B) { benchBridgePaths(b, 0) }

func benchBridgePaths(b *testing.B, rate int) {
	for _, p := range bridgePaths {
		b.Run(p[0].name+"_to_"+p[1].name, func(b *testing.B) {
			r := startRouter(b, nil)
			benchBridgePath(b, r, r, p[0], p[1], rate)
		})
	}
}

// bridgeLatency records one latency per delivered message.
type bridgeLatency struct {
	f  *benchFlow
	ns []int64
	n  atomic.Int64
}

// delivered records the latency of a message sent at stamp (see
// bridgeStamp), or the error reading the stamp, and counts the delivery.
func (l *bridgeLatency) delivered(stamp int64, err error) {
	now := bridgeStamp()
	if err != nil {
		l.f.fail(err)
	} else if i := l.n.Add(1) - 1; i < int64(len(l.ns)) {
		l.ns[i] = now - stamp
	} else {
		l.f.fail(fmt.Errorf("more than the %d messages sent were delivered", len(l.ns)))
	}
	l.f.delivered()
}

// report adds p50-µs and p99-µs; call it after f.report.
func (l *bridgeLatency) report(b *testing.B) {
	ns := l.ns[:min(l.n.Load(), int64(len(l.ns)))]
	if len(ns) == 0 {
		return
	}
	slices.Sort(ns)
	q := func(p float64) float64 {
		return float64(ns[min(len(ns)-1, int(p*float64(len(ns))))]) / 1e3
	}
	b.ReportMetric(q(0.50), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// benchBridgePath publishes b.N stamped messages from a pub client on pubR
// to a sub client on subR (the same router, or another one it federates
// with), at rate msg/s (0: as fast as the window allows).
func benchBridgePath(b *testing.B, pubR, subR *Router, pub, sub bridgeEnd, rate int) {
	f := newBenchFlow()
	l := &bridgeLatency{f: f, ns: make([]int64, b.N)}

	if sub.wamp {
		c := benchWAMPClient(b, wsURL(subR), sub.ser, "subscriber", f)
		err := c.Subscribe(bridgeWAMPTopic, func(ev *nxwamp.Event) {
			l.delivered(bridgeWAMPStamp(ev))
		}, nil)
		if err != nil {
			b.Fatalf("WAMP subscribe: %v", err)
		}
	} else {
		c := benchMQTTClient(b, mqttAddr(subR), "bench-sub", f)
		tok := c.Subscribe(bridgeMQTTTopic, 0, func(_ mqtt3.Client, m mqtt3.Message) {
			stamp, err := strconv.ParseInt(string(m.Payload()), 10, 64)
			if err != nil {
				err = fmt.Errorf("MQTT payload %q: %w", m.Payload(), err)
			}
			l.delivered(stamp, err)
		})
		if err := benchWaitToken(tok); err != nil {
			b.Fatalf("MQTT subscribe: %v", err)
		}
	}

	var publish func(stamp int64) error
	if pubR != subR && pubR.link != nil {
		waitRoutes(b, pubR, 1) // the publisher's router knows the subscription
	}
	if pub.wamp {
		c := benchWAMPClient(b, wsURL(pubR), pub.ser, "publisher", f)
		publish = func(stamp int64) error {
			return c.Publish(bridgeWAMPTopic, nil, nxwamp.List{strconv.FormatInt(stamp, 10)}, nil)
		}
	} else {
		c := benchMQTTClient(b, mqttAddr(pubR), "bench-pub", f)
		publish = func(stamp int64) error {
			return c.Publish(bridgeMQTTTopic, 0, false, strconv.AppendInt(nil, stamp, 10)).Error()
		}
	}

	var interval time.Duration
	if rate > 0 {
		interval = time.Second / time.Duration(rate)
	}
	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	f.start(b)
	start := time.Now()
	for i := range int64(b.N) {
		if err := f.pace(i, timeout.C); err != nil {
			b.Fatal(err)
		}
		if interval > 0 {
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
		}
		if err := publish(bridgeStamp()); err != nil {
			b.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := f.await(int64(b.N), timeout.C); err != nil {
		b.Fatal(err)
	}
	f.report(b)
	l.report(b)
}

// bridgeWAMPStamp reads the send time of an event: a string argument from a
// WAMP publisher, an integer from an MQTT one.
func bridgeWAMPStamp(ev *nxwamp.Event) (int64, error) {
	if len(ev.Arguments) != 1 || len(ev.ArgumentsKw) != 0 {
		return 0, fmt.Errorf("event with %d arguments and %d kwargs, want one argument", len(ev.Arguments), len(ev.ArgumentsKw))
	}
	switch v := ev.Arguments[0].(type) {
	case string:
		return strconv.ParseInt(v, 10, 64)
	case float32, float64:
		return 0, fmt.Errorf("event argument %v is a %T, want an integer or a string", v, v)
	default:
		if n, ok := nxwamp.AsInt64(v); ok {
			return n, nil
		}
		return 0, fmt.Errorf("event argument %v is a %T, want an integer or a string", v, v)
	}
}

// --- MQTT only: bridge on vs off -----------------------------------------

func BenchmarkBridgeMQTTQoS0(b *testing.B) { benchBridgeMQTT(b, 0) }
func BenchmarkBridgeMQTTQoS1(b *testing.B) { benchBridgeMQTT(b, 1) }

func benchBridgeMQTT(b *testing.B, qos byte) {
	b.Run("off", func(b *testing.B) {
		r := startRouter(b, func(c *Config) { c.Bridge.Enabled = false })
		benchMQTT(b, mqttAddr(r), qos)
	})
	b.Run("on_exact", func(b *testing.B) {
		benchBridgeMQTTObserved(b, qos, map[string]string{"com.example.unrelated": ""})
	})
	b.Run("on_pattern", func(b *testing.B) {
		benchBridgeMQTTObserved(b, qos, map[string]string{
			"bench.other.": nxwamp.MatchPrefix,
			"other.":       nxwamp.MatchWildcard,
		})
	})
}

func BenchmarkBridgeWAMPJSON(b *testing.B) {
	b.Run("off", func(b *testing.B) {
		r := startRouter(b, func(c *Config) { c.Bridge.Enabled = false })
		benchWAMP(b, wsURL(r), serialize.JSON)
	})
	b.Run("on", func(b *testing.B) {
		r := startRouter(b, func(c *Config) { c.Bridge.Enabled = true })
		m := benchMQTTClient(b, mqttAddr(r), "observer", newBenchFlow())
		if err := benchWaitToken(m.Subscribe("other/unrelated", 0, func(mqtt3.Client, mqtt3.Message) {})); err != nil {
			b.Fatalf("MQTT subscribe: %v", err)
		}
		benchWAMP(b, wsURL(r), serialize.JSON)
		if !m.IsConnectionOpen() {
			b.Fatal("the MQTT observer's connection ended during the run")
		}
	})
}

// benchBridgeMQTTObserved runs benchMQTT on a router with the bridge on and a
// WAMP client in the bridged realm subscribed to subs (URI → match policy,
// "" for exact), none of which matches the benchmark's topic.
func benchBridgeMQTTObserved(b *testing.B, qos byte, subs map[string]string) {
	r := startRouter(b, func(c *Config) { c.Bridge.Enabled = true })
	w := benchWAMPClient(b, wsURL(r), serialize.JSON, "observer", newBenchFlow())
	for uri, match := range subs {
		var opts nxwamp.Dict
		if match != "" {
			opts = nxwamp.Dict{"match": match}
		}
		if err := w.Subscribe(uri, func(ev *nxwamp.Event) {}, opts); err != nil {
			b.Fatalf("WAMP subscribe %s (%q): %v", uri, match, err)
		}
	}
	benchMQTT(b, mqttAddr(r), qos)
	bridgeStillJoined(b, w)
}

// bridgeStillJoined fails b if the WAMP client's session has ended: its
// subscriptions were then gone during the run.
func bridgeStillJoined(b *testing.B, c *client.Client) {
	select {
	case <-c.Done():
		b.Fatal("the WAMP observer's session ended during the run")
	default:
	}
}
