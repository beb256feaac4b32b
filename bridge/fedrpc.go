package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// Cluster-wide RPC. Each router's WAMP dealer stays the one authority for
// the procedures its own callees serve (WAMP clients, and MQTT clients
// through their dealer sessions); federation makes every router's
// procedures callable from every other router, in every realm, the way
// Crossbar's router links do:
//
//   - A router announces, as RPC rows of the federation route table, each
//     procedure its callees serve: realm, URI, match, invocation policy and
//     whether the registration discloses callers (from nexus' registration
//     observer). Registrations made by federation's own sessions are never
//     announced, so nothing loops.
//   - For every other router that has procedures in a realm, a router keeps
//     one proxy session in that realm of its dealer, which registers those
//     procedures with the same match and policy. The dealer routes a call to
//     a proxy like to any callee; the proxy sends it to its router (wire
//     kind rpc, SendTo, reliable), where one session per realm calls the
//     procedure in that router's dealer on the caller's behalf (disclosing
//     the original caller exactly where the original call would have), and
//     progressive results and the result or error come back the same way. A
//     call its caller cancels, or that times out, sends "cancel" on, which
//     interrupts the callee.
//   - A single registration is unique cluster-wide: once a router's row is
//     known, the other routers' proxies hold the procedure in their dealers,
//     so a REGISTER anywhere else gets wamp.error.procedure_already_exists
//     from that dealer.
//   - Shared registrations span routers with their policy. A router with a
//     callee of its own for a procedure keeps its calls local (its proxies
//     do not join that registration); a router without one spreads its
//     calls over the routers that have callees by the policy, and each of
//     those applies the policy among its own callees.
//   - A router that dies or leaves: its proxies leave (the dealers drop
//     their registrations within federation.node_timeout, at once when it
//     left cleanly), the calls in flight to it fail at once with
//     wamp.error.canceled, and the calls it was making are canceled.

// ClusterRPCMetrics may be implemented by the hub's Metrics: it counts the
// calls this router forwarded to other routers (direction "forwarded") and
// served for them ("served"), by outcome: ok, error (the callee's or the
// dealer's error), canceled (by the caller, or by a timeout), gone (the
// callee's router died or left), unreachable (not sent: router not live,
// spool full), too_many (refused: federation.max_calls).
type ClusterRPCMetrics interface {
	ClusterRPC(direction, outcome string)
}

// ClusterDealer opens WAMP sessions in any realm of this router, for the
// calls and registrations federation makes on behalf of other routers. The
// WAMP side implements it.
type ClusterDealer interface {
	SessionIn(realm string, id auth.Identity) (DealerSession, error)
}

// Federation RPC messages (wire kind rpc):
//
//	byte version, byte kind (3), byte op, uvarint call id (the caller's router's)
//	call:     byte flags (1 receive progress, 2 disclose me, 4 caller disclosed), uvarint timeout ms,
//	          strings realm, procedure, caller authid, caller role; payload
//	progress, result: payload
//	error:    string error URI; payload
//	cancel:   nothing
//
// payload is the bridge's JSON envelope of args and kwargs to the end
// (empty: none).
const (
	rpcOpCall     = 1
	rpcOpProgress = 2
	rpcOpResult   = 3
	rpcOpError    = 4
	rpcOpCancel   = 5
)

// rpcWire is one federation RPC message.
type rpcWire struct {
	op  byte
	id  uint64
	err string // rpcOpError
	// rpcOpCall:
	realm, procedure string
	timeout          time.Duration
	receiveProgress  bool
	discloseMe       bool
	caller           *Disclosed
	WAMPPayload
	gone bool // not on the wire: the error is the router's death
}

