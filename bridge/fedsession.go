package bridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/federation"
)

// MQTT persistent sessions across routers.
//
// Each client id's session has one owner router, recorded in Redis
// (federation.Link.ClaimSession). A client that connects with a
// persistent session, or asks to resume one, makes its router claim the
// id; if another live router owned it, this router asks it for the
// session (a "request", sent to that router alone) and waits, bounded, for
// the answer before mochi answers CONNACK. The old owner takes over its
// own connection of the client (MQTT 5: DISCONNECT 0x8E), exports the
// session (subscriptions, and its QoS 1/2 messages in their order) and
// sends it back (a "session"); the new owner imports it into its MQTT
// engine before the engine looks the client id up, so the client gets
// session present and its queued messages, and the new owner announces
// the session's routes. Until no router can still route the session's
// messages to the old owner, the old owner keeps the session's
// subscriptions and forwards whatever reaches them to the new owner
// ("forward" messages). It stops after a barrier: once it sees the new
// owner's routes in its own table, it sends every other live router a
// "barrier" naming the new owner and the session's filters; each answers
// once its own table has those routes. A router's reliable messages arrive
// in the order it sent them, so its answer comes after every QoS >= 1
// message it routed to the old owner under the old routes (QoS 0 ones may
// be lost, as MQTT allows).
//
// When a router drains, it answers requests at once, and hands each
// persistent session it owns to another live router (Redis ownership moved
// first, then the session sent with request number 0): the other router
// adopts it offline, or, when a client claimed the id meanwhile, the
// router that claimed it gets it (its waiting CONNECT takes it, or it is
// merged). The draining router then runs each session's barrier before it
// leaves the cluster.
//
// Wire form (kind wireSession), after version and kind:
//
//	byte op: 1 request, 2 session, 3 forward, 4 barrier, 5 barrier answer, 6 routed
//	request: uvarint request number, strings client id, authid, realm; byte flags (bit 0: clean start)
//	session: uvarint request number (0: adopt it), uvarint export token (0 none), byte 0 (none) or 1 and an encoded MQTTSession
//	forward: string client id, an encoded MQTTInflight
//	barrier: uvarint token, string new owner, varint its route set version (0 unknown), uvarint count, strings filters
//	barrier answer: uvarint token
//	routed: uvarint export token, varint route set version (the new owner's answer to a session)

// MQTTSession is an MQTT session in transit between routers.
type MQTTSession struct {
	ClientID      string
	Identity      auth.Identity // whose session it is
	Version       byte          // MQTT protocol version of its last connection
	Expiry        uint32        // session expiry interval, seconds (MQTT 5 with ExpiryFlag)
	ExpiryFlag    bool
	Disconnected  int64 // unix seconds its client left; 0: it was connected
	Subscriptions []MQTTSubscription
	Inflight      []MQTTInflight // QoS 1/2 messages queued or unacknowledged, in order
}

// MQTTSubscription is one subscription of a session, with its options.
type MQTTSubscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	Identifier        int
}

// MQTTInflight is one outbound QoS 1/2 message of a session.
type MQTTInflight struct {
	PacketID uint16 // 0: a new message (forwarded), numbered by the receiving session
	PubRel   bool   // QoS 2 PUBREC received: only the PUBREL is left
	Created  int64  // unix seconds
	Expiry   int64  // unix seconds, 0 none
	SubIDs   []int
	Message  MQTTMessage
}

// MQTTSessions is the MQTT side's session mechanism; *mqtt.Server
// implements it.
type MQTTSessions interface {
	// ExportSession takes over the client's connection, if it has one
	// (MQTT 5: DISCONNECT 0x8E), and returns its session. The session
	// keeps its subscriptions here, and each QoS 1/2 message that reaches it
	// afterwards is handed to the hub's ForwardMQTTSession, until
	// EndForwarding. With clean, the session is dropped instead (ok false).
	ExportSession(clientID string, clean bool) (s MQTTSession, ok bool)
	// EndForwarding removes an exported session for good.
	EndForwarding(clientID string)
	// ImportSession adds a session: a new offline session, or merged into
	// the one this router holds for the client id.
	ImportSession(s MQTTSession)
	// DeliverSession sends one forwarded message to the client id's session.
	DeliverSession(clientID string, m MQTTInflight) error
	// PersistentSessions lists the persistent sessions held here.
	PersistentSessions() []string
}

// sessionLink is what hand-over needs of the link; *federation.Link
// implements it.
type sessionLink interface {
	ID() string
	Nodes() []string
	IsLive(node string) bool
	NodeAlive(ctx context.Context, node string) (bool, error)
	SendTo(node string, body []byte, reliable bool) bool
	ClaimSession(ctx context.Context, clientID string) (prev, from string, err error)
	MoveSession(ctx context.Context, clientID, to string) (moved bool, owner string, err error)
	HasRoute(node string, r federation.Route) bool
	RoutesWritten(ctx context.Context) (int64, error)
	RouteVersion(node string) int64
}

