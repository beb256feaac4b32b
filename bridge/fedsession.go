package bridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/fnv"
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
// the session's routes. Until the other routers know those routes, the old
// owner keeps the session's subscriptions and forwards whatever reaches
// them to the new owner ("forward" messages), until it sees the new
// owner's routes in its own route table, and sessionGrace more.
//
// When a router drains, it hands each persistent session it owns to
// another live router (Redis ownership moved first, then the session sent
// with request number 0): the other router adopts it offline. The draining
// router waits, bounded, until its route table shows the adopter's routes
// for those sessions before it leaves the cluster: the route log is one
// order, so no router drops the leaver's routes before it knows the
// adopter's.
//
// Wire form (kind wireSession), after version and kind:
//
//	byte op: 1 request, 2 session, 3 forward
//	request: uvarint request number, strings client id, authid, realm; byte flags (bit 0: clean start)
//	session: uvarint request number (0: adopt it), byte 0 (none) or 1 and an encoded MQTTSession
//	forward: string client id, an encoded MQTTInflight

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
	SendTo(node string, body []byte, reliable bool) bool
	ClaimSession(ctx context.Context, clientID string) (string, error)
	MoveSession(ctx context.Context, clientID, to string) (bool, error)
	HasRoute(node string, r federation.Route) bool
}

// Timings of the hand-over.
var (
	sessionWait       = 3 * time.Second        // a resuming CONNECT waits this long for the old owner
	sessionGrace      = 500 * time.Millisecond // forwarding goes on this long after the new owner's routes are seen
	sessionForwardMax = 10 * time.Second       // and never longer than this
	sessionAdoptWait  = time.Second            // a request for a session being adopted here waits for it
)

type sessionState struct {
	mu      sync.Mutex
	ms      MQTTSessions
	nextReq uint64
	waiting map[uint64]*sessionWaiter
	moved   map[string]*movedSession   // client id → where its session went, while forwarding
	arrived map[string][]chan struct{} // requests waiting for a session being adopted here
}

// movedSession is an exported session that forwards to the router that has
// it. Forwards wait until the session itself is sent, so that they reach
// that router after it.
type movedSession struct {
	dest    string
	sent    bool
	pending [][]byte
}

type sessionWaiter struct {
	clientID string
	done     chan *MQTTSession // nil: no session
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
// most sessionWait.
func (h *Hub) ResumeMQTTSession(clientID string, id auth.Identity, clean bool) *MQTTSession {
	link, _ := h.sessionLink()
	if link == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
	defer cancel()
	prev, err := link.ClaimSession(ctx, clientID)
	if err != nil {
		h.warn("MQTT session not claimed in Redis: a session on another router is not resumed", "client", clientID, "error", err)
		return nil
	}
	if prev == "" || prev == link.ID() {
		return nil
	}
	if !link.IsLive(prev) {
		h.log.Info("MQTT session's previous router is gone: its session is lost", "client", clientID, "router", prev)
		return nil
	}
	w := &sessionWaiter{clientID: clientID, done: make(chan *MQTTSession, 1)}
	h.sess.mu.Lock()
	h.sess.nextReq++
	req := h.sess.nextReq
	if h.sess.waiting == nil {
		h.sess.waiting = map[uint64]*sessionWaiter{}
	}
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
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), sessionWait)
		defer cancel()
		if _, err := link.MoveSession(ctx, clientID, ""); err != nil {
			h.warn("MQTT session ownership not released in Redis", "client", clientID, "error", err)
		}
	}()
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
	if link == nil || mv == nil || !link.SendTo(mv.dest, body, true) {
		h.warn("message for a moved MQTT session not forwarded", "client", clientID, "topic", m.Message.Topic)
	}
}

// HandOverMQTTSessions gives each persistent session this router holds to
// another live router, at a drain, after the clients were disconnected and
// before the link closes. It returns when the adopters' routes are known
// here, or ctx ends.
func (h *Hub) HandOverMQTTSessions(ctx context.Context) {
	link, ms := h.sessionLink()
	if link == nil {
		return
	}
	ids := ms.PersistentSessions()
	if len(ids) == 0 {
		return
	}
	nodes := link.Nodes()
	if len(nodes) == 0 {
		h.log.Warn("draining: no other live router to hand MQTT sessions to; they end with this router", "sessions", len(ids))
		return
	}
	type want struct{ node, filter string }
	var wants []want
	moved := 0
	for _, id := range ids {
		f := fnv.New32a()
		_, _ = f.Write([]byte(id))
		dest := nodes[int(f.Sum32()%uint32(len(nodes)))]
		ok, err := link.MoveSession(ctx, id, dest)
		if err != nil || !ok {
			continue // another router claimed it: it asks for it
		}
		s, ok := h.exportTo(ms, id, dest)
		if !ok {
			continue
		}
		if !h.sendSession(link, dest, 0, &s) {
			h.warn("draining: MQTT session not handed over", "client", id, "router", dest)
			continue
		}
		moved++
		for _, sub := range s.Subscriptions {
			if !strings.HasPrefix(sub.Filter, "$") || strings.HasPrefix(sub.Filter, "$share/") {
				wants = append(wants, want{dest, sub.Filter})
			}
		}
	}
	h.log.Info("draining: MQTT sessions handed to other routers", "sessions", moved)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for len(wants) > 0 {
		if link.HasRoute(wants[0].node, federation.Route{Proto: federation.ProtoMQTT, Filter: wants[0].filter}) {
			wants = wants[1:]
			continue
		}
		select {
		case <-ctx.Done():
			h.warn("draining: the adopting routers' routes were not seen in time", "left", len(wants))
			return
		case <-t.C:
		}
	}
}