func encodeRPC(m rpcWire) ([]byte, error) {
	b := []byte{wireVersion, wireRPC, m.op}
	b = appendUvarint(b, m.id)
	switch m.op {
	case rpcOpCall:
		var flags byte
		if m.receiveProgress {
			flags |= 1
		}
		if m.discloseMe {
			flags |= 2
		}
		var c Disclosed
		if m.caller != nil {
			flags |= 4
			c = *m.caller
		}
		b = append(b, flags)
		b = appendUvarint(b, uint64(max(m.timeout.Milliseconds(), 0)))
		for _, s := range []string{m.realm, m.procedure, c.AuthID, c.AuthRole} {
			b = appendString(b, s)
		}
	case rpcOpError:
		b = appendString(b, m.err)
	case rpcOpCancel:
		return b, nil
	}
	if len(m.Args) > 0 || len(m.Kwargs) > 0 {
		env, err := jsonEnvelope(m.WAMPPayload)
		if err != nil {
			return nil, err
		}
		b = append(b, env.Payload...)
	}
	return b, nil
}

func decodeRPC(b []byte) (rpcWire, error) {
	r := wireReader{b: b}
	version, kind := r.byte(), r.byte()
	if r.err == nil && (version != wireVersion || kind != wireRPC) {
		return rpcWire{}, fmt.Errorf("%w: not an RPC message (version %d, kind %d)", ErrWire, version, kind)
	}
	m := rpcWire{op: r.byte()}
	m.id = r.uvarint()
	switch m.op {
	case rpcOpCall:
		flags := r.byte()
		if flags>>3 != 0 {
			return rpcWire{}, fmt.Errorf("%w: call flags %#x", ErrWire, flags)
		}
		ms := r.uvarint()
		if ms > uint64(365*24*time.Hour/time.Millisecond) {
			return rpcWire{}, fmt.Errorf("%w: timeout %d ms", ErrWire, ms)
		}
		m.timeout = time.Duration(ms) * time.Millisecond
		m.receiveProgress, m.discloseMe = flags&1 != 0, flags&2 != 0
		m.realm, m.procedure = r.string(), r.string()
		c := Disclosed{AuthID: r.string(), AuthRole: r.string()}
		if flags&4 != 0 {
			m.caller = &c
		}
		if r.err == nil && (m.realm == "" || m.procedure == "") {
			return rpcWire{}, fmt.Errorf("%w: call without realm or procedure", ErrWire)
		}
	case rpcOpError:
		m.err = r.string()
		if r.err == nil && m.err == "" {
			return rpcWire{}, fmt.Errorf("%w: error without URI", ErrWire)
		}
	case rpcOpProgress, rpcOpResult:
	case rpcOpCancel:
		if r.err == nil && len(r.b) > 0 {
			return rpcWire{}, fmt.Errorf("%w: cancel with a payload", ErrWire)
		}
	default:
		if r.err == nil {
			return rpcWire{}, fmt.Errorf("%w: RPC op %d", ErrWire, m.op)
		}
	}
	if r.err != nil {
		return rpcWire{}, r.err
	}
	if len(r.b) > 0 {
		p, err := decodeEnvelope(r.b)
		if err != nil {
			return rpcWire{}, fmt.Errorf("%w: %w", ErrWire, err)
		}
		m.WAMPPayload = p
	}
	return m, nil
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// procKey names a registration in a realm's dealer.
type procKey struct {
	realm, uri string
	match      topic.Match
}

// procInfo is what a row says of a registration besides its key.
type procInfo struct {
	policy   string
	disclose bool
}

// An RPC row's text: realm, match, policy, disclose ("d" or "-") and URI,
// each escaped so that '|' separates them.
func procRow(k procKey, i procInfo) string {
	d := "-"
	if i.disclose {
		d = "d"
	}
	return strings.Join([]string{rowEscape(k.realm), string(k.match), i.policy, d, rowEscape(k.uri)}, "|")
}

func parseProcRow(s string) (procKey, procInfo, error) {
	f := strings.Split(s, "|")
	if len(f) != 5 || f[0] == "" || f[4] == "" || (f[3] != "d" && f[3] != "-") || !ValidInvoke(f[2]) {
		return procKey{}, procInfo{}, fmt.Errorf("bad RPC row %q", s)
	}
	m, err := topic.ParseMatch(f[1])
	if err != nil {
		return procKey{}, procInfo{}, fmt.Errorf("bad RPC row %q: %w", s, err)
	}
	return procKey{realm: rowUnescape(f[0]), uri: rowUnescape(f[4]), match: m}, procInfo{policy: f[2], disclose: f[3] == "d"}, nil
}

var (
	rowEscaper   = strings.NewReplacer("%", "%25", "|", "%7C")
	rowUnescaper = strings.NewReplacer("%25", "%", "%7C", "|")
)

func rowEscape(s string) string   { return rowEscaper.Replace(s) }
func rowUnescape(s string) string { return rowUnescaper.Replace(s) }

// normPolicy is nexus' invocation policy as rows say it.
func normPolicy(p string) string {
	if p == "" {
		return "single"
	}
	return p
}

// clusterRPC is the hub's part in cluster-wide RPC. Registration changes
// and route table events go through one worker goroutine (the proxies'
// REGISTER and UNREGISTER wait for the dealer); calls in both directions
// go through the maps under cmu.
type clusterRPC struct {
	h      *Hub
	dealer ClusterDealer
	link   rpcLink
	log    *slog.Logger
	max    int // calls served for other routers at once

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // the worker and every served call

	evMu sync.Mutex
	evQ  []func()
	wake chan struct{}

	// The worker's own state.
	local   map[procKey]*localProc              // registrations with callees of this router's own
	remote  map[string]map[procKey]procInfo     // other routers' rows
	proxies map[string]map[string]*proxySession // node → realm → proxy
	retry   bool                                // a proxy registration failed: try again
	warned  map[string]bool                     // failures already logged
	ours    sync.Map                            // session IDs (uint64) of federation's own sessions

	cmu     sync.Mutex
	nextID  uint64
	pending map[uint64]*forwarded    // calls sent to other routers, by id
	serving map[servedKey]*served    // calls served for other routers
	callers map[string]DealerSession // realm → the session calls are made from
	claims  map[procKey]time.Time    // single registrations claimed in Redis, and when
	closed  bool
}

// rpcLink is what cluster RPC needs of the federation link.
type rpcLink interface {
	Federation
	SendTo(node string, body []byte, reliable bool) bool
	Claim(ctx context.Context, name string) error
	Release(ctx context.Context, name string) error
}

// ErrProcedureTaken: another router holds the single registration of a
// procedure (WAMP wamp.error.procedure_already_exists).
var ErrProcedureTaken = errors.New("procedure registered on another router")

// claimTimeout bounds the wait for Redis when a single registration is
// claimed; past it the registration is accepted on this router's word.
const claimTimeout = 2 * time.Second

// claimLinger is how long a claim may outlive its registration attempt
// without a registration of this router's own before it is released (the
// dealer refused the REGISTER after the claim, or the callee left at once).
const claimLinger = 10 * time.Second

// claimName is a single registration's name among the cluster's claims.
func claimName(k procKey) string {
	return "rpc|" + rowEscape(k.realm) + "|" + string(k.match) + "|" + rowEscape(k.uri)
}

// ClaimProcedure is asked before this router accepts a single registration
// of uri in realm (a WAMP REGISTER, an MQTT $rpc/ subscription): with
// cluster RPC on, it claims the procedure cluster-wide in Redis, and
// returns ErrProcedureTaken when another live router holds it. It waits for
// Redis (at most claimTimeout); when Redis cannot answer, the registration
// is allowed on this router's word and the refusal left to the dealers
// once the routers see each other's rows. It never fails without cluster
// RPC.
func (h *Hub) ClaimProcedure(realm, uri, match string) error {
	c := h.crpc.Load()
	if c == nil {
		return nil
	}
	k := procKey{realm: realm, uri: uri, match: topic.Match(match).OrExact()}
	ctx, cancel := context.WithTimeout(c.ctx, claimTimeout)
	defer cancel()
	err := c.link.Claim(ctx, claimName(k))
	switch {
	case err == nil:
		c.cmu.Lock()
		c.claims[k] = time.Now()
		c.cmu.Unlock()
		return nil
	case errors.Is(err, federation.ErrClaimed):
		c.log.Info("single registration refused: another router holds it", "realm", realm, "procedure", uri, "match", k.match, "error", err)
		return fmt.Errorf("%w: %w", ErrProcedureTaken, err)
	default:
		c.log.Warn("single registration not checked cluster-wide: Redis did not answer; accepted on this router", "realm", realm, "procedure", uri, "error", err)
		return nil
	}
}

// releaseClaims gives up the claims of single registrations this router no
// longer holds: those named, and those older than claimLinger without a
// registration of its own. Worker only.
func (c *clusterRPC) releaseClaims(names ...procKey) {
	now := time.Now()
	var drop []procKey
	c.cmu.Lock()
	for _, k := range names {
		if _, ok := c.claims[k]; ok {
			delete(c.claims, k)
			drop = append(drop, k)
		}
	}
	for k, at := range c.claims {
		if _, mine := c.local[k]; !mine && now.Sub(at) > claimLinger {
			delete(c.claims, k)
			drop = append(drop, k)
		}
	}
	c.cmu.Unlock()
	if len(drop) == 0 {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for _, k := range drop {
			ctx, cancel := context.WithTimeout(c.ctx, claimTimeout)
			if err := c.link.Release(ctx, claimName(k)); err != nil && c.ctx.Err() == nil {
				c.log.Debug("claim not released: it lapses when this router leaves", "procedure", k.uri, "error", err)
			}
			cancel()
		}
	}()
}

type localProc struct {
	info     procInfo
	sessions map[uint64]struct{}
}

type proxySession struct {
	node, realm string
	sess        DealerSession
	regs        map[procKey]procInfo
}

type servedKey struct {
	origin string
	id     uint64
}

type served struct {
	cancel context.CancelFunc
}

// forwarded is a call sent to another router, waiting for its answer.
type forwarded struct {
	node string
	mu   sync.Mutex
	q    []rpcWire // progressive results and the final answer, in order
	wake chan struct{}
}

func (f *forwarded) push(m rpcWire) {
	f.mu.Lock()
	f.q = append(f.q, m)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *forwarded) take() []rpcWire {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := f.q
	f.q = nil
	return q
}

// ConnectClusterRPC makes this router's procedures callable from the other
// routers and theirs from here, through the link given to
// ConnectFederation. maxCalls bounds the calls this router serves for others
// at once (beyond it they fail with junction.error.too_many_calls). It
// starts a goroutine that CloseClusterRPC stops.
func (h *Hub) ConnectClusterRPC(d ClusterDealer, maxCalls int) error {
	f := h.fed.Load()
	if f == nil {
		return errors.New("cluster RPC needs federation")
	}
	link, ok := (*f).(rpcLink)
	if !ok {
		return errors.New("the federation link cannot send to one router")
	}
	c := &clusterRPC{
		h: h, dealer: d, link: link, log: h.log.With("part", "cluster-rpc"), max: max(maxCalls, 1),
		wake:    make(chan struct{}, 1),
		local:   map[procKey]*localProc{},
		remote:  map[string]map[procKey]procInfo{},
		proxies: map[string]map[string]*proxySession{},
		warned:  map[string]bool{},
		pending: map[uint64]*forwarded{},
		serving: map[servedKey]*served{},
		callers: map[string]DealerSession{},
		claims:  map[procKey]time.Time{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.run()
	h.crpc.Store(c)
	return nil
}

// CloseClusterRPC stops cluster RPC: calls in flight both ways end, proxies
// and federation's sessions leave the dealer. The router calls it when it
// drains, before the WAMP router stops.
func (h *Hub) CloseClusterRPC() {
	c := h.crpc.Load()
	if c == nil {
		return
	}
	c.cmu.Lock()
	c.closed = true
	for _, f := range c.pending {
		f.push(rpcWire{op: rpcOpError, err: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{"router shutting down"}}})
	}
	claims := c.claims
	c.claims = map[procKey]time.Time{}
	c.cmu.Unlock()
	c.cancel()
	c.wg.Wait()
	// Give the claims up now: a claim younger than twice NodeTimeout would
	// otherwise hold after this router left, and the callee reconnecting
	// elsewhere could not register for that long.
	ctx, cancel := context.WithTimeout(context.Background(), claimTimeout)
	for k := range claims {
		if err := c.link.Release(ctx, claimName(k)); err != nil {
			c.log.Debug("claim not released at shutdown: it lapses", "procedure", k.uri, "error", err)
			break
		}
	}
	cancel()
	c.cmu.Lock()
	callers := c.callers
	c.callers = map[string]DealerSession{}
	c.cmu.Unlock()
	for _, s := range callers {
		s.Close()
	}
	for _, byRealm := range c.proxies {
		for _, p := range byRealm {
			p.sess.Close()
		}
	}
}

func (c *clusterRPC) count(direction, outcome string) {
	if m, ok := c.h.cfg.Metrics.(ClusterRPCMetrics); ok {
		m.ClusterRPC(direction, outcome)
	}
}

// push queues work for the worker.
func (c *clusterRPC) push(f func()) {
	c.evMu.Lock()
	c.evQ = append(c.evQ, f)
	c.evMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *clusterRPC) run() {
	defer c.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.wake:
		case <-t.C:
			c.releaseClaims()
			if c.retry {
				c.retry = false
				for node := range c.proxies {
					c.reconcileNode(node)
				}
				for node := range c.remote {
					c.reconcileNode(node)
				}
			}
			continue
		}
		c.evMu.Lock()
		q := c.evQ
		c.evQ = nil
		c.evMu.Unlock()
		for _, f := range q {
			if c.ctx.Err() != nil {
				return
			}
			f()
		}
	}
}