// Default timings of the hand-over (sessionState's fields).
const (
	defaultSessionWait       = 3 * time.Second  // a resuming CONNECT waits this long for the old owner
	defaultSessionForwardMax = 10 * time.Second // forwarding, and each step of a barrier, never lasts longer
	defaultSessionAdoptWait  = time.Second      // a request for a session being adopted here waits for it
	sessionPoll              = 10 * time.Millisecond
)

type sessionState struct {
	// Timings: set by init, tests may change them before the hub is used.
	wait, forwardMax, adoptWait time.Duration

	// Goroutines of the hand-over (answering requests, forwarding, waiting
	// for barriers) belong to ctx and wg: CloseSessions ends them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// xmu serializes exports and imports of sessions in the MQTT engine
	// with their records in moved. Without it, a session arriving here
	// while a request's export was under way could be imported between the
	// export's record and the engine's export: the export took the session
	// just imported, and the import then cleared the export's record as an
	// older one, leaving the engine forwarding to nowhere (messages lost,
	// found by TestSessionsAcrossRouterProcesses/rolling_restart in CI).
	// Taken before mu, never while holding it.
	xmu sync.Mutex

	mu       sync.Mutex
	ms       MQTTSessions
	closed   bool // CloseSessions: no new goroutine
	draining bool // HandOverMQTTSessions started: requests are answered at once
	nextReq  uint64
	waiting  map[uint64]*sessionWaiter
	moved    map[string]*movedSession   // client id → where its session went, while forwarding
	arrived  map[string][]chan struct{} // requests waiting for a session being adopted here
	barriers map[uint64]*barrierWait    // barriers this router waits for, by token
	exports  map[uint64]*movedSession   // exported sessions still forwarding, by token
	// went remembers, for a while, where a session went once this router
	// stopped forwarding to it: a forward from a router whose own window
	// outlived this one's (the session moved on from here) is passed on.
	went map[string]wentTo
}

// wentTo is where a session went, and when this router let it go.
type wentTo struct {
	dest string
	at   time.Time
}

func (s *sessionState) init() {
	s.wait, s.forwardMax, s.adoptWait = defaultSessionWait, defaultSessionForwardMax, defaultSessionAdoptWait
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.waiting = map[uint64]*sessionWaiter{}
	s.moved = map[string]*movedSession{}
	s.arrived = map[string][]chan struct{}{}
	s.barriers = map[uint64]*barrierWait{}
	s.exports = map[uint64]*movedSession{}
	s.went = map[string]wentTo{}
}

// clearMovedLocked forgets the client id's export if it is mv; it reports
// whether it did.
func (s *sessionState) clearMovedLocked(id string, mv *movedSession) bool {
	cur := s.moved[id]
	if cur == nil || cur != mv {
		return false
	}
	delete(s.moved, id)
	delete(s.exports, cur.token)
	close(cur.gone)
	return true
}

// goSession runs f on a goroutine that CloseSessions waits for; it reports
// false (f not run) once the sessions are closed.
func (h *Hub) goSession(f func(ctx context.Context)) bool {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	if h.sess.closed {
		return false
	}
	h.sess.wg.Add(1)
	go func() {
		defer h.sess.wg.Done()
		f(h.sess.ctx)
	}()
	return true
}

// CloseSessions ends the hand-over's goroutines: waits for sessions and
// barriers end, forwarding stops. The router calls it at a drain after the
// MQTT server closed (and handed its sessions over), before the link closes.
func (h *Hub) CloseSessions() {
	h.sess.mu.Lock()
	h.sess.closed = true
	h.sess.mu.Unlock()
	h.sess.cancel()
	h.sess.wg.Wait()
}

// movedSession is an exported session that forwards to the router that has
// it. Forwards wait until the session itself is sent, so that they reach
// that router after it; so do the answers to that router's requests for it.
type movedSession struct {
	dest    string
	token   uint64 // names it in the new owner's "routed" answer
	sent    bool
	pending [][]byte
	answers []uint64      // requests of dest's, answered (none) once the session is sent
	routed  chan int64    // the new owner's route set version with the session's routes
	gone    chan struct{} // closed when it no longer forwards (ended, or superseded)
}

type sessionWaiter struct {
	clientID string
	node     string            // the router asked
	done     chan *MQTTSession // nil: no session; buffered, one answer
}

// barrierWait is a barrier this router started: the routers that have not
// answered yet.
type barrierWait struct {
	left map[string]bool
	done chan struct{} // closed when left is empty
}

// ConnectSessions gives the hub the MQTT side's session mechanism.
func (h *Hub) ConnectSessions(ms MQTTSessions) {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	h.sess.ms = ms
}

func (h *Hub) sessionLink() (sessionLink, MQTTSessions) {
	f := h.fed.Load()
	if f == nil {
		return nil, nil
	}
	l, ok := (*f).(sessionLink)
	if !ok {
		return nil, nil
	}
	h.sess.mu.Lock()
	ms := h.sess.ms
	h.sess.mu.Unlock()
	if ms == nil {
		return nil, nil
	}
	return l, ms
}

