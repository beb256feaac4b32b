package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// Result is what a run measured; it is also the --json output.
type Result struct {
	Config  Config    `json:"config"`
	Mode    Mode      `json:"mode"`
	Started time.Time `json:"started"`

	Connect ConnectStats `json:"connect"`

	// Sent: messages published (calls made). Expected: deliveries that
	// should arrive, sent × subscribers (calls made). Received: deliveries
	// (results) that arrived. Lost: expected − received, at least 0.
	Sent      uint64  `json:"sent"`
	Expected  uint64  `json:"expected"`
	Received  uint64  `json:"received"`
	Lost      uint64  `json:"lost"`
	LossRatio float64 `json:"loss_ratio"`
	// Foreign: messages on the topic that were not this run's payloads.
	Foreign uint64 `json:"foreign,omitempty"`
	// Errors: publishes or calls that failed.
	Errors uint64 `json:"errors"`
	// Seconds: the sending phase; the rates are over it (received: until
	// the last delivery).
	Seconds        float64 `json:"seconds"`
	SentPerSec     float64 `json:"sent_per_sec"`
	ReceivedPerSec float64 `json:"received_per_sec"`
	Latency        Latency `json:"latency_us"`
	// Disconnects: connections that ended before the run closed them.
	Disconnects uint64   `json:"disconnects"`
	Held        int      `json:"held,omitempty"` // idle: connections still open after --hold
	ErrorSample []string `json:"error_sample,omitempty"`
}