// Registered is told by the WAMP side of a callee joining a registration
// (see wamp.Procedures).
func (h *Hub) Registered(realm string, session uint64, uri, match, policy string, disclose bool) {
	if c := h.crpc.Load(); c != nil {
		k, i := procKey{realm: realm, uri: uri, match: topic.Match(match).OrExact()}, procInfo{policy: normPolicy(policy), disclose: disclose}
		c.push(func() { c.localChange(k, i, session, true) })
	}
}

// Unregistered is told by the WAMP side of a callee leaving a registration.
func (h *Hub) Unregistered(realm string, session uint64, uri, match, policy string, disclose bool) {
	if c := h.crpc.Load(); c != nil {
		k, i := procKey{realm: realm, uri: uri, match: topic.Match(match).OrExact()}, procInfo{policy: normPolicy(policy), disclose: disclose}
		c.push(func() { c.localChange(k, i, session, false) })
	}
}

// localChange counts this router's own callees of a registration and
// announces it while it has any.
func (c *clusterRPC) localChange(k procKey, i procInfo, session uint64, add bool) {
	if _, ours := c.ours.Load(session); ours {
		return
	}
	lp := c.local[k]
	if add {
		if lp == nil {
			lp = &localProc{info: i, sessions: map[uint64]struct{}{}}
			c.local[k] = lp
			c.link.AddRoute(federation.Route{Proto: federation.ProtoRPC, Filter: procRow(k, i)})
			c.reconcileKey(k)
		}
		lp.sessions[session] = struct{}{}
		return
	}
	if lp == nil {
		return
	}
	delete(lp.sessions, session)
	if len(lp.sessions) > 0 {
		return
	}
	delete(c.local, k)
	c.link.RemoveRoute(federation.Route{Proto: federation.ProtoRPC, Filter: procRow(k, lp.info)})
	c.releaseClaims(k)
	c.reconcileKey(k)
}