// ResumeMQTTSession is called when a client connects with a persistent
// session or asks to resume one, before the MQTT engine looks its client id
// up: this router claims the id, and the session of the previous owner, if
// another live router, is imported here (nil when none came). It waits at
// most sess.wait.
func (h *Hub) ResumeMQTTSession(clientID string, id auth.Identity, clean bool) *MQTTSession {
	link, _ := h.sessionLink()
	if link == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(h.sess.ctx, h.sess.wait)
	defer cancel()
	prev, from, err := link.ClaimSession(ctx, clientID)
	if err != nil {
		h.warn("MQTT session not claimed in Redis: a session on another router is not resumed", "client", clientID, "error", err)
		return nil
	}
	if prev == link.ID() && from != "" {
		// A draining router was handing it here: it answers once the session
		// (sent before the answer) has arrived.
		prev = from
	}
	if prev == "" || prev == link.ID() {
		return nil
	}
	if !link.IsLive(prev) {
		h.log.Info("MQTT session's previous router is gone: its session is lost", "client", clientID, "router", prev)
		return nil
	}
	w := &sessionWaiter{clientID: clientID, node: prev, done: make(chan *MQTTSession, 1)}
	h.sess.mu.Lock()
	h.sess.nextReq++
	req := h.sess.nextReq
	h.sess.waiting[req] = w
	h.sess.mu.Unlock()
	defer func() {
		h.sess.mu.Lock()
		delete(h.sess.waiting, req)
		h.sess.mu.Unlock()
	}()
	if !link.SendTo(prev, encodeSessionRequest(req, clientID, id.AuthID, id.Realm, clean), true) {
		h.warn("MQTT session request not sent", "client", clientID, "router", prev)
		return nil
	}
	select {
	case s := <-w.done:
		return s
	case <-ctx.Done():
		h.warn("MQTT session hand-over timed out: the client starts without it (it is merged when it comes)", "client", clientID, "router", prev)
		return nil
	}
}

// MQTTSessionEnded releases the ownership of a session that ended here
// (expired, or ended with its connection).
func (h *Hub) MQTTSessionEnded(clientID string) {
	link, _ := h.sessionLink()
	if link == nil {
		return
	}
	h.sess.mu.Lock()
	_, moving := h.sess.moved[clientID]
	h.sess.mu.Unlock()
	if moving {
		return
	}
	h.goSession(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, h.sess.wait)
		defer cancel()
		if _, _, err := link.MoveSession(ctx, clientID, ""); err != nil && ctx.Err() == nil {
			h.warn("MQTT session ownership not released in Redis", "client", clientID, "error", err)
		}
	})
}

// ForwardMQTTSession sends a message that reached an exported session to
// the router that has it now.
func (h *Hub) ForwardMQTTSession(clientID string, m MQTTInflight) {
	link, _ := h.sessionLink()
	body := encodeSessionForward(clientID, m)
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	mv := h.sess.moved[clientID]
	if mv != nil && !mv.sent {
		mv.pending = append(mv.pending, body)
		return
	}
	dest := ""
	if mv != nil {
		dest = mv.dest
	} else if w, ok := h.sess.went[clientID]; ok && time.Since(w.at) <= 3*h.sess.forwardMax {
		// Forwarding just ended, and the engine still handed one over: it
		// goes where the session went.
		dest = w.dest
	}
	if link == nil || dest == "" || !link.SendTo(dest, body, true) {
		h.warn("message for a moved MQTT session not forwarded", "client", clientID, "topic", m.Message.Topic, "router", dest)
	}
}

// HandOverMQTTSessions gives each persistent session this router holds to
// another live router, at a drain, after the clients were disconnected and
// before the link closes. A session whose client id another router claimed
// meanwhile goes to that router (which merges it, or hands it to the
// connection waiting for it). It returns when every router has routed what
// it had for these sessions here (a barrier per session, as for a resume),
// or ctx ends. Requests for sessions are answered at once from its start.
func (h *Hub) HandOverMQTTSessions(ctx context.Context) {
	link, ms := h.sessionLink()
	if link == nil {
		return
	}
	h.sess.mu.Lock()
	h.sess.draining = true
	h.sess.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(h.sess.ctx, cancel)
	defer stop()
	// Sessions exported before (a client that left for another router a
	// moment ago, or at the start of this drain) still forward what other
	// routers route here for them: the drain waits for their barriers too,
	// or the messages those routers sent here meanwhile die with this link.
	defer h.waitExports(ctx)
	ids := ms.PersistentSessions()
	if len(ids) == 0 {
		return
	}
	nodes := aliveNow(ctx, link, link.Nodes())
	if len(nodes) == 0 {
		h.log.Warn("draining: no other live router to hand MQTT sessions to; they end with this router", "sessions", len(ids))
		return
	}
	var wg sync.WaitGroup
	moved := 0
	for _, id := range ids {
		f := fnv.New32a()
		_, _ = f.Write([]byte(id))
		dest := nodes[int(f.Sum32()%uint32(len(nodes)))]
		ok, owner, err := link.MoveSession(ctx, id, dest)
		if err != nil {
			h.warn("draining: MQTT session ownership not moved in Redis; the session goes anyway", "client", id, "router", dest, "error", err)
		} else if !ok {
			if owner == "" || owner == link.ID() || !link.IsLive(owner) {
				h.log.Info("draining: MQTT session not handed over: nobody owns it now", "client", id, "owner", owner)
				continue
			}
			dest = owner // claimed meanwhile: its new owner waits for it, or merges it
		}
		mv, s, ok := h.exportTo(ms, id, dest)
		if !ok {
			continue // exported already, to the router that asked
		}
		if !h.sendSession(link, mv, 0, &s) {
			h.warn("draining: MQTT session not handed over: the router is gone; it ends here", "client", id, "router", dest)
			h.unexport(ms, id, mv, s)
			continue
		}
		moved++
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.endForwardingWhenRouted(ctx, link, ms, mv, s)
		}()
	}
	h.log.Info("draining: MQTT sessions handed to other routers", "sessions", moved)
	wg.Wait()
}

