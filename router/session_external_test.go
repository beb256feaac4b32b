package router

// MQTT persistent sessions across router processes (`junction serve`,
// real redis-server) with third-party clients: paho.mqtt.golang (3.1.1,
// clean session false) and paho.golang (MQTT 5, session expiry).

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

// device is a 3.1.1 client with a persistent session that records what it
// gets, across its connections.
type device struct {
	t     *testing.T
	id    string
	mu    sync.Mutex
	got   []string
	more  chan struct{}
	probe chan struct{} // a probe arrived (see reachableFrom)
	lost  chan struct{}
	c     mqtt3.Client
}

func newDevice(t *testing.T, id string) *device {
	return &device{t: t, id: id, more: make(chan struct{}, 1), probe: make(chan struct{}, 1)}
}

// connect connects it to addr and reports session present.
func (d *device) connect(addr string) bool {
	d.t.Helper()
	lost := make(chan struct{})
	d.lost = lost
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(d.id).SetCleanSession(false).
		SetAutoReconnect(false).SetProtocolVersion(4).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(mqtt3.Client, error) { close(lost) }).
		SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) {
			if strings.HasSuffix(m.Topic(), "/probe") {
				select {
				case d.probe <- struct{}{}:
				default:
				}
				return
			}
			d.mu.Lock()
			d.got = append(d.got, string(m.Payload()))
			d.mu.Unlock()
			select {
			case d.more <- struct{}{}:
			default:
			}
		})
	d.c = mqtt3.NewClient(o)
	tok := d.c.Connect()
	waitToken(d.t, tok, d.id+" connect to "+addr)
	c := d.c
	d.t.Cleanup(func() { c.Disconnect(50) })
	return tok.(*mqtt3.ConnectToken).SessionPresent()
}

// reachableFrom returns once a message published on router p reaches the
// device under inbox/<id>/: p's route table has the device's route. (A
// route count is no sign of it: other sessions' routes count too.) Probes,
// QoS 0 on inbox/<id>/probe, are published until one arrives; the device
// does not record them.
func (d *device) reachableFrom(p *routerProc) {
	d.t.Helper()
	reachable(d.t, p, "inbox/"+d.id+"/probe", d.probe)
}

// reachable publishes probes (QoS 0) to topic on router p until arrived
// says one came.
func reachable[T any](t *testing.T, p *routerProc, topic string, arrived <-chan T) {
	t.Helper()
	prober := connectV3(t, "tcp://"+p.mqtt, "probe-"+p.name+"-"+strconv.FormatInt(time.Now().UnixNano(), 36), nil)
	defer prober.Disconnect(0)
	deadline := time.After(extStepTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		prober.Publish(topic, 0, false, "probe")
		select {
		case <-arrived:
			return
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no probe on %s published on router %s arrived", topic, p.name)
		}
	}
}

// waitAll waits until it has every payload of 0..n-1, and reports whether
// the first copies came in order.
func (d *device) waitAll(n int) (inOrder bool, dups int) {
	d.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		d.mu.Lock()
		seen := map[string]bool{}
		order, last := true, -1
		dups = 0
		for _, p := range d.got {
			if seen[p] {
				dups++
				continue
			}
			seen[p] = true
			i, _ := strconv.Atoi(p)
			if i < last {
				order = false
			}
			last = i
		}
		missing := -1
		for i := range n {
			if !seen[strconv.Itoa(i)] {
				missing = i
				break
			}
		}
		total := len(d.got)
		d.mu.Unlock()
		if missing < 0 {
			return order, dups
		}
		select {
		case <-d.more:
		case <-deadline:
			d.t.Fatalf("%s: message %d never came (%d received)", d.id, missing, total)
		}
	}
}

// publisher publishes "0".."n-1" at QoS 1 on topic, each acknowledged.
func publishSeq(t *testing.T, addr, id, topic string, from, to int) {
	t.Helper()
	pub := connectV3(t, "tcp://"+addr, id, nil)
	for i := from; i < to; i++ {
		waitToken(t, pub.Publish(topic, 1, false, strconv.Itoa(i)), "publish")
	}
	pub.Disconnect(50)
}

func TestSessionsAcrossRouterProcesses(t *testing.T) {
	bin := buildJunction(t)
	onSingleAndCluster(t, func(t *testing.T, d redisUnderTest) { sessionsAcrossRouterProcesses(t, bin, d) })
}