// exportTo exports a session and records that it forwards to dest.
func (h *Hub) exportTo(ms MQTTSessions, id, dest string) (MQTTSession, bool) {
	h.sess.mu.Lock()
	if h.sess.moved == nil {
		h.sess.moved = map[string]*movedSession{}
	}
	h.sess.moved[id] = &movedSession{dest: dest} // before the export: what reaches it from now on is forwarded
	h.sess.mu.Unlock()
	s, ok := ms.ExportSession(id, false)
	if !ok {
		h.sess.mu.Lock()
		delete(h.sess.moved, id)
		h.sess.mu.Unlock()
	}
	return s, ok
}

// endForwardingWhenRouted ends the forwarding of an exported session once
// dest's routes for its filters are known here, and sessionGrace more.
func (h *Hub) endForwardingWhenRouted(link sessionLink, ms MQTTSessions, s MQTTSession, dest string) {
	deadline := time.Now().Add(sessionForwardMax)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for _, sub := range s.Subscriptions {
		if strings.HasPrefix(sub.Filter, "$") && !strings.HasPrefix(sub.Filter, "$share/") {
			continue
		}
		for !link.HasRoute(dest, federation.Route{Proto: federation.ProtoMQTT, Filter: sub.Filter}) && time.Now().Before(deadline) {
			<-t.C
		}
	}
	if d := time.Until(deadline); d > 0 {
		time.Sleep(min(d, sessionGrace))
	}
	ms.EndForwarding(s.ClientID) // forwards what it still holds
	h.sess.mu.Lock()
	if mv := h.sess.moved[s.ClientID]; mv != nil && mv.dest == dest {
		delete(h.sess.moved, s.ClientID)
	}
	h.sess.mu.Unlock()
}

// sendSession sends an exported session, then the forwards that waited
// for it, in order.
func (h *Hub) sendSession(link sessionLink, dest string, req uint64, s *MQTTSession) bool {
	h.sess.mu.Lock()
	defer h.sess.mu.Unlock()
	if !link.SendTo(dest, encodeSession(req, s), true) {
		return false
	}
	if mv := h.sess.moved[s.ClientID]; mv != nil {
		mv.sent = true
		for _, b := range mv.pending {
			if !link.SendTo(dest, b, true) {
				h.warn("message for a moved MQTT session not forwarded", "client", s.ClientID)
			}
		}
		mv.pending = nil
	}
	return true
}

// sessionFromRouter handles a session message from another router. It
// runs on the link's delivery goroutine: imports and forwards are done in
// order here; answering a request (which may wait) is not.
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
		go h.answerSessionRequest(link, ms, origin, m)
	case sessionOpSession:
		if m.session != nil {
			ms.ImportSession(*m.session)
		}
		h.sess.mu.Lock()
		var w *sessionWaiter
		if m.req != 0 {
			w = h.sess.waiting[m.req]
		}
		var arrived []chan struct{}
		if m.session != nil {
			arrived = h.sess.arrived[m.session.ClientID]
			delete(h.sess.arrived, m.session.ClientID)
		}
		h.sess.mu.Unlock()
		for _, c := range arrived {
			close(c)
		}
		if w != nil {
			w.done <- m.session
		}
	case sessionOpForward:
		if err := ms.DeliverSession(m.clientID, m.inflight); err != nil {
			h.warn("forwarded message for an MQTT session not delivered", "client", m.clientID, "error", err)
		}
	}
}

func (h *Hub) answerSessionRequest(link sessionLink, ms MQTTSessions, origin string, m sessionWire) {
	if m.clean {
		ms.ExportSession(m.clientID, true)
		link.SendTo(origin, encodeSession(m.req, nil), true)
		return
	}
	s, ok := h.exportTo(ms, m.clientID, origin)
	if !ok {
		// It may be on its way here from a draining router (which moved
		// the ownership before sending it): wait for it a moment.
		c := make(chan struct{})
		h.sess.mu.Lock()
		if h.sess.arrived == nil {
			h.sess.arrived = map[string][]chan struct{}{}
		}
		h.sess.arrived[m.clientID] = append(h.sess.arrived[m.clientID], c)
		h.sess.mu.Unlock()
		select {
		case <-c:
			s, ok = h.exportTo(ms, m.clientID, origin)
		case <-time.After(sessionAdoptWait):
		}
	}
	if !ok {
		link.SendTo(origin, encodeSession(m.req, nil), true)
		return
	}
	if !h.sendSession(link, origin, m.req, &s) {
		h.warn("MQTT session not handed over: the router that asked is gone; it is kept here", "client", m.clientID, "router", origin)
		h.sess.mu.Lock()
		delete(h.sess.moved, m.clientID)
		h.sess.mu.Unlock()
		ms.ImportSession(s)
		return
	}
	h.endForwardingWhenRouted(link, ms, s, origin)
}

// sessionNodeGone: forwarding to a router that is gone stops (SendTo fails
// and says so); waiters time out. Nothing else is kept per router.
func (h *Hub) sessionNodeGone(node string) {}

// The wire form.

const (
	sessionOpRequest = 1
	sessionOpSession = 2
	sessionOpForward = 3
)

type sessionWire struct {
	op                      byte
	req                     uint64
	clientID, authID, realm string
	clean                   bool
	session                 *MQTTSession
	inflight                MQTTInflight
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

func encodeSession(req uint64, s *MQTTSession) []byte {
	b := []byte{wireVersion, wireSession, sessionOpSession}
	b = binary.AppendUvarint(b, req)
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
