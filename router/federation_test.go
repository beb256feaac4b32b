package router

// Federation through a real redis-server (bridge/federation/fedtest starts
// it): routers in this process, with Go clients. The routers as separate
// processes, with third-party clients, Redis restarts and Redis Cluster are
// in federation_external_test.go.

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// startFederated starts a router that federates through redisURL.
func startFederated(t testing.TB, redisURL, name string, mutate func(*Config)) *Router {
	t.Helper()
	return startRouter(t, func(c *Config) {
		c.Fed.Redis = redisURL
		c.Fed.NodeID = name
		c.Fed.Heartbeat = Duration(200 * time.Millisecond)
		c.Fed.NodeTimeout = Duration(2 * time.Second)
		if mutate != nil {
			mutate(c)
		}
	})
}

// waitRoutes waits until r knows at least n routes of other routers.
func waitRoutes(t testing.TB, r *Router, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d remote routes", n), func() bool {
		return testutil.ToFloat64(r.metrics.fedRoutes) >= float64(n)
	})
}

func fedSent(r *Router) float64 { return testutil.ToFloat64(r.metrics.fedSent) }

// retainedCount is how many messages r retains under home/.
func retainedCount(r *Router) int { return len(r.mqtt.Retained("home/#")) }

// TestFederationTwoRouters: MQTT and WAMP clients on router B get what MQTT
// and WAMP clients publish on router A, each once, in both protocols;
// nothing goes to Redis for a topic B does not want.
func TestFederationTwoRouters(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)

	mqttSub := connectV5(t, "mqtt://"+mqttAddr(b), "sub-b", nil)
	mqttSub.subscribe(t, "fed/+/temp", 1)
	wampSub := connectWAMP(t, wsURL(b), serialize.MSGPACK)
	events := make(chan *nxwamp.Event, 10)
	if err := wampSub.SubscribeChan("fed.", events, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, a, 2)

	mqttPub := connectV5(t, "mqtt://"+mqttAddr(a), "pub-a", nil)
	mqttPub.publish(t, &paho.Publish{Topic: "fed/7/temp", QoS: 1, Payload: []byte("21.5")})
	wampPub := connectWAMP(t, wsURL(a), serialize.JSON)
	if err := wampPub.Publish("fed.8.temp", nxwamp.Dict{"acknowledge": true}, nxwamp.List{"hot"}, nil); err != nil {
		t.Fatal(err)
	}

	got := map[string]string{}
	for range 2 {
		p := recv(t, mqttSub.msgs, wait, "MQTT message on B")
		got[p.Topic] = fmt.Sprintf("%s q%d", p.Payload, p.QoS)
	}
	if fmt.Sprint(got) != "map[fed/7/temp:21.5 q1 fed/8/temp:hot q1]" {
		t.Fatalf("MQTT subscriber on B got %v", got)
	}
	got = map[string]string{}
	for range 2 {
		ev := recv(t, events, wait, "WAMP event on B")
		got[ev.Details["topic"].(string)] = fmt.Sprint(ev.Arguments...)
	}
	if fmt.Sprint(got) != "map[fed.7.temp:21.5 fed.8.temp:hot]" {
		t.Fatalf("WAMP subscriber on B got %v", got)
	}

	// Each once: nothing more arrives.
	select {
	case p := <-mqttSub.msgs:
		t.Fatalf("MQTT duplicate %s %s", p.Topic, p.Payload)
	case ev := <-events:
		t.Fatalf("WAMP duplicate %v", ev.Details)
	case <-time.After(300 * time.Millisecond):
	}

	// By interest: a topic B does not want costs A no Redis write.
	before := fedSent(a)
	mqttPub.publish(t, &paho.Publish{Topic: "other/7/temp", QoS: 1, Payload: []byte("x")})
	if err := wampPub.Publish("other.x", nxwamp.Dict{"acknowledge": true}, nxwamp.List{"x"}, nil); err != nil {
		t.Fatal(err)
	}
	mqttPub.publish(t, &paho.Publish{Topic: "fed/9/temp", QoS: 1, Payload: []byte("last")})
	recv(t, mqttSub.msgs, wait, "the last message")
	// A counts a write when Redis acknowledged it, which can be after B
	// already delivered it; the earlier publishes would have been written
	// (and counted) before it.
	waitFor(t, wait, "A to count its write", func() bool { return fedSent(a)-before >= 1 })
	if sent := fedSent(a) - before; sent != 1 {
		t.Fatalf("A wrote %v messages to Redis for 3 publishes of which B wants 1", sent)
	}
}