func sessionsAcrossRouterProcesses(t *testing.T, bin string, d redisUnderTest) {
	url, env := d.url, d.env
	r := []*routerProc{startRouterProc(t, bin, url, "a", env...), startRouterProc(t, bin, url, "b", env...), startRouterProc(t, bin, url, "c", env...)}
	for _, p := range r {
		p.waitMetric("junction_federation_remote_routers", "two other routers", func(v float64) bool { return v == 2 })
	}

	t.Run("resume on another router", func(t *testing.T) {
		d := newDevice(t, "dev-resume")
		d.connect(r[0].mqtt)
		waitToken(t, d.c.Subscribe("inbox/dev-resume/#", 1, nil), "subscribe")
		// c publishes once it knows a's route for the session (a route
		// reaches the other routers a moment after the SUBACK).
		d.reachableFrom(r[2])
		d.c.Disconnect(50)
		const n = 200
		publishSeq(t, r[2].mqtt, "pub-resume", "inbox/dev-resume/m", 0, n)
		if !d.connect(r[1].mqtt) {
			t.Fatal("session present false on b")
		}
		if inOrder, dups := d.waitAll(n); !inOrder || dups > 0 {
			t.Fatalf("in order %v, duplicates %d", inOrder, dups)
		}
	})

	t.Run("moved while messages flow", func(t *testing.T) {
		d := newDevice(t, "dev-move")
		d.connect(r[0].mqtt)
		waitToken(t, d.c.Subscribe("inbox/dev-move/#", 1, nil), "subscribe")
		d.reachableFrom(r[2])
		const n = 600
		done := make(chan struct{})
		go func() { defer close(done); publishSeq(t, r[2].mqtt, "pub-move", "inbox/dev-move/m", 0, n) }()
		for i := 0; i < 3; i++ { // a → b → a → b while the publisher publishes
			d.c.Disconnect(0)
			if !d.connect(r[(i+1)%2].mqtt) {
				t.Fatalf("move %d: session present false", i)
			}
		}
		<-done
		inOrder, dups := d.waitAll(n)
		t.Logf("moved three times under a stream of %d: none lost; first copies in order: %v; duplicates: %d", n, inOrder, dups)
	})

	t.Run("takeover across routers", func(t *testing.T) {
		connect := func(addr string, present *atomic.Bool) *v5Client {
			return connectV5(t, "mqtt://"+addr, "dev-take", func(c *autopaho.ClientConfig) {
				c.CleanStartOnInitialConnection = false
				c.SessionExpiryInterval = 300
				c.OnConnectionUp = func(_ *autopaho.ConnectionManager, ack *paho.Connack) {
					if present != nil {
						present.Store(ack.SessionPresent)
					}
				}
			})
		}
		onA := connect(r[0].mqtt, nil)
		onA.subscribe(t, "inbox/dev-take/#", 1)
		var present atomic.Bool
		onB := connect(r[1].mqtt, &present)
		d := recv(t, onA.disconnects, 10*time.Second, "DISCONNECT on a")
		if d.ReasonCode != 0x8E {
			t.Fatalf("a's connection got DISCONNECT %#x, want 0x8E", d.ReasonCode)
		}
		if !present.Load() {
			t.Fatal("session present false on b")
		}
		reachable(t, r[2], "inbox/dev-take/probe", onB.msgs)
		publishSeq(t, r[2].mqtt, "pub-take", "inbox/dev-take/x", 0, 1)
		for {
			m := recv(t, onB.msgs, 10*time.Second, "message on b")
			if string(m.Payload) == "probe" {
				continue // a later probe
			}
			if string(m.Payload) != "0" {
				t.Fatalf("b got %q", m.Payload)
			}
			break
		}
	})

	t.Run("session expiry", func(t *testing.T) {
		var present atomic.Bool
		cfg := func(expiry uint32) func(c *autopaho.ClientConfig) {
			return func(c *autopaho.ClientConfig) {
				c.CleanStartOnInitialConnection = false
				c.SessionExpiryInterval = expiry
				c.OnConnectionUp = func(_ *autopaho.ConnectionManager, ack *paho.Connack) { present.Store(ack.SessionPresent) }
			}
		}
		c := connectV5(t, "mqtt://"+r[0].mqtt, "dev-exp", cfg(2))
		c.subscribe(t, "inbox/dev-exp/#", 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.cm.Disconnect(ctx)
		cancel()
		gone := time.Now()
		// Still there within the expiry, on another router.
		c2 := connectV5(t, "mqtt://"+r[1].mqtt, "dev-exp", cfg(2))
		if !present.Load() {
			t.Fatal("session present false within the expiry")
		}
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		_ = c2.cm.Disconnect(ctx)
		cancel()
		gone = time.Now()
		// Gone after it, everywhere: b expires it (mochi checks every
		// second) and releases its ownership in Redis.
		waitFor(t, 15*time.Second, "the session's owner key released", func() bool {
			n, err := d.client.Exists(context.Background(), "junction:{sess:dev-exp}").Result()
			return err == nil && n == 0
		})
		if time.Since(gone) < 2*time.Second {
			t.Fatalf("expired after %v, before its 2s expiry", time.Since(gone))
		}
		connectV5(t, "mqtt://"+r[2].mqtt, "dev-exp", cfg(2))
		if present.Load() {
			t.Fatal("session present true after the expiry")
		}
	})

	t.Run("rolling restart", func(t *testing.T) {
		d := newDevice(t, "dev-roll")
		d.connect(r[0].mqtt)
		waitToken(t, d.c.Subscribe("inbox/dev-roll/#", 1, nil), "subscribe")
		const per = 300
		next := 0
		for i := range 3 {
			x, pubOn, back := r[i], r[(i+1)%3], r[(i+2)%3]
			if i > 0 { // the device is on x when x goes
				d.c.Disconnect(0)
				d.connect(x.mqtt)
			}
			d.reachableFrom(pubOn)
			done := make(chan struct{})
			from := next
			next += per
			go func() { defer close(done); publishSeq(t, pubOn.mqtt, "pub-roll", "inbox/dev-roll/m", from, from+per) }()
			x.signal(syscall.SIGTERM)
			<-d.lost
			if i%2 == 1 {
				<-x.done // the session is adopted by another router first
			}
			if !d.connect(back.mqtt) {
				t.Fatalf("restart %d: session present false", i)
			}
			<-done
			d.waitAll(next)
			<-x.done
			r[i] = startRouterProc(t, bin, url, x.name, env...)
			for _, p := range r {
				p.waitMetric("junction_federation_remote_routers", "two other routers", func(v float64) bool { return v == 2 })
			}
		}
		_, dups := d.waitAll(next)
		t.Logf("three routers restarted in turn under a QoS 1 stream of %d: none lost, %d duplicates", next, dups)
	})
}