func (h *Hub) rpcRows(node string, added, removed []string) {
	c := h.crpc.Load()
	if c == nil {
		return
	}
	c.push(func() {
		rows := c.remote[node]
		if rows == nil {
			rows = map[procKey]procInfo{}
			c.remote[node] = rows
		}
		for _, s := range removed {
			if k, _, err := parseProcRow(s); err == nil {
				delete(rows, k)
			}
		}
		for _, s := range added {
			k, i, err := parseProcRow(s)
			if err != nil {
				c.log.Warn("procedure of another router ignored", "remote", node, "error", err)
				continue
			}
			rows[k] = i
		}
		if len(rows) == 0 {
			delete(c.remote, node)
		}
		c.reconcileNode(node)
	})
}

func (h *Hub) rpcNodeGone(node string) {
	c := h.crpc.Load()
	if c == nil {
		return
	}
	// Calls in flight either way end at once, not when the worker gets to it.
	c.cmu.Lock()
	for _, f := range c.pending {
		if f.node == node {
			f.push(rpcWire{op: rpcOpError, err: ErrorCanceled, gone: true, WAMPPayload: WAMPPayload{Args: []any{"the callee's router left the cluster: " + node}}})
		}
	}
	for k, s := range c.serving {
		if k.origin == node {
			s.cancel()
		}
	}
	c.cmu.Unlock()
	c.push(func() {
		delete(c.remote, node)
		c.reconcileNode(node)
	})
}