// TestFederationRetainedClusterWide: what is retained on A, by MQTT or WAMP,
// a new subscriber on B gets; clearing on B clears it on A; and the
// retained messages survive a Redis that restarts empty.
func TestFederationRetainedClusterWide(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	pub := connectV5(t, "mqtt://"+mqttAddr(a), "pub", nil)
	pub.publish(t, &paho.Publish{Topic: "home/t1", QoS: 1, Retain: true, Payload: []byte("21")})
	w := connectWAMP(t, wsURL(a), serialize.JSON)
	if err := w.Publish("home.t2", nxwamp.Dict{"acknowledge": true, "retain": true}, nxwamp.List{"on"}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "B's retained store", func() bool { return retainedCount(b) == 2 })
	sub := connectV5(t, "mqtt://"+mqttAddr(b), "sub", nil)
	sub.subscribe(t, "home/+", 1)
	got := map[string]string{}
	for range 2 {
		p := recv(t, sub.msgs, wait, "retained message on B")
		got[p.Topic] = fmt.Sprintf("%s retain=%v", p.Payload, p.Retain)
	}
	if fmt.Sprint(got) != "map[home/t1:21 retain=true home/t2:on retain=true]" {
		t.Fatalf("retained on B: %v", got)
	}
	// Cleared on B: gone on A too.
	clear := connectV5(t, "mqtt://"+mqttAddr(b), "clear", nil)
	clear.publish(t, &paho.Publish{Topic: "home/t1", QoS: 1, Retain: true})
	waitFor(t, 10*time.Second, "A's retained store", func() bool { return retainedCount(a) == 1 })

	// Redis restarts empty (no persistence): the routers put back what they
	// retain, and a router that starts afterwards gets it.
	redis.Kill()
	redis.Restart()
	waitFor(t, 15*time.Second, "the retained message back in Redis", func() bool {
		n, err := redis.Do("HLEN", "junction:{retained}")
		return err == nil && n == int64(1)
	})
	c := startFederated(t, url, "c", nil)
	waitFor(t, 10*time.Second, "C's retained store", func() bool { return retainedCount(c) == 1 })
	if got := c.mqtt.Retained("home/t2"); len(got) != 1 || string(got[0].Payload) != "on" {
		t.Fatalf("C retains %+v", got)
	}
	if retainedCount(a) != 1 || retainedCount(b) != 1 {
		t.Fatalf("after the restart A retains %d and B %d messages, want 1", retainedCount(a), retainedCount(b))
	}
}

// fedDeployment is the Redis a federation test runs on.
type fedDeployment struct {
	name string
	// start returns the routers' Redis URL and mutation (Cluster), and a
	// function that takes Redis away and one that brings it back.
	start func(t *testing.T) (url string, mutate func(*Config), down, up func())
}

var fedDeployments = []fedDeployment{
	{"single, no persistence", func(t *testing.T) (string, func(*Config), func(), func()) {
		s := fedtest.Start(t, fedtest.Options{})
		return "redis://" + s.Addr(), nil, s.Kill, s.Restart
	}},
	{"single, appendonly", func(t *testing.T) (string, func(*Config), func(), func()) {
		s := fedtest.Start(t, fedtest.Options{AppendOnly: true})
		return "redis://" + s.Addr(), nil, s.Kill, s.Restart
	}},
	{"cluster", func(t *testing.T) (string, func(*Config), func(), func()) {
		c := fedtest.StartCluster(t)
		addrs := c.Addrs()
		mutate := func(cfg *Config) { cfg.Fed.Cluster = true; cfg.Fed.Addresses = addrs[1:] }
		// One primary dies (its replica takes over after the cluster node
		// timeout, 2s) and comes back as a replica.
		return "redis://" + addrs[0], mutate, c.Nodes[0].Kill, c.Nodes[0].Restart
	}},
}