// ConnectStats is the connect phase: every connection of the run.
type ConnectStats struct {
	Connections int     `json:"connections"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
}

// JSON writes the result, indented.
func (r *Result) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// run is the state of one Run.
type run struct {
	cfg      Config
	hist     Histogram
	sent     atomic.Uint64
	received atomic.Uint64
	foreign  atomic.Uint64
	errs     atomic.Uint64
	lastRecv atomic.Int64 // unix ns
	lostConn atomic.Uint64
	// measureFrom (unix ns): messages sent before it are the warmup's
	measureFrom atomic.Int64
	closing     atomic.Bool
	phase       atomic.Value // string, for progress

	sampleMu sync.Mutex
	sample   []string

	// flow control of unpaced publishing and the end of the drain
	perMsg   uint64 // deliveries per message: subscribers (pub/sub), 1 (RPC)
	limit    uint64 // messages in flight beyond which publishers wait
	waiting  atomic.Int32
	wakeMu   sync.Mutex
	wake     chan struct{}
	expected atomic.Uint64 // set when sending ends; 0 before
	allIn    chan struct{}
	allOnce  sync.Once

	watchers sync.WaitGroup
	stop     chan struct{} // closed when the run closes its connections
}

func (r *run) fail(err error) {
	r.errs.Add(1)
	r.sampleMu.Lock()
	if len(r.sample) < 5 {
		r.sample = append(r.sample, err.Error())
	}
	r.sampleMu.Unlock()
}

// inflight is the messages sent and not yet received by every subscriber.
func (r *run) inflight() uint64 {
	s, d := r.sent.Load(), r.received.Load()/r.perMsg
	if d >= s {
		return 0
	}
	return s - d
}

// onMessage is every subscriber's (and caller's) handler.
func (r *run) onMessage(_ string, p []byte) {
	now := time.Now()
	t, err := sentAt(p)
	if err != nil {
		r.foreign.Add(1)
		return
	}
	if t.UnixNano() < r.measureFrom.Load() {
		return // warmup
	}
	r.hist.Record(now.Sub(t))
	n := r.received.Add(1)
	r.lastRecv.Store(now.UnixNano())
	if r.waiting.Load() > 0 && r.inflight() <= r.limit/2 {
		r.wakeMu.Lock()
		close(r.wake)
		r.wake = make(chan struct{})
		r.wakeMu.Unlock()
	}
	if e := r.expected.Load(); e > 0 && n >= e {
		r.allOnce.Do(func() { close(r.allIn) })
	}
}

// await blocks an unpaced publisher while the window is full. A lost
// message never arrives: the wait is re-checked every 50 ms.
func (r *run) await(ctx context.Context) {
	if r.limit == 0 || r.inflight() < r.limit {
		return
	}
	r.waiting.Add(1)
	defer r.waiting.Add(-1)
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	for r.inflight() > r.limit/2 {
		r.wakeMu.Lock()
		ch := r.wake
		r.wakeMu.Unlock()
		if r.inflight() <= r.limit/2 {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// watch counts a connection that ends before the run closes it.
func (r *run) watch(lost <-chan struct{}) {
	r.watchers.Go(func() {
		select {
		case <-lost:
			if !r.closing.Load() {
				r.lostConn.Add(1)
			}
		case <-r.stop:
		}
	})
}

// Run performs one benchmark. Progress goes to progress once a second (nil:
// none). It returns an error when the run could not be carried out (a
// client that cannot connect or subscribe); what went wrong during the run
// is in the result.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, wake: make(chan struct{}), allIn: make(chan struct{}), stop: make(chan struct{}), perMsg: 1}
	r.phase.Store("connecting")
	res := &Result{Config: cfg, Mode: cfg.Mode(), Started: time.Now().UTC()}

	progCtx, stopProgress := context.WithCancel(ctx)
	var progWG sync.WaitGroup
	if progress != nil {
		progWG.Go(func() { r.report(progCtx, progress) })
	}
	defer func() {
		stopProgress()
		progWG.Wait()
	}()

	var err error
	switch cfg.Mode() {
	case ModeIdle:
		err = r.runIdle(ctx, res)
	case ModeRPC:
		err = r.runRPC(ctx, res)
	default:
		err = r.runPubSub(ctx, res)
	}
	close(r.stop)
	r.watchers.Wait()
	if err != nil {
		return nil, err
	}
	res.Sent = r.sent.Load()
	res.Received = r.received.Load()
	res.Foreign = r.foreign.Load()
	res.Errors = r.errs.Load()
	res.Disconnects = r.lostConn.Load()
	if res.Expected > res.Received {
		res.Lost = res.Expected - res.Received
	}
	if res.Expected > 0 {
		res.LossRatio = float64(res.Lost) / float64(res.Expected)
	}
	res.Latency = r.hist.Summary()
	res.ErrorSample = r.sample
	return res, nil
}

// report prints a progress line every second until ctx ends.
func (r *run) report(ctx context.Context, w io.Writer) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	start := time.Now()
	var lastSent, lastRecv uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s, d := r.sent.Load(), r.received.Load()
			fmt.Fprintf(w, "%5.0fs %-10s sent %d (%d/s)  received %d (%d/s)  errors %d  disconnects %d\n",
				now.Sub(start).Seconds(), r.phase.Load(), s, s-lastSent, d, d-lastRecv, r.errs.Load(), r.lostConn.Load())
			lastSent, lastRecv = s, d
		}
	}
}

// connectAll opens n connections, at most cfg.ConnectParallel at a time,
// and stops at the first failure unless keepGoing.
func connectAll[T any](ctx context.Context, cfg Config, n int, keepGoing bool, dial func(ctx context.Context, i int) (T, error)) ([]T, int, error) {
	out := make([]T, n)
	ok := make([]bool, n)
	var next atomic.Int64
	var failed atomic.Int64
	var first error
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range min(cfg.ConnectParallel, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, i)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					if !keepGoing {
						cancel()
						return
					}
					continue
				}
				out[i], ok[i] = c, true
			}
		})
	}
	wg.Wait()
	if first != nil && !keepGoing {
		return out, int(failed.Load()), first
	}
	if first != nil && int(failed.Load()) == n {
		return out, n, first
	}
	// compact: only the connections that opened
	kept := out[:0]
	for i := range out {
		if ok[i] {
			kept = append(kept, out[i])
		}
	}
	return kept, int(failed.Load()), nil
}

// --- pub/sub ------------------------------------------------------------------

// endpoint is one publisher, subscriber, caller or callee connection.
type endpoint struct {
	mqtt mqttClient
	wamp *client.Client
}

func (e endpoint) lost() <-chan struct{} {
	if e.mqtt != nil {
		return e.mqtt.lost()
	}
	return e.wamp.Done()
}

func (e endpoint) close() {
	if e.mqtt != nil {
		e.mqtt.close()
	} else if e.wamp != nil {
		_ = e.wamp.Close()
	}
}

func (r *run) dial(ctx context.Context, proto, url, id string) (endpoint, error) {
	c := r.cfg
	if proto == "mqtt" {
		m, err := dialMQTT(ctx, mqttOptions{url: url, clientID: id, version: c.MQTTVersion, inflight: c.Inflight, timeout: c.ConnectTimeout})
		return endpoint{mqtt: m}, err
	}
	w, err := dialWAMP(ctx, wampOptions{url: url, realm: c.Realm, serializer: c.Serializer, timeout: c.ConnectTimeout})
	return endpoint{wamp: w}, err
}

func (r *run) closeAll(eps ...[]endpoint) {
	r.closing.Store(true)
	var wg sync.WaitGroup
	sem := make(chan struct{}, r.cfg.ConnectParallel)
	for _, list := range eps {
		for _, e := range list {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				e.close()
			})
		}
	}
	wg.Wait()
}

func (r *run) runPubSub(ctx context.Context, res *Result) error {
	c := r.cfg
	r.perMsg = uint64(c.Subscribers)
	if c.Rate == 0 && c.Window > 0 {
		r.limit = uint64(c.Window * c.Publishers)
	}
	uri := wampURI(c.Topic)
	start := time.Now()
	subs, _, err := connectAll(ctx, c, c.Subscribers, false, func(ctx context.Context, i int) (endpoint, error) {
		e, err := r.dial(ctx, c.subProto(), c.subURL(), fmt.Sprintf("%s-sub-%d", c.ClientPrefix, i))
		if err != nil {
			return e, err
		}
		if e.mqtt != nil {
			err = e.mqtt.subscribe(ctx, c.Topic, byte(c.QoS), r.onMessage)
		} else {
			err = e.wamp.Subscribe(uri, func(ev *nxwamp.Event) { r.onMessage(uri, wampPayload(ev.Arguments)) }, nil)
		}
		if err != nil {
			e.close()
			return endpoint{}, err
		}
		r.watch(e.lost())
		return e, nil
	})
	defer func() { r.closeAll(subs) }()
	if err != nil {
		return fmt.Errorf("subscribers: %w", err)
	}
	pubs, _, err := connectAll(ctx, c, c.Publishers, false, func(ctx context.Context, i int) (endpoint, error) {
		e, err := r.dial(ctx, c.Proto, c.URL, fmt.Sprintf("%s-pub-%d", c.ClientPrefix, i))
		if err == nil {
			r.watch(e.lost())
		}
		return e, err
	})
	defer func() { r.closeAll(pubs) }()
	if err != nil {
		return fmt.Errorf("publishers: %w", err)
	}
	res.Connect = connectStats(c.Subscribers+c.Publishers, 0, time.Since(start))

	if c.Warmup > 0 {
		r.phase.Store("warmup")
		r.measureFrom.Store(math.MaxInt64)
		warmCtx, cancelWarm := context.WithTimeout(ctx, c.Warmup)
		var wg sync.WaitGroup
		warm := c
		warm.Count = 0
		for i, p := range pubs {
			wg.Go(func() { r.publishLoopCfg(ctx, warmCtx, p, uri, warm, false, phase(i, len(pubs), warm.Rate)) })
		}
		wg.Wait()
		cancelWarm()
	}
	r.phase.Store("sending")
	sendStart := time.Now()
	r.measureFrom.Store(sendStart.UnixNano())
	sendCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if c.Count == 0 {
		sendCtx, cancel = context.WithDeadline(ctx, sendStart.Add(c.Duration))
		defer cancel()
	}
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Go(func() { r.publishLoop(ctx, sendCtx, p, uri, phase(i, len(pubs), c.Rate)) })
	}
	wg.Wait()
	sendEnd := time.Now()

	r.phase.Store("draining")
	flushCtx, cancelFlush := context.WithTimeout(ctx, c.Drain+c.ConnectTimeout)
	for _, p := range pubs {
		if p.mqtt != nil {
			if err := p.mqtt.flush(flushCtx); err != nil {
				r.fail(fmt.Errorf("waiting for acknowledgements: %w", err))
			}
		}
	}
	cancelFlush()
	res.Expected = r.sent.Load() * uint64(c.Subscribers)
	r.drain(ctx, res.Expected, sendEnd)

	res.Seconds = sendEnd.Sub(sendStart).Seconds()
	res.SentPerSec = float64(r.sent.Load()) / res.Seconds
	if last := r.lastRecv.Load(); last > 0 {
		res.ReceivedPerSec = float64(r.received.Load()) / time.Unix(0, last).Sub(sendStart).Seconds()
	}
	return nil
}

// phase is how far into its first interval publisher i of n starts, at
// rate messages/s: paced publishers are spread evenly over the interval, so
// that a thousand of them at 10/s send 10 000 messages/s smoothly, not a
// thousand at once every 100 ms.
func phase(i, n int, rate float64) time.Duration {
	if rate <= 0 || n <= 1 {
		return 0
	}
	return time.Duration(float64(time.Second) / rate * float64(i) / float64(n))
}

// publishLoop publishes until sendCtx ends or Count messages are sent.
func (r *run) publishLoop(ctx, sendCtx context.Context, p endpoint, uri string, offset time.Duration) {
	r.publishLoopCfg(ctx, sendCtx, p, uri, r.cfg, true, offset)
}

func (r *run) publishLoopCfg(ctx, sendCtx context.Context, p endpoint, uri string, c Config, count bool, offset time.Duration) {
	buf := newPayload(c.Size)
	var interval time.Duration
	if c.Rate > 0 {
		interval = time.Duration(float64(time.Second) / c.Rate)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := time.Now().Add(offset - interval) // the first message at offset
	for i := 0; c.Count == 0 || i < c.Count; i++ {
		if sendCtx.Err() != nil {
			return
		}
		if interval > 0 {
			next = next.Add(interval)
			if d := time.Until(next); d > 0 {
				timer.Reset(d)
				select {
				case <-timer.C:
				case <-sendCtx.Done():
					return
				}
			}
		} else if count {
			r.await(sendCtx)
		}
		stamp(buf, time.Now())
		var err error
		if p.mqtt != nil {
			err = p.mqtt.publish(ctx, c.Topic, byte(c.QoS), buf)
		} else {
			err = p.wamp.Publish(uri, nil, nxwamp.List{string(buf)}, nil)
		}
		if err != nil {
			r.fail(fmt.Errorf("publish: %w", err))
			select {
			case <-p.lost(): // the connection is gone: this publisher is done
				return
			default:
			}
			continue
		}
		if count {
			r.sent.Add(1)
		}
	}
}

// drain waits until every expected delivery arrived, or none arrived for
// Drain, or ctx ends.
func (r *run) drain(ctx context.Context, expected uint64, sendEnd time.Time) {
	r.expected.Store(expected)
	if expected == 0 || r.received.Load() >= expected {
		return
	}
	tick := time.NewTicker(min(r.cfg.Drain/4+time.Millisecond, 100*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-r.allIn:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			last := sendEnd
			if l := time.Unix(0, r.lastRecv.Load()); l.After(last) {
				last = l
			}
			if now.Sub(last) >= r.cfg.Drain {
				return
			}
		}
	}
}

func connectStats(n, failed int, d time.Duration) ConnectStats {
	s := ConnectStats{Connections: n, Failed: failed, Seconds: d.Seconds()}
	if d > 0 {
		s.PerSecond = float64(n) / d.Seconds()
	}
	return s
}