// aliveNow keeps the routers of nodes that Redis says are alive now.
// nodes is this router's view as of its last heartbeat: a router that left
// a moment ago (as in a rolling restart) is still in it, and a session
// handed to it would be lost with it. If Redis cannot say, nodes stays as
// it is.
func aliveNow(ctx context.Context, link sessionLink, nodes []string) []string {
	out := make([]string, 0, len(nodes))
	for _, n := range nodes {
		alive, err := link.NodeAlive(ctx, n)
		if err != nil {
			return nodes
		}
		if alive {
			out = append(out, n)
		}
	}
	return out
}

// waitExports waits until no exported session forwards any more, or ctx
// ends.
func (h *Hub) waitExports(ctx context.Context) {
	for {
		h.sess.mu.Lock()
		var gone chan struct{}
		for _, mv := range h.sess.exports {
			gone = mv.gone
			break
		}
		h.sess.mu.Unlock()
		if gone == nil {
			return
		}
		select {
		case <-gone:
		case <-ctx.Done():
			return
		}
	}
}

// exportTo exports a session and records that it forwards to dest. A
// session exported already (the drain and a request for it race, or two
// requests) is not exported again, and the first export's record stays:
// the loser must not end the winner's forwarding. (A session that came
// back here has no record: sessionArrived cleared it.)
func (h *Hub) exportTo(ms MQTTSessions, id, dest string) (*movedSession, MQTTSession, bool) {
	mv := &movedSession{dest: dest, routed: make(chan int64, 1), gone: make(chan struct{})}
	h.sess.xmu.Lock()
	defer h.sess.xmu.Unlock()
	h.sess.mu.Lock()
	if h.sess.moved[id] != nil {
		h.sess.mu.Unlock()
		return mv, MQTTSession{}, false
	}
	h.sess.nextReq++
	mv.token = h.sess.nextReq
	// Recorded before the export: what reaches it from now on is forwarded.
	h.sess.moved[id] = mv
	h.sess.exports[mv.token] = mv
	h.sess.mu.Unlock()
	s, ok := ms.ExportSession(id, false)
	if !ok {
		h.sess.mu.Lock()
		h.sess.clearMovedLocked(id, mv)
		h.sess.mu.Unlock()
	}
	return mv, s, ok
}

// unexport takes back a session that could not be sent.
func (h *Hub) unexport(ms MQTTSessions, id string, mv *movedSession, s MQTTSession) {
	h.sess.xmu.Lock()
	defer h.sess.xmu.Unlock()
	h.sess.mu.Lock()
	h.sess.clearMovedLocked(id, mv)
	h.sess.mu.Unlock()
	ms.ImportSession(s)
}

// routable lists the filters of a session that are routes.
func routable(s MQTTSession) []string {
	var fs []string
	for _, sub := range s.Subscriptions {
		if !strings.HasPrefix(sub.Filter, "$") || strings.HasPrefix(sub.Filter, "$share/") {
			fs = append(fs, sub.Filter)
		}
	}
	return fs
}

// routed reports whether this router's table has dest's routes for
// filters: its route set at version ver or later (ver > 0: dest wrote the
// session's routes by then), or else the routes themselves. Its own are
// routed when dest is this router.
func routed(link sessionLink, dest string, filters []string, ver int64) bool {
	if dest == link.ID() {
		return true
	}
	if ver > 0 {
		return link.RouteVersion(dest) >= ver
	}
	for _, f := range filters {
		if !link.HasRoute(dest, federation.Route{Proto: federation.ProtoMQTT, Filter: f}) {
			return false
		}
	}
	return true
}

// waitRouted polls until routed; false when ctx ended or stop was closed
// first.
func waitRouted(ctx context.Context, stop <-chan struct{}, link sessionLink, dest string, filters []string, ver int64) bool {
	if routed(link, dest, filters, ver) {
		return true
	}
	t := time.NewTicker(sessionPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-stop:
			return false
		case <-t.C:
			if routed(link, dest, filters, ver) {
				return true
			}
		}
	}
}

