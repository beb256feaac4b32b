package federation

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathbits "math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Handler receives what other routers send.
type Handler interface {
	// Deliver is a message from another router. It is called from one
	// goroutine; the reliable messages of one origin arrive in their order,
	// each once. body is the Handler's to keep (it is not reused).
	Deliver(body []byte)
	// Retained is a cluster-wide retained change (body nil: the topic was
	// cleared), in the order of the cluster's retained log, this router's
	// own changes included. It is also called for every retained topic when
	// the link starts, and whenever it has to reload the store (Redis lost
	// its data or the link fell behind the log): then topics that vanished
	// are reported cleared. It is called from one goroutine, not the one
	// calling Deliver.
	Retained(topic string, body []byte)
}

// RetainedSource may be implemented by a Handler: it gives back the body of
// the retained message it holds for a topic (nil if none). With it, when
// Redis lost its data (restarted without persistence), every router puts
// back the retained messages it holds, each topic once, before reloading the
// store: the cluster's retained messages survive. Without it they are lost
// and reported cleared.
type RetainedSource interface {
	RetainedBody(topic string) []byte
}

// Message is a local publication to carry to the routers interested in it.
type Message struct {
	Topic    string // the MQTT topic it is published to, "" if none
	URI      string // the WAMP URI it is published to, "" if none
	Reliable bool   // at least once between routers, deduplicated, in order per origin; else at most once
	Body     []byte // opaque; copied by Publish
}

// Link connects this router to the others through Redis. Build it with New,
// run it with Start, and stop it with Close. Its methods are safe for
// concurrent use; AddRoute, RemoveRoute, Publish and Retain never wait for
// Redis.
type Link struct {
	cfg  Config
	h    Handler
	inc  string
	keys keys
	log  *slog.Logger
	m    Metrics
	warn *limiter

	idx    *index
	events eventQueue // route table changes for the Handler's watchers
	budget spoolBudget
	wake   chan struct{} // to the flusher: something to write
	ctl    chan struct{} // to the control loop: route changes

	// The routes of this router: rows wanted, and rows changed since they
	// were last written.
	rmu     sync.Mutex
	local   map[string]struct{}
	pending map[string]struct{}
	// Route changes are numbered (changes, under rmu); written is the
	// number of the last change known written, and writtenVer the version
	// of this router's route set then (see RoutesWritten).
	changes    uint64
	written    uint64
	writtenVer int64

	// Retained changes not yet written.
	retMu sync.Mutex
	retQ  []retainedChange

	// The route table of the other routers.
	tmu        sync.Mutex
	nodes      map[string]*remote
	dead       map[string]time.Time // routers judged dead or gone: ignored until they heartbeat again
	tombs      map[string]tomb      // the last seq given to dead destinations, so numbering continues
	resyncReq  map[string]bool      // routers whose rows the route reader should reload
	resyncAll  atomic.Bool          // the route reader should reload everything
	remoteRows int
	live       atomic.Pointer[[]string]

	// What this router received, per origin incarnation.
	recvMu  sync.Mutex
	origins map[string]*origin

	hbOK, routesOK, up atomic.Bool
	upMu               sync.Mutex
	sendFailing        atomic.Bool // the last write failed: unreliable messages are dropped at once
	rewindAll          atomic.Bool // Redis lost data: the flusher resends every unacknowledged message
	retainedCheck      atomic.Bool // Redis lost data: the retained reader checks its position
	retainedReseed     atomic.Bool // Redis lost data: put back the retained messages this router holds
	closed             atomic.Bool
	rounds             atomic.Int64 // flusher rounds run (tests wait on it)
	lastReload         atomic.Int64 // unix ns of the last Cluster slot map reload asked by troubled

	// Lifecycle.
	mu       sync.Mutex
	state    int // stateNew, stateStarted, stateClosed
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopped  chan struct{}         // closed when Close is done
	client   redis.UniversalClient // commands and pipelines
	blocking redis.UniversalClient // the three blocking XREADs, each holding a connection
	hooks    []redis.Hook          // added to both clients at Start (tests count commands)

	// Timing derived from cfg.
	opTimeout time.Duration // one command or pipeline
	block     time.Duration // XREAD BLOCK
	ackEvery  time.Duration // acknowledgements written and read
	t0        time.Time     // origin of the spool's monotonic timestamps
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// forgetAfter is how long a dead router's sequence numbers and dedup state
// are kept: a router that comes back within it (it was cut off, not dead)
// resumes without duplicates.
const forgetAfter = 10 * time.Minute

// remote is a router in the route table.
type remote struct {
	ver     int64
	rows    map[string]pattern
	dest    *dest
	addedAt time.Time
}

type tomb struct {
	seq uint64
	at  time.Time
}

type retainedChange struct {
	topic string
	body  []byte // nil: clear
}

// New checks cfg and returns a link that is not connected yet (see Start).
func New(cfg Config, h Handler) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if h == nil {
		err = errors.Join(err, fmt.Errorf("%w: Handler is required", ErrConfig))
	}
	if err != nil {
		return nil, err
	}
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return nil, err
	}
	inc := cfg.NodeID + "-" + hex.EncodeToString(suffix[:])
	l := &Link{
		cfg:       cfg,
		h:         h,
		inc:       inc,
		keys:      newKeys(cfg.KeyPrefix),
		log:       cfg.Logger.With("component", "federation", "node", inc),
		m:         cfg.Metrics,
		warn:      newLimiter(10 * time.Second),
		idx:       newIndex(),
		events:    eventQueue{wake: make(chan struct{}, 1)},
		wake:      make(chan struct{}, 1),
		ctl:       make(chan struct{}, 1),
		stopped:   make(chan struct{}),
		local:     map[string]struct{}{},
		pending:   map[string]struct{}{},
		nodes:     map[string]*remote{},
		dead:      map[string]time.Time{},
		tombs:     map[string]tomb{},
		resyncReq: map[string]bool{},
		origins:   map[string]*origin{},
		opTimeout: min(max(cfg.NodeTimeout, time.Second), 5*time.Second),
		block:     min(max(2*cfg.Heartbeat, 100*time.Millisecond), 500*time.Millisecond),
		ackEvery:  min(50*time.Millisecond, cfg.Heartbeat),
		t0:        time.Now(),
	}
	l.budget.max = cfg.SpoolBytes
	l.live.Store(&[]string{})
	return l, nil
}