// wanted is what node's proxy in realm should register: node's rows in the
// realm, except registrations this router's own callees serve (a single one
// is theirs; a shared one keeps its calls local).
func (c *clusterRPC) wanted(node, realm string) map[procKey]procInfo {
	out := map[procKey]procInfo{}
	for k, i := range c.remote[node] {
		if k.realm != realm {
			continue
		}
		if _, mine := c.local[k]; mine {
			continue
		}
		out[k] = i
	}
	return out
}

// reconcileNode brings node's proxies in line with its rows.
func (c *clusterRPC) reconcileNode(node string) {
	realms := map[string]bool{}
	for k := range c.remote[node] {
		realms[k.realm] = true
	}
	for realm := range c.proxies[node] {
		realms[realm] = true
	}
	for realm := range realms {
		c.reconcile(node, realm)
	}
}

// reconcileKey brings every proxy of k's realm in line after this router's
// own callees of k came or went.
func (c *clusterRPC) reconcileKey(k procKey) {
	for node, rows := range c.remote {
		if _, ok := rows[k]; ok {
			c.reconcile(node, k.realm)
		}
	}
}

func (c *clusterRPC) reconcile(node, realm string) {
	want := c.wanted(node, realm)
	p := c.proxies[node][realm]
	if p == nil {
		if len(want) == 0 {
			return
		}
		sess, err := c.dealer.SessionIn(realm, auth.Identity{AuthID: "junction-router:" + node, Role: "trusted", Realm: realm})
		if err != nil {
			// A realm this router does not have: routers that federate
			// should share realms. Tried again when node's rows change.
			if c.warnOnce(node + "|" + realm) {
				c.log.Warn("another router's procedures not made callable here: no session in their realm", "remote", node, "realm", realm, "error", err)
			}
			return
		}
		c.ours.Store(sess.ID(), struct{}{})
		p = &proxySession{node: node, realm: realm, sess: sess, regs: map[procKey]procInfo{}}
		if c.proxies[node] == nil {
			c.proxies[node] = map[string]*proxySession{}
		}
		c.proxies[node][realm] = p
	}
	for k, i := range p.regs {
		if w, ok := want[k]; ok && w == i {
			continue
		}
		if err := p.sess.Unregister(topic.Pattern{URI: k.uri, Match: k.match}); err != nil {
			c.log.Debug("proxy registration not withdrawn", "remote", node, "realm", realm, "procedure", k.uri, "error", err)
		}
		delete(p.regs, k)
	}
	for k, i := range want {
		if _, ok := p.regs[k]; ok {
			continue
		}
		pat := topic.Pattern{URI: k.uri, Match: k.match}
		err := p.sess.Register(pat, RegisterOptions{Invoke: i.policy, DiscloseCaller: i.disclose}, c.forwarder(node, realm))
		if err != nil {
			// A local callee holds it (two routers registered a single
			// procedure at once), or the policies differ: the callers of each
			// router reach their own until one side goes.
			if c.warnOnce(node + "|" + realm + "|" + string(k.match) + "|" + k.uri) {
				c.log.Warn("another router's procedure not made callable here (tried again every second)", "remote", node, "realm", realm,
					"procedure", k.uri, "match", k.match, "invoke", i.policy, "error", err)
			}
			c.retry = true
			continue
		}
		delete(c.warned, node+"|"+realm+"|"+string(k.match)+"|"+k.uri)
		p.regs[k] = i
	}
	if len(p.regs) == 0 && len(want) == 0 {
		// Calls in flight through the proxy keep it: its router may still
		// answer them (a callee that answered and left at once). Closing
		// the session would end them as "callee gone"; the dealer keeps
		// invocations across UNREGISTER. Tried again every second.
		if c.forwarding(node) {
			c.retry = true
			return
		}
		p.sess.Close()
		c.ours.Delete(p.sess.ID())
		delete(c.proxies[node], realm)
		if len(c.proxies[node]) == 0 {
			delete(c.proxies, node)
		}
	}
}