// endForwardingWhenRouted ends the forwarding of an exported session once
// no router can still send here what belongs to dest now. It waits until
// dest's routes for the session's filters are in this router's table, then
// sends every other live router a barrier naming dest and the filters; a
// router answers once its own table has those routes. Reliable messages of
// one router arrive in the order it sent them, so once it answered, every
// QoS ≥ 1 message it routed here for the session has arrived (and was
// forwarded). A router that dies meanwhile counts as answered. Each step
// waits at most sess.forwardMax.
func (h *Hub) endForwardingWhenRouted(ctx context.Context, link sessionLink, ms MQTTSessions, mv *movedSession, s MQTTSession) {
	filters := routable(s)
	wctx, cancel := context.WithTimeout(ctx, h.sess.forwardMax)
	defer cancel()
	var ver int64
	select {
	case ver = <-mv.routed:
	case <-mv.gone:
	case <-wctx.Done():
	}
	if !waitRouted(wctx, mv.gone, link, mv.dest, filters, ver) && ctx.Err() == nil && wctx.Err() != nil {
		h.warn("MQTT session's new routes not seen in time: forwarding ends anyway", "client", s.ClientID, "router", mv.dest)
	}
	if len(filters) > 0 && ctx.Err() == nil {
		h.barrier(ctx, mv.gone, link, s.ClientID, mv.dest, filters, ver)
	}
	h.sess.xmu.Lock()
	defer h.sess.xmu.Unlock()
	h.sess.mu.Lock()
	current := h.sess.clearMovedLocked(s.ClientID, mv)
	if current {
		now := time.Now()
		for id, w := range h.sess.went {
			if now.Sub(w.at) > 3*h.sess.forwardMax {
				delete(h.sess.went, id)
			}
		}
		h.sess.went[s.ClientID] = wentTo{dest: mv.dest, at: now}
	}
	h.sess.mu.Unlock()
	if current {
		ms.EndForwarding(s.ClientID) // forwards what it still holds
	}
}

// barrier sends a barrier to every other live router and waits, bounded,
// until each answered or is gone.
func (h *Hub) barrier(ctx context.Context, stop <-chan struct{}, link sessionLink, clientID, dest string, filters []string, ver int64) {
	b := &barrierWait{left: map[string]bool{}, done: make(chan struct{})}
	h.sess.mu.Lock()
	h.sess.nextReq++
	token := h.sess.nextReq
	nodes := link.Nodes()
	for _, n := range nodes {
		b.left[n] = true
	}
	h.sess.barriers[token] = b
	h.sess.mu.Unlock()
	defer func() {
		h.sess.mu.Lock()
		delete(h.sess.barriers, token)
		h.sess.mu.Unlock()
	}()
	body := encodeSessionBarrier(token, dest, ver, filters)
	for _, n := range nodes {
		if !link.SendTo(n, body, true) {
			h.barrierAnswered(token, n) // gone
		}
	}
	t := time.NewTimer(h.sess.forwardMax)
	defer t.Stop()
	select {
	case <-b.done:
	case <-ctx.Done():
	case <-stop:
	case <-t.C:
		h.sess.mu.Lock()
		left := len(b.left)
		h.sess.mu.Unlock()
		h.warn("MQTT session barrier not answered in time: forwarding ends anyway", "client", clientID, "routers", left)
	}
}

// barrierAnswered records node's answer (or its death) for a barrier.
func (h *Hub) barrierAnswered(token uint64, node string) {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	b := h.sess.barriers[token]
	if b == nil || !b.left[node] {
		return
	}
	delete(b.left, node)
	if len(b.left) == 0 {
		close(b.done)
	}
}

// answerBarrier answers another router's barrier once this router's table
// has dest's routes for the filters, behind every message routed to that
// router before.
func (h *Hub) answerBarrier(link sessionLink, origin string, m sessionWire) {
	answer := func() { link.SendTo(origin, encodeSessionBarrierAck(m.req), true) }
	if routed(link, m.dest, m.filters, m.ver) {
		answer()
		return
	}
	if !h.goSession(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, h.sess.forwardMax)
		defer cancel()
		waitRouted(ctx, nil, link, m.dest, m.filters, m.ver)
		answer()
	}) {
		answer()
	}
}

// sendSession sends an exported session, then the forwards and answers
// that waited for it, in order.
func (h *Hub) sendSession(link sessionLink, mv *movedSession, req uint64, s *MQTTSession) bool {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	if !link.SendTo(mv.dest, encodeSession(req, mv.token, s), true) {
		return false
	}
	mv.sent = true
	for _, b := range mv.pending {
		if !link.SendTo(mv.dest, b, true) {
			h.warn("message for a moved MQTT session not forwarded", "client", s.ClientID)
		}
	}
	mv.pending = nil
	for _, r := range mv.answers {
		link.SendTo(mv.dest, encodeSession(r, 0, nil), true)
	}
	mv.answers = nil
	return true
}