// TestFederationRedisRestartMidStream: a QoS 1 stream of 600 messages from
// an MQTT publisher on router A to an MQTT subscriber on B and a WAMP
// subscriber on C, with Redis killed (SIGKILL) a third of the way and
// brought back at two thirds: every message reaches every subscriber exactly
// once, in order, and the publisher is never held up. On one Redis with and
// without persistence, and on a 6-node Redis Cluster whose node is killed.
func TestFederationRedisRestartMidStream(t *testing.T) {
	for _, d := range fedDeployments {
		t.Run(d.name, func(t *testing.T) {
			url, mutate, down, up := d.start(t)
			a := startFederated(t, url, "a", mutate)
			b := startFederated(t, url, "b", mutate)
			c := startFederated(t, url, "c", mutate)
			const n = 600
			mqttSub := connectV5(t, "mqtt://"+mqttAddr(b), "stream-b", nil)
			mqttSub.subscribe(t, "stream/#", 1)
			wampSub := connectWAMP(t, wsURL(c), serialize.JSON)
			events := make(chan *nxwamp.Event, n+10)
			if err := wampSub.SubscribeChan("stream.", events, nxwamp.Dict{"match": "prefix"}); err != nil {
				t.Fatal(err)
			}
			waitRoutes(t, a, 2)
			pub := connectV3(t, "tcp://"+mqttAddr(a), "stream-a", nil)
			start := time.Now()
			var slowest time.Duration
			for i := range n {
				switch i {
				case n / 3:
					down()
					if d.name != "cluster" { // there only one node of six is gone
						waitFor(t, 10*time.Second, "A to notice Redis is gone", func() bool {
							return testutil.ToFloat64(a.metrics.fedUp) == 0
						})
					}
				case 2 * n / 3:
					up()
				}
				// The stream lasts about 3s, so Redis is away about a second
				// (the cluster's failover takes a few).
				time.Sleep(5 * time.Millisecond)
				t0 := time.Now()
				waitToken(t, pub.Publish("stream/x", 1, false, strconv.Itoa(i)), "publish")
				slowest = max(slowest, time.Since(t0))
			}
			t.Logf("published %d in %v, slowest PUBACK %v", n, time.Since(start), slowest)
			if slowest > 2*time.Second {
				t.Errorf("a publish waited %v for its PUBACK while Redis was away", slowest)
			}
			for i := range n {
				p := recv(t, mqttSub.msgs, 30*time.Second, fmt.Sprintf("MQTT message %d on B", i))
				if string(p.Payload) != strconv.Itoa(i) {
					t.Fatalf("MQTT subscriber on B: message %d is %q", i, p.Payload)
				}
			}
			for i := range n {
				ev := recv(t, events, 30*time.Second, fmt.Sprintf("WAMP event %d on C", i))
				if got, _ := nxwamp.AsInt64(ev.Arguments[0]); got != int64(i) {
					t.Fatalf("WAMP subscriber on C: event %d is %v", i, ev.Arguments)
				}
			}
			select {
			case p := <-mqttSub.msgs:
				t.Fatalf("MQTT duplicate %q", p.Payload)
			case ev := <-events:
				t.Fatalf("WAMP duplicate %v", ev.Arguments)
			case <-time.After(500 * time.Millisecond):
			}
		})
	}
}

// TestFederationRPCResultCrossesRouters: an RPC result is a publication on
// the caller's reply topic, so a subscriber on another router gets it (here
// the caller publishes the call on router A and leaves; its reply topic is
// read on router B).
func TestFederationRPCResultCrossesRouters(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	callee := connectWAMP(t, wsURL(a), serialize.JSON)
	if err := callee.Register("com.acme.add", func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		x, _ := nxwamp.AsInt64(inv.Arguments[0])
		y, _ := nxwamp.AsInt64(inv.Arguments[1])
		return client.InvokeResult{Args: nxwamp.List{x + y}}
	}, nil); err != nil {
		t.Fatal(err)
	}
	sub := connectV5(t, "mqtt://"+mqttAddr(b), "reader-b", nil)
	sub.subscribe(t, "replies/far", 1)
	waitRoutes(t, a, 1)
	caller := connectV3(t, "tcp://"+mqttAddr(a), "caller-a", nil)
	waitToken(t, caller.Publish("$rpc/com/acme/add", 1, false, `{"reply_to":"replies/far","correlation":"c","args":[2,3]}`), "call")
	if p := recv(t, sub.msgs, wait, "the result on B"); string(p.Payload) != `{"args":[5],"correlation":"c"}` {
		t.Fatalf("B got %s", p.Payload)
	}
}