// forwarding reports whether calls sent to node still wait for it.
func (c *clusterRPC) forwarding(node string) bool {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	for _, f := range c.pending {
		if f.node == node {
			return true
		}
	}
	return false
}

// warnOnce reports whether what has not been warned of yet. Worker only.
func (c *clusterRPC) warnOnce(what string) bool {
	if c.warned[what] {
		return false
	}
	if len(c.warned) > 10000 {
		clear(c.warned)
	}
	c.warned[what] = true
	return true
}

// forwarder is a proxy's invocation handler: it sends the call to node and
// relays what comes back.
func (c *clusterRPC) forwarder(node, realm string) InvocationHandler {
	return func(ctx context.Context, inv Invocation, progress func(Result) error) Result {
		f := &forwarded{node: node, wake: make(chan struct{}, 1)}
		c.cmu.Lock()
		if c.closed {
			c.cmu.Unlock()
			return Result{Error: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{"router shutting down"}}}
		}
		c.nextID++
		id := c.nextID
		c.pending[id] = f
		c.cmu.Unlock()
		defer func() {
			c.cmu.Lock()
			delete(c.pending, id)
			c.cmu.Unlock()
		}()
		body, err := encodeRPC(rpcWire{op: rpcOpCall, id: id, realm: realm, procedure: inv.Procedure, timeout: inv.Timeout,
			receiveProgress: inv.ReceiveProgress, discloseMe: inv.DiscloseMe, caller: inv.Caller, WAMPPayload: inv.WAMPPayload})
		if err != nil {
			return Result{Error: ErrorInvalidArgument, WAMPPayload: WAMPPayload{Args: []any{"arguments cannot cross to another router: " + err.Error()}}}
		}
		if !c.link.SendTo(node, body, true) {
			c.count("forwarded", "unreachable")
			return Result{Error: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{"the callee's router cannot be reached: " + node}}}
		}
		for {
			select {
			case <-ctx.Done():
				if b, err := encodeRPC(rpcWire{op: rpcOpCancel, id: id}); err == nil {
					c.link.SendTo(node, b, true)
				}
				c.count("forwarded", "canceled")
				return Result{Error: ErrorCanceled}
			case <-f.wake:
			}
			for _, m := range f.take() {
				switch m.op {
				case rpcOpProgress:
					if progress != nil {
						_ = progress(Result{WAMPPayload: m.WAMPPayload, Progress: true})
					}
				case rpcOpResult:
					c.count("forwarded", "ok")
					return Result{WAMPPayload: m.WAMPPayload}
				case rpcOpError:
					if m.gone {
						c.count("forwarded", "gone")
					} else {
						c.count("forwarded", "error")
					}
					return Result{Error: m.err, WAMPPayload: m.WAMPPayload}
				}
			}
		}
	}
}