// sessionFromRouter handles a session message from another router. It
// runs on the link's delivery goroutine: imports, forwards and barriers are
// handled in order here; answering a request (which may wait) is not.
func (h *Hub) sessionFromRouter(origin string, body []byte) {
	link, ms := h.sessionLink()
	if link == nil {
		return
	}
	m, err := decodeSessionWire(body)
	if err != nil {
		h.cfg.Metrics.Unmapped("wire")
		h.warn("session message from another router ignored", "router", origin, "error", err)
		return
	}
	switch m.op {
	case sessionOpRequest:
		if !h.answerAtOnce(link, origin, m) && !h.goSession(func(ctx context.Context) { h.answerSessionRequest(ctx, link, ms, origin, m) }) {
			link.SendTo(origin, encodeSession(m.req, 0, nil), true)
		}
	case sessionOpSession:
		h.sessionArrived(link, ms, origin, m)
	case sessionOpForward:
		if err := ms.DeliverSession(m.clientID, m.inflight); err != nil {
			// Not here any more: pass it on to where the session went, if it
			// left recently (another router's forwarding window outlived
			// this router's).
			h.sess.mu.Lock()
			w, ok := h.sess.went[m.clientID]
			h.sess.mu.Unlock()
			if ok && w.dest != origin && time.Since(w.at) <= 3*h.sess.forwardMax &&
				link.SendTo(w.dest, encodeSessionForward(m.clientID, m.inflight), true) {
				return
			}
			h.warn("forwarded message for an MQTT session not delivered", "client", m.clientID, "error", err)
		}
	case sessionOpBarrier:
		h.answerBarrier(link, origin, m)
	case sessionOpBarrierAck:
		h.barrierAnswered(m.req, origin)
	case sessionOpRouted:
		h.sess.mu.Lock()
		if mv := h.sess.exports[m.req]; mv != nil && mv.dest == origin {
			select {
			case mv.routed <- m.ver:
			default:
			}
		}
		h.sess.mu.Unlock()
	}
}

// sessionArrived imports a session from another router and wakes whoever
// waits for it: the request it answers, or (a session handed over by a
// draining router, request 0) a request for the same client id.
func (h *Hub) sessionArrived(link sessionLink, ms MQTTSessions, origin string, m sessionWire) {
	// The export of this session that forwarded from here before it came
	// back ends with the import; one made after the import (a router asked
	// for it meanwhile) is another's and stays.
	if m.session != nil {
		id := m.session.ClientID
		h.sess.xmu.Lock() // no export begins or ends between the look and the import
		h.sess.mu.Lock()
		delete(h.sess.went, id) // it is here again
		before := h.sess.moved[id]
		h.sess.mu.Unlock()
		ms.ImportSession(*m.session)
		if before != nil {
			h.sess.mu.Lock()
			h.sess.clearMovedLocked(id, before) // it is here again: the older export's forwarding must not end it
			h.sess.mu.Unlock()
		}
		h.sess.xmu.Unlock()
		if m.token != 0 {
			// The old owner forwards until every router has this router's
			// routes for it: say from which version of the route set on.
			token := m.token
			h.goSession(func(ctx context.Context) {
				ctx, cancel := context.WithTimeout(ctx, h.sess.forwardMax)
				defer cancel()
				ver, _ := link.RoutesWritten(ctx) // 0 (not known): the old owner looks for the routes themselves
				link.SendTo(origin, encodeSessionRouted(token, ver), true)
			})
		}
	}
	h.sess.mu.Lock()
	var w *sessionWaiter
	if m.req != 0 {
		w = h.sess.waiting[m.req]
	} else if m.session != nil {
		for _, x := range h.sess.waiting {
			if x.clientID == m.session.ClientID {
				w = x
				break
			}
		}
	}
	var arrived []chan struct{}
	if m.session != nil {
		id := m.session.ClientID
		arrived = h.sess.arrived[id]
		delete(h.sess.arrived, id)
	}
	h.sess.mu.Unlock()
	for _, c := range arrived {
		close(c)
	}
	if w != nil {
		select {
		case w.done <- m.session:
		default: // answered already
		}
	}
}

// answerAtOnce answers a request that needs no waiting: for a clean start,
// or at a drain, or for a session already on its way to the router asking.
// It reports false when the request needs answerSessionRequest.
func (h *Hub) answerAtOnce(link sessionLink, origin string, m sessionWire) bool {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	if mv := h.sess.moved[m.clientID]; mv != nil && mv.dest == origin {
		// Handed over already (a drain, or an earlier request): the answer
		// follows the session.
		if mv.sent {
			link.SendTo(origin, encodeSession(m.req, 0, nil), true)
		} else {
			mv.answers = append(mv.answers, m.req)
		}
		return true
	}
	return false
}