// ID is this link's incarnation: NodeID and a random suffix.
func (l *Link) ID() string { return l.inc }

// Start connects to Redis and starts the link's loops. It does not wait for
// Redis: if Redis is down the loops keep retrying (see Up). ctx bounds Start
// only; the loops run until Close.
func (l *Link) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != stateNew {
		return errors.New("federation: Start called twice or after Close")
	}
	l.state = stateStarted
	l.client = l.newClient(0)
	l.blocking = l.newClient(4)
	for _, h := range l.hooks {
		l.client.AddHook(h)
		l.blocking.AddHook(h)
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	for _, loop := range []func(context.Context){l.controlLoop, l.routeLoop, l.retainedLoop, l.flushLoop, l.inboxLoop, l.ackLoop, l.watchLoop} {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			loop(loopCtx)
		}()
	}
	l.log.Info("federation link started", "redis", l.cfg.Addrs, "cluster", l.cfg.Cluster, "sentinel", l.cfg.SentinelMaster, "prefix", l.cfg.KeyPrefix)
	return nil
}

// newClient makes a client for the configured deployment. On Cluster the
// slot map is reloaded every 10s (go-redis' default is a minute) and, more to
// the point, after errors (see troubled): a primary that died refuses
// connections rather than answering MOVED, so without a reload the client
// would keep dialing it long after its replica took over.
func (l *Link) newClient(poolSize int) redis.UniversalClient {
	o := &redis.UniversalOptions{
		Addrs:                 l.cfg.Addrs,
		IsClusterMode:         l.cfg.Cluster,
		MasterName:            l.cfg.SentinelMaster,
		Username:              l.cfg.Username,
		Password:              l.cfg.Password,
		SentinelUsername:      l.cfg.SentinelUsername,
		SentinelPassword:      l.cfg.SentinelPassword,
		DB:                    l.cfg.DB,
		TLSConfig:             l.cfg.TLS,
		ClientName:            "junction-" + l.inc,
		MaxRetries:            -1, // the loops retry on their own terms
		DialTimeout:           l.opTimeout,
		DialerRetries:         1,
		ReadTimeout:           l.opTimeout,
		WriteTimeout:          l.opTimeout,
		ContextTimeoutEnabled: true,
		PoolSize:              poolSize,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	}
	if l.cfg.Cluster {
		co := o.Cluster()
		co.ClusterStateReloadInterval = 10 * time.Second
		return redis.NewClusterClient(co)
	}
	return redis.NewUniversalClient(o)
}

// troubled is told of every Redis error a loop meets. On Cluster it has the
// clients reload the slot map (at most every 250ms), so that a failover is
// followed within a retry or two.
func (l *Link) troubled() {
	if !l.cfg.Cluster {
		return
	}
	now := time.Now().UnixNano()
	last := l.lastReload.Load()
	if now-last < int64(250*time.Millisecond) || !l.lastReload.CompareAndSwap(last, now) {
		return
	}
	for _, c := range []redis.UniversalClient{l.client, l.blocking} {
		if cc, ok := c.(*redis.ClusterClient); ok {
			cc.ReloadState(context.Background())
		}
	}
}