// rpcFromRouter takes an RPC message from another router. It runs on the
// link's inbox goroutine: it never waits.
func (h *Hub) rpcFromRouter(origin string, body []byte) {
	c := h.crpc.Load()
	if c == nil {
		return
	}
	m, err := decodeRPC(body)
	if err != nil {
		h.cfg.Metrics.Unmapped("wire")
		h.warn("RPC message from another router ignored", "remote", origin, "error", err)
		return
	}
	switch m.op {
	case rpcOpCall:
		c.serve(origin, m)
	case rpcOpCancel:
		c.cmu.Lock()
		if s := c.serving[servedKey{origin, m.id}]; s != nil {
			s.cancel()
		}
		c.cmu.Unlock()
	default:
		c.cmu.Lock()
		f := c.pending[m.id]
		c.cmu.Unlock()
		if f != nil && f.node == origin {
			f.push(m)
		}
	}
}

// serve calls, in this router's dealer, a procedure for a caller on origin.
func (c *clusterRPC) serve(origin string, m rpcWire) {
	answer := func(w rpcWire) {
		w.id = m.id
		b, err := encodeRPC(w)
		if err != nil {
			b, _ = encodeRPC(rpcWire{op: rpcOpError, id: m.id, err: ErrorInvalidArgument,
				WAMPPayload: WAMPPayload{Args: []any{"result cannot cross to another router: " + err.Error()}}})
		}
		if !c.link.SendTo(origin, b, true) {
			c.log.Debug("answer to another router's call not sent: router gone or spool full", "remote", origin, "procedure", m.procedure)
		}
	}
	k := servedKey{origin, m.id}
	c.cmu.Lock()
	if c.closed {
		c.cmu.Unlock()
		answer(rpcWire{op: rpcOpError, err: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{"router shutting down"}}})
		return
	}
	if len(c.serving) >= c.max {
		c.cmu.Unlock()
		c.count("served", "too_many")
		c.log.Warn("call from another router refused: federation.max_calls reached", "remote", origin, "procedure", m.procedure, "max_calls", c.max)
		answer(rpcWire{op: rpcOpError, err: ErrorTooManyCalls, WAMPPayload: WAMPPayload{Args: []any{"too many calls served for other routers"}}})
		return
	}
	if _, dup := c.serving[k]; dup {
		c.cmu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.serving[k] = &served{cancel: cancel}
	c.wg.Add(1)
	c.cmu.Unlock()
	go func() {
		defer c.wg.Done()
		defer func() {
			cancel()
			c.cmu.Lock()
			delete(c.serving, k)
			c.cmu.Unlock()
		}()
		sess, err := c.caller(m.realm)
		if err != nil {
			answer(rpcWire{op: rpcOpError, err: ErrorNoSuchRealm, WAMPPayload: WAMPPayload{Args: []any{err.Error()}}})
			return
		}
		call := Call{Procedure: m.procedure, WAMPPayload: m.WAMPPayload, Timeout: m.timeout,
			ReceiveProgress: m.receiveProgress, Disclose: m.discloseMe, Caller: m.caller}
		var progress func(Result)
		if m.receiveProgress {
			progress = func(r Result) { answer(rpcWire{op: rpcOpProgress, WAMPPayload: r.WAMPPayload}) }
		}
		r := sess.Call(ctx, call, progress)
		if ctx.Err() != nil {
			c.count("served", "canceled")
			return // canceled by the caller's router, or it is gone: nobody waits
		}
		if r.Error != "" {
			c.count("served", "error")
			answer(rpcWire{op: rpcOpError, err: r.Error, WAMPPayload: r.WAMPPayload})
			return
		}
		c.count("served", "ok")
		answer(rpcWire{op: rpcOpResult, WAMPPayload: r.WAMPPayload})
	}()
}

// ErrorNoSuchRealm answers a call for a realm this router does not have.
const ErrorNoSuchRealm = "wamp.error.no_such_realm"

// caller returns the session that calls in realm for other routers.
func (c *clusterRPC) caller(realm string) (DealerSession, error) {
	c.cmu.Lock()
	s := c.callers[realm]
	c.cmu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := c.dealer.SessionIn(realm, auth.Identity{AuthID: "junction-federation", Role: "trusted", Realm: realm})
	if err != nil {
		return nil, err
	}
	c.ours.Store(s.ID(), struct{}{})
	c.cmu.Lock()
	defer c.cmu.Unlock()
	if c.closed {
		s.Close()
		return nil, errors.New("router shutting down")
	}
	if prev := c.callers[realm]; prev != nil {
		s.Close()
		return prev, nil
	}
	c.callers[realm] = s
	return s, nil
}