func (h *Hub) answerSessionRequest(ctx context.Context, link sessionLink, ms MQTTSessions, origin string, m sessionWire) {
	if m.clean {
		h.sess.xmu.Lock()
		ms.ExportSession(m.clientID, true)
		h.sess.xmu.Unlock()
		link.SendTo(origin, encodeSession(m.req, 0, nil), true)
		return
	}
	mv, s, ok := h.exportTo(ms, m.clientID, origin)
	h.sess.mu.Lock()
	draining := h.sess.draining
	h.sess.mu.Unlock()
	if !ok && !draining {
		// It may be on its way here from a draining router (which moved
		// the ownership before sending it): wait for it a moment.
		c := make(chan struct{})
		h.sess.mu.Lock()
		h.sess.arrived[m.clientID] = append(h.sess.arrived[m.clientID], c)
		h.sess.mu.Unlock()
		// It may have arrived between the export above and the line before.
		if mv, s, ok = h.exportTo(ms, m.clientID, origin); !ok {
			t := time.NewTimer(h.sess.adoptWait)
			select {
			case <-c:
				mv, s, ok = h.exportTo(ms, m.clientID, origin)
			case <-t.C:
			case <-ctx.Done():
			}
			t.Stop()
		}
		h.sess.mu.Lock()
		h.sess.arrived[m.clientID] = slices.DeleteFunc(h.sess.arrived[m.clientID], func(x chan struct{}) bool { return x == c })
		if len(h.sess.arrived[m.clientID]) == 0 {
			delete(h.sess.arrived, m.clientID) // nobody waits for it any more
		}
		h.sess.mu.Unlock()
	}
	if !ok {
		link.SendTo(origin, encodeSession(m.req, 0, nil), true)
		return
	}
	if !h.sendSession(link, mv, m.req, &s) {
		h.warn("MQTT session not handed over: the router that asked is gone; it is kept here", "client", m.clientID, "router", origin)
		h.unexport(ms, m.clientID, mv, s)
		return
	}
	h.endForwardingWhenRouted(ctx, link, ms, mv, s)
}

// sessionNodeGone: a router that is gone answers no barrier and no
// request; forwarding to it stops (SendTo fails and says so).
func (h *Hub) sessionNodeGone(node string) {
	h.sess.mu.Lock()
	var tokens []uint64
	for t, b := range h.sess.barriers {
		if b.left[node] {
			tokens = append(tokens, t)
		}
	}
	var waiters []*sessionWaiter
	for _, w := range h.sess.waiting {
		if w.node == node {
			waiters = append(waiters, w)
		}
	}
	h.sess.mu.Unlock()
	for _, t := range tokens {
		h.barrierAnswered(t, node)
	}
	for _, w := range waiters {
		select {
		case w.done <- nil:
		default:
		}
	}
}

// The wire form.

const (
	sessionOpRequest    = 1
	sessionOpSession    = 2
	sessionOpForward    = 3
	sessionOpBarrier    = 4
	sessionOpBarrierAck = 5
	sessionOpRouted     = 6
)

type sessionWire struct {
	op                      byte
	req                     uint64
	clientID, authID, realm string
	clean                   bool
	session                 *MQTTSession
	inflight                MQTTInflight
	token                   uint64   // session: the export's token (0 none)
	ver                     int64    // barrier, routed: a route set version
	dest                    string   // barrier: the router that has the session now
	filters                 []string // barrier: the session's filters
}

func encodeSessionRequest(req uint64, clientID, authID, realm string, clean bool) []byte {
	b := []byte{wireVersion, wireSession, sessionOpRequest}
	b = binary.AppendUvarint(b, req)
	b = appendString(appendString(appendString(b, clientID), authID), realm)
	if clean {
		return append(b, 1)
	}
	return append(b, 0)
}

func encodeSession(req, token uint64, s *MQTTSession) []byte {
	b := []byte{wireVersion, wireSession, sessionOpSession}
	b = binary.AppendUvarint(b, req)
	b = binary.AppendUvarint(b, token)
	if s == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return appendSession(b, s)
}

func encodeSessionForward(clientID string, m MQTTInflight) []byte {
	b := []byte{wireVersion, wireSession, sessionOpForward}
	return appendInflight(appendString(b, clientID), m)
}

// encodeSessionBarrier: token in req's place.
func encodeSessionBarrier(token uint64, dest string, ver int64, filters []string) []byte {
	b := []byte{wireVersion, wireSession, sessionOpBarrier}
	b = binary.AppendUvarint(b, token)
	b = appendString(b, dest)
	b = binary.AppendVarint(b, ver)
	b = binary.AppendUvarint(b, uint64(len(filters)))
	for _, f := range filters {
		b = appendString(b, f)
	}
	return b
}

func encodeSessionRouted(token uint64, ver int64) []byte {
	b := binary.AppendUvarint([]byte{wireVersion, wireSession, sessionOpRouted}, token)
	return binary.AppendVarint(b, ver)
}

func encodeSessionBarrierAck(token uint64) []byte {
	return binary.AppendUvarint([]byte{wireVersion, wireSession, sessionOpBarrierAck}, token)
}