// Close stops the link: it stops every loop, writes what is still queued
// (best effort), and removes this router from Redis (its routes, its node
// entry, its inbox), so that the others stop routing to it at once. ctx
// bounds the final writes; the loops are stopped whatever happens.
func (l *Link) Close(ctx context.Context) error {
	return l.stop(ctx, true)
}

// stop ends the loops; with deregister, it also flushes and says goodbye.
// Without (tests simulating a crash), it leaves Redis as it is.
func (l *Link) stop(ctx context.Context, deregister bool) error {
	l.mu.Lock()
	prev := l.state
	l.state = stateClosed
	l.mu.Unlock()
	l.closed.Store(true)
	switch prev {
	case stateNew:
		close(l.stopped)
		return nil
	case stateClosed: // another Close is under way or done: wait for it
		select {
		case <-l.stopped:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer close(l.stopped)
	l.cancel()
	done := make(chan struct{})
	go func() {
		l.wg.Wait()
		close(done)
	}()
	// The readers notice the cancellation when their XREAD BLOCK returns,
	// within l.block. Closing their client would interrupt them at once, but
	// go-redis then logs about the connections it loses; so that is only done
	// when they are slow (a read stuck on a dead connection).
	grace := time.NewTimer(l.block + 100*time.Millisecond)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		_ = l.blocking.Close()
	case <-ctx.Done():
	}
	select {
	case <-done:
	case <-ctx.Done():
		_ = l.blocking.Close()
		_ = l.client.Close() // interrupts whatever a loop is waiting for
		<-done
		return ctx.Err()
	}
	_ = l.blocking.Close()
	var err error
	if deregister {
		err = l.farewell(ctx)
	}
	_ = l.client.Close()
	l.hbOK.Store(false)
	l.refreshUp()
	if err != nil {
		l.log.Warn("federation link closed without removing itself from Redis: the others will drop it after NodeTimeout", "error", err)
		return err
	}
	l.log.Info("federation link closed")
	return nil
}

// farewell writes what is queued and removes this router from Redis.
func (l *Link) farewell(ctx context.Context) error {
	if l.pendingWork() {
		fs := flushState{byInc: map[string]*dest{}} // applyAcks fills byInc
		if _, err := l.flushOnce(ctx, &fs); err != nil {
			l.log.Warn("federation: messages still queued at Close were not written", "error", err)
		}
	}
	c, cancel := context.WithTimeout(ctx, l.opTimeout)
	defer cancel()
	pipe := l.client.Pipeline()
	pipe.Eval(c, scriptRemove, []string{l.keys.nodes, l.keys.ver, l.keys.routeSet(l.inc), l.keys.routeLog}, l.inc, -1, routeLogMaxLen)
	pipe.Del(c, l.keys.inbox(l.inc), l.keys.acks(l.inc))
	_, err := pipe.Exec(c)
	return err
}

// Up reports whether the link is connected: its last heartbeat succeeded and
// its route table is loaded. For /readyz. Local traffic flows either way.
func (l *Link) Up() bool { return l.up.Load() }

func (l *Link) refreshUp() {
	l.upMu.Lock()
	defer l.upMu.Unlock()
	up := l.hbOK.Load() && l.routesOK.Load() && !l.closed.Load()
	if l.up.Swap(up) != up {
		l.m.LinkUp(up)
	}
}

// Nodes returns the incarnations of the other live routers, as of the last
// heartbeat.
//
// A router that left (its "bye" is read) or was judged dead since that
// heartbeat is not listed: its heartbeat entry may outlive it by one
// heartbeat.
func (l *Link) Nodes() []string {
	live := *l.live.Load()
	out := make([]string, 0, len(live))
	l.tmu.Lock()
	defer l.tmu.Unlock()
	for _, n := range live {
		if _, dead := l.dead[n]; !dead {
			out = append(out, n)
		}
	}
	return out
}

// AddRoute announces a local interest. Call it when the first local
// subscriber to the route appears.
func (l *Link) AddRoute(r Route) { l.changeRoute(r, true) }

// RemoveRoute withdraws a local interest. Call it when the route's last local
// subscriber leaves.
func (l *Link) RemoveRoute(r Route) { l.changeRoute(r, false) }

func (l *Link) changeRoute(r Route, add bool) {
	row, err := r.row()
	if err != nil {
		l.log.Warn("federation: route ignored", "proto", r.Proto, "filter", r.Filter, "match", r.Match, "error", err)
		return
	}
	l.rmu.Lock()
	if add {
		l.local[row] = struct{}{}
	} else {
		delete(l.local, row)
	}
	l.pending[row] = struct{}{}
	l.changes++
	l.rmu.Unlock()
	select {
	case l.ctl <- struct{}{}:
	default:
	}
}

// Publish queues m for every other router with a route matching m.Topic
// (MQTT rules) or m.URI (WAMP rules) and returns how many that is. With no
// remote interest it returns 0 and touches nothing: no Redis command, no
// allocation. It never waits for Redis: a destination whose spool is full
// does not get the message (counted dropped{reason="spool_full"}), and while
// Redis is unreachable unreliable messages are dropped at once
// (dropped{reason="link_down"}).
func (l *Link) Publish(m Message) int {
	if m.Topic == "" && m.URI == "" {
		return 0
	}
	x := l.idx
	x.mu.RLock()
	if x.rows == 0 {
		x.mu.RUnlock()
		return 0
	}
	var small [4]uint64
	var set []uint64
	if w := x.words(); w <= len(small) {
		set = small[:w]
	} else {
		set = make([]uint64, w)
	}
	x.match(m.Topic, m.URI, set)
	var dsmall [8]*dest
	dests := dsmall[:0]
	for w, word := range set {
		for word != 0 {
			if d := x.dests[w*64+mathbits.TrailingZeros64(word)]; d != nil {
				dests = append(dests, d)
			}
			word &= word - 1
		}
	}
	if len(dests) == 0 || l.closed.Load() {
		x.mu.RUnlock()
		return 0
	}
	if !m.Reliable && l.sendFailing.Load() {
		x.mu.RUnlock()
		l.m.Dropped(DropLinkDown, len(dests))
		return 0
	}
	body := bytes.Clone(m.Body)
	if body == nil {
		body = []byte{}
	}
	// Queued under the read lock: once a route change is applied (under the
	// write lock), every message routed by the table before it is queued,
	// ahead of whatever is queued afterwards (see HasRoute).
	n, full, dead := 0, 0, 0
	for _, d := range dests {
		switch d.enqueue(body, m.Reliable, l.cfg.SpoolMessages, &l.budget) {
		case enqueued:
			n++
		case rejectedFull:
			full++
		case rejectedDead:
			dead++
		}
	}
	x.mu.RUnlock()
	if full > 0 {
		l.m.Dropped(DropSpoolFull, full)
		l.warn.log(l.log, slog.LevelWarn, "spool_full", "federation: spool full, new messages dropped",
			"topic", m.Topic, "uri", m.URI, "destinations", full, "spool_bytes", l.budget.used.Load())
	}
	if dead > 0 {
		l.m.Dropped(DropDeadNode, dead)
	}
	if n > 0 {
		l.kick()
	}
	return n
}

// Wants reports whether another router has a route matching topic (MQTT
// rules) or uri (WAMP rules), so that a caller can skip building a body no
// router wants. It costs what Publish's match costs, and allocates nothing.
func (l *Link) Wants(topic, uri string) bool {
	if topic == "" && uri == "" || l.closed.Load() {
		return false
	}
	x := l.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	if x.rows == 0 {
		return false
	}
	var small [4]uint64
	var set []uint64
	if w := x.words(); w <= len(small) {
		set = small[:w]
	} else {
		set = make([]uint64, w)
	}
	x.match(topic, uri, set)
	for w, word := range set {
		for word != 0 {
			if x.dests[w*64+mathbits.TrailingZeros64(word)] != nil {
				return true
			}
			word &= word - 1
		}
	}
	return false
}

// kick wakes the flusher.
func (l *Link) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Retain sets the cluster-wide retained message of topic (nil body clears
// it; an empty non-nil body is stored as empty). The change is written in
// the order of Retain calls and comes back to every router, this one
// included, through Handler.Retained. It never waits for Redis: changes are
// queued within the spool bounds (beyond them the change is dropped,
// counted dropped{reason="spool_full"}).
func (l *Link) Retain(topic string, body []byte) {
	if topic == "" || l.closed.Load() {
		return
	}
	b := bytes.Clone(body)
	l.retMu.Lock()
	ok := len(l.retQ) < l.cfg.SpoolMessages && l.budget.reserve(len(b)+len(topic))
	if ok {
		l.retQ = append(l.retQ, retainedChange{topic: topic, body: b})
	}
	l.retMu.Unlock()
	if !ok {
		l.m.Dropped(DropSpoolFull, 1)
		l.warn.log(l.log, slog.LevelWarn, "retained_full", "federation: spool full, retained change dropped", "topic", topic)
		return
	}
	l.kick()
}