func appendSession(b []byte, s *MQTTSession) []byte {
	id := s.Identity
	for _, str := range []string{s.ClientID, id.AuthID, id.Role, id.Realm, id.Method} {
		b = appendString(b, str)
	}
	var flags byte
	if s.ExpiryFlag {
		flags = 1
	}
	b = append(b, s.Version, flags)
	b = binary.AppendUvarint(b, uint64(s.Expiry))
	b = binary.AppendVarint(b, s.Disconnected)
	b = binary.AppendUvarint(b, uint64(len(s.Subscriptions)))
	for _, sub := range s.Subscriptions {
		b = appendString(b, sub.Filter)
		var f byte
		if sub.NoLocal {
			f |= 1
		}
		if sub.RetainAsPublished {
			f |= 2
		}
		b = append(b, sub.QoS, f, sub.RetainHandling)
		b = binary.AppendUvarint(b, uint64(sub.Identifier))
	}
	b = binary.AppendUvarint(b, uint64(len(s.Inflight)))
	for _, m := range s.Inflight {
		b = appendInflight(b, m)
	}
	return b
}

func appendInflight(b []byte, m MQTTInflight) []byte {
	b = binary.AppendUvarint(b, uint64(m.PacketID))
	var f byte
	if m.PubRel {
		f = 1
	}
	b = append(b, f)
	b = binary.AppendVarint(b, m.Created)
	b = binary.AppendVarint(b, m.Expiry)
	b = binary.AppendUvarint(b, uint64(len(m.SubIDs)))
	for _, id := range m.SubIDs {
		b = binary.AppendUvarint(b, uint64(id))
	}
	return appendString(b, string(EncodeMQTT(m.Message)))
}

func decodeSessionWire(body []byte) (sessionWire, error) {
	r := wireReader{b: body}
	var w sessionWire
	if v, k := r.byte(), r.byte(); r.err == nil && (v != wireVersion || k != wireSession) {
		return w, fmt.Errorf("%w: not a session message", ErrWire)
	}
	w.op = r.byte()
	switch w.op {
	case sessionOpRequest:
		w.req = r.uvarint()
		w.clientID, w.authID, w.realm = r.string(), r.string(), r.string()
		switch r.byte() {
		case 0:
		case 1:
			w.clean = true
		default:
			r.fail("request flags")
		}
	case sessionOpSession:
		w.req = r.uvarint()
		w.token = r.uvarint()
		switch r.byte() {
		case 0:
		case 1:
			s := readSession(&r)
			w.session = &s
		default:
			r.fail("session presence")
		}
	case sessionOpForward:
		w.clientID = r.string()
		w.inflight = readInflight(&r)
	case sessionOpBarrier:
		w.req = r.uvarint()
		w.dest = r.string()
		w.ver = r.varint()
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			r.fail("filter count")
			break
		}
		for range n {
			w.filters = append(w.filters, r.string())
		}
	case sessionOpBarrierAck:
		w.req = r.uvarint()
	case sessionOpRouted:
		w.req = r.uvarint()
		w.ver = r.varint()
	default:
		r.fail("session op")
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("trailing bytes")
	}
	return w, r.err
}

func readSession(r *wireReader) MQTTSession {
	var s MQTTSession
	s.ClientID = r.string()
	s.Identity = auth.Identity{AuthID: r.string(), Role: r.string(), Realm: r.string(), Method: r.string(), ClientID: s.ClientID}
	s.Version = r.byte()
	switch r.byte() {
	case 0:
	case 1:
		s.ExpiryFlag = true
	default:
		r.fail("session flags")
	}
	exp := r.uvarint()
	if exp > 1<<32-1 {
		r.fail("session expiry")
	}
	s.Expiry = uint32(exp)
	s.Disconnected = r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("subscription count")
		return s
	}
	for range n {
		sub := MQTTSubscription{Filter: r.string(), QoS: r.byte()}
		f := r.byte()
		sub.RetainHandling = r.byte()
		id := r.uvarint()
		if sub.QoS > 2 || f > 3 || sub.RetainHandling > 2 || id > 1<<28 {
			r.fail("subscription options")
		}
		sub.NoLocal, sub.RetainAsPublished, sub.Identifier = f&1 != 0, f&2 != 0, int(id)
		if r.err != nil {
			return s
		}
		s.Subscriptions = append(s.Subscriptions, sub)
	}
	n = r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("inflight count")
		return s
	}
	for range n {
		m := readInflight(r)
		if r.err != nil {
			return s
		}
		s.Inflight = append(s.Inflight, m)
	}
	return s
}

func readInflight(r *wireReader) MQTTInflight {
	var m MQTTInflight
	id := r.uvarint()
	if id > 65535 {
		r.fail("packet id")
	}
	m.PacketID = uint16(id)
	switch r.byte() {
	case 0:
	case 1:
		m.PubRel = true
	default:
		r.fail("inflight flags")
	}
	m.Created, m.Expiry = r.varint(), r.varint()
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail("subscription identifiers")
		return m
	}
	for range n {
		id := r.uvarint()
		if id > 1<<28 {
			r.fail("subscription identifier")
		}
		m.SubIDs = append(m.SubIDs, int(id))
	}
	body := r.string()
	if r.err != nil {
		return m
	}
	rem, err := DecodeRemote([]byte(body))
	if err != nil || rem.MQTT == nil {
		r.fail("inflight message")
		return m
	}
	m.Message = *rem.MQTT
	return m
}

func (r *wireReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.fail("bad number")
		return 0
	}
	r.b = r.b[k:]
	return n
}
