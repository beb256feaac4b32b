package bridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/topic"
)

// RPC for MQTT clients. The WAMP dealer is the one authority for procedures:
// an MQTT client calls and registers through a WAMP session of its own that
// the hub opens in the bridged realm under the client's identity (see
// Dealer). The hub only translates:
//
//   - A publish to "$rpc/" + the procedure as a topic (com.acme.light.toggle
//     is $rpc/com/acme/light/toggle, by the bridge's topic rule, without
//     mapping rules) is a CALL. MQTT 5: its Response Topic and Correlation
//     Data say where the result goes; its payload is args and kwargs as the
//     bridge maps payloads (mode auto); user property "timeout" (ms) and
//     "receive_progress" ("true") are CALL options. Without a Response Topic
//     (every MQTT 3.1.1 client) the payload is a JSON envelope:
//     {"reply_to": topic, "correlation": any JSON value, "args": [...],
//     "kwargs": {...}, "timeout": ms, "receive_progress": true}.
//   - The result goes to the caller only (not to other subscribers of the
//     topic), whether or not it subscribed, at the QoS of its call; the
//     caller must be allowed to subscribe to it. MQTT 5: payload mapped
//     from args and kwargs, the same Correlation Data, user property
//     "error" (the WAMP error URI) on an error, "progress" ("true") on a
//     progressive result. Envelope: {"correlation": ..., "args": [...],
//     "kwargs": {...}, "error": uri, "progress": true}.
//   - A subscription to "$rpc/" + a filter is a REGISTER ("+" and "#" make
//     wildcard and prefix registrations, as FilterPatterns says), with the
//     invocation policy of RPCConfig.Invoke or the SUBSCRIBE's user
//     property "invoke". Unsubscribing or disconnecting unregisters.
//   - An INVOCATION is a publish on "$rpc/" + the called procedure to the
//     one callee the dealer chose, at its subscription's QoS, with a router
//     owned Response Topic "$rpc-reply/<id>" and Correlation Data <id>; MQTT
//     5 user properties "procedure", "timeout", "receive_progress",
//     "caller_authid" and "caller_authrole" (when the caller is disclosed).
//     An MQTT 3.1.1 callee gets the envelope {"procedure", "reply_to",
//     "correlation", "args", "kwargs", ...}. The callee publishes its result
//     to the Response Topic, as a caller's result above is written; only
//     that callee may answer it.
//
// Publishes to $rpc/ and $rpc-reply/ are never delivered as publications,
// and no MQTT mapping of a WAMP topic starts with "$".

// RPC topic prefixes.
const (
	RPCPrefix      = "$rpc/"
	RPCReplyPrefix = "$rpc-reply/"
)

// MQTT 5 user properties of RPC messages.
const (
	PropTimeout         = "timeout"
	PropReceiveProgress = "receive_progress"
	PropProgress        = "progress"
	PropError           = "error"
	PropProcedure       = "procedure"
	PropCallerAuthID    = "caller_authid"
	PropCallerAuthRole  = "caller_authrole"
	PropInvoke          = "invoke"
)

// WAMP error URIs the hub answers with, besides the dealer's own
// (wamp.error.no_such_procedure, the callee's errors...).
const (
	ErrorNotAuthorized   = "wamp.error.not_authorized"
	ErrorInvalidURI      = "wamp.error.invalid_uri"
	ErrorInvalidArgument = "wamp.error.invalid_argument"
	ErrorCanceled        = "wamp.error.canceled"
	ErrorTimeout         = "wamp.error.timeout"
	ErrorNetworkFailure  = "wamp.error.network_failure"
	ErrorPayloadSize     = "wamp.error.payload_size_exceeded"
	// ErrorTooManyCalls: the caller has RPCConfig.MaxPendingCalls calls in
	// flight already.
	ErrorTooManyCalls = "junction.error.too_many_calls"
)

// Errors of RPCClient methods. The MQTT side answers each with a reason code
// where the protocol has one (MQTT 5 PUBACK/PUBREC, SUBACK).
var (
	ErrNotAuthorized = errors.New("not authorized")                  // 0x87
	ErrTooManyCalls  = errors.New("too many calls in flight")        // 0x97
	ErrBadRequest    = errors.New("malformed RPC message")           // 0x99
	ErrBadProcedure  = errors.New("not a procedure")                 // 0x90
	ErrUnknownReply  = errors.New("no invocation awaits this reply") // 0x10
	ErrRegistration  = errors.New("registration refused")            // SUBACK 0x83 (3.1.1: 0x80)
	ErrClosed        = errors.New("RPC client closed")
)

// UserProperty is an MQTT 5 user property.
type UserProperty struct {
	Key, Value string
}

// Call is a WAMP CALL made for an MQTT client.
type Call struct {
	Procedure string
	WAMPPayload
	Timeout         time.Duration // the dealer's call timeout; 0: none
	ReceiveProgress bool
	Disclose        bool // the caller's permission discloses it to the callee
	// Caller, when set, is the identity disclosed in the session's stead: a
	// caller on another router, for whom this router calls.
	Caller *Disclosed
}

// Result is what a call returns: a result, a progressive result, or an error.
type Result struct {
	WAMPPayload
	Error    string // WAMP error URI; "" for a result
	Progress bool
}

// Invocation is a call the dealer hands to an MQTT callee.
type Invocation struct {
	Procedure string // the procedure called (for pattern registrations, the actual one)
	WAMPPayload
	Caller          *Disclosed    // nil unless the caller is disclosed
	Timeout         time.Duration // the caller's timeout, 0 if none
	ReceiveProgress bool          // the caller accepts progressive results
	DiscloseMe      bool          // the caller asked to be disclosed (Caller is set)
}

// InvocationHandler answers an invocation. progress sends a progressive
// result (when Invocation.ReceiveProgress). It returns when ctx ends (the
// call was canceled or timed out) at the latest.
type InvocationHandler func(ctx context.Context, inv Invocation, progress func(Result) error) Result

// Dealer opens WAMP sessions in the bridged realm that act for MQTT clients.
// The WAMP side implements it.
type Dealer interface {
	Session(id auth.Identity) (DealerSession, error)
}

// DealerSession is one MQTT client's WAMP session.
type DealerSession interface {
	// Call calls and returns the result, an error result (a WAMP error
	// URI), or, when ctx ends first, wamp.error.canceled. progress, if not
	// nil, receives progressive results (Call.ReceiveProgress).
	Call(ctx context.Context, c Call, progress func(Result)) Result
	// Register registers a procedure pattern with an invocation policy.
	Register(p topic.Pattern, opts RegisterOptions, h InvocationHandler) error
	Unregister(p topic.Pattern) error
	// Close leaves the realm: the dealer drops its registrations and fails
	// the calls in flight to it.
	Close()
	// ID is the WAMP session ID.
	ID() uint64
}

// RegisterOptions are a REGISTER's options.
type RegisterOptions struct {
	Invoke         string // invocation policy
	DiscloseCaller bool   // the callee wants every caller disclosed
}

// RPCConfig configures RPC for MQTT clients.
type RPCConfig struct {
	Enabled         bool
	CallTimeout     time.Duration // a call's timeout when the caller gives none
	Invoke          string        // invocation policy of MQTT registrations
	MaxPendingCalls int           // calls in flight per MQTT client
}

// ValidInvoke reports whether s is a WAMP invocation policy a registration
// may ask for.
func ValidInvoke(s string) bool {
	switch s {
	case "single", "roundrobin", "random", "first", "last":
		return true
	}
	return false
}

func (c RPCConfig) validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if c.CallTimeout <= 0 {
		errs = append(errs, errors.New("RPC CallTimeout must be positive"))
	}
	if !ValidInvoke(c.Invoke) {
		errs = append(errs, fmt.Errorf("RPC Invoke %q is not single, roundrobin, random, first or last", c.Invoke))
	}
	if c.MaxPendingCalls <= 0 {
		errs = append(errs, errors.New("RPC MaxPendingCalls must be positive"))
	}
	return errors.Join(errs...)
}

// ProcedureOfTopic returns the procedure a "$rpc/..." topic names.
func ProcedureOfTopic(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, RPCPrefix)
	if !ok || rest == "" || strings.ContainsAny(rest, "+#") {
		return "", false
	}
	return topic.TopicToURI(rest), true
}

// TopicOfProcedure is the "$rpc/..." topic of a procedure.
func TopicOfProcedure(uri string) string { return RPCPrefix + topic.URIToTopic(uri) }

// RegistrationPatterns returns the procedure patterns a "$rpc/..."
// subscription filter registers, or nil if it is not one.
func RegistrationPatterns(filter string) []topic.Pattern {
	rest, ok := strings.CutPrefix(filter, RPCPrefix)
	if !ok || rest == "" {
		return nil
	}
	return topic.FilterPatterns(rest)
}

// IsRPCTopic reports whether an MQTT topic or filter belongs to RPC: such
// publishes are calls or results, never publications.
func IsRPCTopic(topic string) bool {
	return strings.HasPrefix(topic, RPCPrefix) || strings.HasPrefix(topic, RPCReplyPrefix)
}

// RPCClient is one MQTT connection's part in RPC: its WAMP session (opened
// on first use), its registrations, its calls in flight and the invocations
// it has yet to answer. The MQTT side makes one per connection and closes it
// when the connection ends.
type RPCClient struct {
	hub *Hub
	id  auth.Identity
	v5  bool // the client speaks MQTT 5: invocations in MQTT 5 form, else the envelope

	// calls ends when the hub closes RPC: calls in flight are canceled.
	// invocations ends when the connection ends: the invocations it was
	// handed fail at once.
	calls, invocations             context.Context
	cancelCalls, cancelInvocations context.CancelFunc
	wg                             sync.WaitGroup // call goroutines

	// sessMu is held (read) while the session registers or unregisters, and
	// (write) while it is closed: the nexus client must not be closed under
	// a request.
	sessMu sync.RWMutex

	mu       sync.Mutex
	sess     DealerSession
	closing  bool                       // the connection ended: no new calls or registrations
	sessDone bool                       // the session is closed
	regs     map[string][]topic.Pattern // by $rpc/ filter
	pending  map[uint64]*invocation
	inFlight int // calls
}

type invocation struct {
	results chan Result
}

// RPCClient returns the RPC state of one MQTT connection. Nothing is
// opened until the client calls or registers.
func (h *Hub) RPCClient(id auth.Identity, v5 bool) *RPCClient {
	c := &RPCClient{hub: h, id: id, v5: v5, regs: map[string][]topic.Pattern{}, pending: map[uint64]*invocation{}}
	c.calls, c.cancelCalls = context.WithCancel(context.Background())
	c.invocations, c.cancelInvocations = context.WithCancel(context.Background())
	h.rpcMu.Lock()
	defer h.rpcMu.Unlock()
	if h.rpcClosed {
		c.closing, c.sessDone = true, true
		c.cancelCalls()
		c.cancelInvocations()
		return c
	}
	h.rpcClients[c] = struct{}{}
	return c
}

// CloseRPC ends every MQTT client's RPC state at once, calls in flight
// included, and refuses new calls and registrations. The router calls it
// when it begins to drain, before the WAMP router stops, so that the
// sessions leave the dealer cleanly.
func (h *Hub) CloseRPC() {
	h.rpcMu.Lock()
	h.rpcClosed = true
	clients := make([]*RPCClient, 0, len(h.rpcClients))
	for c := range h.rpcClients {
		clients = append(clients, c)
	}
	h.rpcMu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			c.Close()
			c.cancelCalls()
			c.wg.Wait()
			c.closeSession()
		})
	}
	wg.Wait()
}

func (c *RPCClient) session() (DealerSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return nil, ErrClosed
	}
	if c.sess != nil {
		return c.sess, nil
	}
	d := c.hub.dealer.Load()
	if d == nil || !c.hub.cfg.RPC.Enabled {
		return nil, errors.New("RPC is off")
	}
	s, err := (*d).Session(c.id)
	if err != nil {
		return nil, err
	}
	c.sess = s
	return s, nil
}

// request is a parsed call: where its result goes and in which form.
type request struct {
	replyTo     string
	qos         byte
	v5          bool   // reply in MQTT 5 form, with correlation data
	correlation []byte // MQTT 5 correlation data, or the envelope's raw JSON value
}

// Call makes the call an MQTT publish to "$rpc/..." asks for. It returns at
// once: the call runs on a goroutine of its own, and its result (and
// progressive results) are published to the reply topic, as the caller
// would publish there: so the caller must be allowed to publish to it. A
// call outlives its caller's connection, up to its timeout: a client that
// publishes a call and leaves (mosquitto_pub) leaves the result to those
// subscribed to the reply topic. A refusal that has a reply topic is also
// answered there with a WAMP error URI. The returned error
// (ErrNotAuthorized, ErrTooManyCalls, ErrBadRequest, ErrBadProcedure) is for
// the MQTT side's reason code and log line.
func (c *RPCClient) Call(m MQTTMessage) error {
	call, req, err := parseCall(m)
	if err != nil {
		if req.replyTo != "" && c.replyAllowed(req.replyTo) {
			c.reply(req, Result{Error: ErrorInvalidArgument, WAMPPayload: WAMPPayload{Args: []any{err.Error()}}})
		}
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if !c.replyAllowed(req.replyTo) {
		return fmt.Errorf("%w: may not publish to response topic %q", ErrNotAuthorized, req.replyTo)
	}
	proc, ok := ProcedureOfTopic(m.Topic)
	if !ok {
		c.reply(req, Result{Error: ErrorInvalidURI, WAMPPayload: WAMPPayload{Args: []any{"not a procedure: " + m.Topic}}})
		return fmt.Errorf("%w: %q", ErrBadProcedure, m.Topic)
	}
	call.Procedure = proc
	a := c.hub.cfg.Authority
	if !a.Allowed(c.id, auth.ActionCall, proc, topic.MatchExact) {
		c.reply(req, Result{Error: ErrorNotAuthorized, WAMPPayload: WAMPPayload{Args: []any{"not authorized to call " + proc}}})
		return fmt.Errorf("%w: call %s", ErrNotAuthorized, proc)
	}
	call.Disclose = a.Discloses(c.id, auth.ActionCall, proc)
	if call.Timeout <= 0 {
		call.Timeout = c.hub.cfg.RPC.CallTimeout
	}
	sess, err := c.session()
	if err != nil {
		c.reply(req, Result{Error: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{err.Error()}}})
		return nil
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	if c.inFlight >= c.hub.cfg.RPC.MaxPendingCalls {
		c.mu.Unlock()
		c.hub.cfg.Metrics.RPC("call", "too_many")
		c.reply(req, Result{Error: ErrorTooManyCalls, WAMPPayload: WAMPPayload{Args: []any{
			fmt.Sprintf("%d calls in flight already", c.hub.cfg.RPC.MaxPendingCalls)}}})
		return ErrTooManyCalls
	}
	c.inFlight++
	c.wg.Add(1)
	c.mu.Unlock()
	go c.run(sess, call, req)
	return nil
}

func (c *RPCClient) run(sess DealerSession, call Call, req request) {
	defer c.wg.Done()
	// The dealer times the call out; this deadline only keeps the wait
	// bounded should its answer be lost.
	ctx, cancel := context.WithTimeout(c.calls, call.Timeout+5*time.Second)
	var progress func(Result)
	if call.ReceiveProgress {
		progress = func(r Result) { r.Progress = true; c.reply(req, r) }
	}
	res := sess.Call(ctx, call, progress)
	cancel()
	c.hub.cfg.Metrics.RPC("call", outcome(res))
	if c.calls.Err() == nil {
		c.reply(req, res)
	}
	c.mu.Lock()
	c.inFlight--
	last := c.closing && c.inFlight == 0
	c.mu.Unlock()
	if last {
		// The connection ended while this call was in flight: the session
		// was kept for it.
		c.closeSession()
	}
}

func outcome(r Result) string {
	switch r.Error {
	case "":
		return "ok"
	case ErrorTimeout:
		return "timeout"
	case ErrorCanceled:
		return "canceled"
	}
	return "error"
}

// replyAllowed reports whether the client may publish to the topic name, as
// the hub publishes its results there for it.
func (c *RPCClient) replyAllowed(name string) bool {
	return c.hub.cfg.Authority.Allowed(c.id, auth.ActionPublish, topic.TopicToURI(name), topic.MatchExact)
}

// reply publishes a result to the caller's reply topic, on this router and
// the routers it federates with.
func (c *RPCClient) reply(req request, r Result) {
	m, err := c.hub.resultMessage(req.replyTo, req.qos, req.v5, req.correlation, r)
	if err != nil {
		m, _ = c.hub.resultMessage(req.replyTo, req.qos, req.v5, req.correlation,
			Result{Error: errorURIOf(err), WAMPPayload: WAMPPayload{Args: []any{err.Error()}}})
	}
	mp := c.hub.mqtt.Load()
	if mp == nil {
		return
	}
	if err := (*mp).Publish(m); err != nil {
		c.hub.warn("RPC result not published", "client", c.id.ClientID, "topic", req.replyTo, "error", err)
	}
	// A publication like any other: subscribers on other routers get it too.
	if f := c.hub.fed.Load(); f != nil {
		m.Publisher = c.id
		c.hub.federateMQTT(*f, m, c.hub.mapMQTT(m.Topic).uri)
	}
}

func errorURIOf(err error) string {
	if errors.Is(err, errTooLarge) {
		return ErrorPayloadSize
	}
	return ErrorInvalidArgument
}

var errTooLarge = errors.New("result exceeds the message size limit")

// Register registers the procedures a "$rpc/..." subscription names, for
// this client. Its permission to register was checked when the
// subscription was granted. Subscribing again to a registered filter
// changes nothing.
func (c *RPCClient) Register(filter, invoke string) error {
	patterns := RegistrationPatterns(filter)
	if patterns == nil {
		return fmt.Errorf("%w: %q is not a $rpc/ filter", ErrRegistration, filter)
	}
	if invoke == "" {
		invoke = c.hub.cfg.RPC.Invoke
	}
	if !ValidInvoke(invoke) {
		return fmt.Errorf("%w: invoke %q", ErrRegistration, invoke)
	}
	c.sessMu.RLock()
	defer c.sessMu.RUnlock()
	c.mu.Lock()
	_, done := c.regs[filter]
	c.mu.Unlock()
	if done {
		return nil
	}
	sess, err := c.session()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrRegistration, err)
	}
	handler := func(ctx context.Context, inv Invocation, progress func(Result) error) Result {
		return c.invoke(ctx, filter, inv, progress)
	}
	for i, p := range patterns {
		err := error(nil)
		if invoke == "single" {
			err = c.hub.ClaimProcedure(c.hub.cfg.Realm, p.URI, string(p.Match))
		}
		if err == nil {
			err = sess.Register(p, RegisterOptions{Invoke: invoke}, handler)
		}
		if err != nil {
			for _, q := range patterns[:i] {
				_ = sess.Unregister(q)
			}
			return fmt.Errorf("%w: %w", ErrRegistration, err)
		}
	}
	c.mu.Lock()
	c.regs[filter] = patterns
	c.mu.Unlock()
	return nil
}

// Unregister undoes Register.
func (c *RPCClient) Unregister(filter string) {
	c.sessMu.RLock()
	defer c.sessMu.RUnlock()
	c.mu.Lock()
	patterns, ok := c.regs[filter]
	delete(c.regs, filter)
	sess, done := c.sess, c.sessDone
	c.mu.Unlock()
	if !ok || sess == nil || done {
		return
	}
	for _, p := range patterns {
		if err := sess.Unregister(p); err != nil {
			c.hub.log.Debug("RPC unregister", "client", c.id.ClientID, "procedure", p.URI, "error", err)
		}
	}
}

// invoke hands an invocation to this client and waits for its answer.
func (c *RPCClient) invoke(ctx context.Context, filter string, inv Invocation, progress func(Result) error) Result {
	id := c.hub.invocationID.Add(1)
	w := &invocation{results: make(chan Result, 64)}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return calleeGone()
	}
	c.pending[id] = w
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()
	timeout := inv.Timeout
	if timeout <= 0 {
		timeout = c.hub.cfg.RPC.CallTimeout
	}
	m, err := c.hub.invocationMessage(id, c.v5, inv, timeout)
	if err != nil {
		c.hub.cfg.Metrics.RPC("invocation", "error")
		return Result{Error: errorURIOf(err), WAMPPayload: WAMPPayload{Args: []any{err.Error()}}}
	}
	if err := c.hub.deliver(c.id.ClientID, filter, m); err != nil {
		c.hub.cfg.Metrics.RPC("invocation", "error")
		c.hub.warn("RPC invocation not delivered", "client", c.id.ClientID, "procedure", inv.Procedure, "error", err)
		return Result{Error: ErrorNetworkFailure, WAMPPayload: WAMPPayload{Args: []any{"invocation not delivered to the MQTT callee"}}}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case r := <-w.results:
			if r.Progress {
				if inv.ReceiveProgress {
					_ = progress(r)
				}
				continue
			}
			c.hub.cfg.Metrics.RPC("invocation", outcome(r))
			return r
		case <-ctx.Done():
			c.hub.cfg.Metrics.RPC("invocation", "canceled")
			return Result{Error: ErrorCanceled}
		case <-timer.C:
			c.hub.cfg.Metrics.RPC("invocation", "timeout")
			return Result{Error: ErrorTimeout, WAMPPayload: WAMPPayload{Args: []any{
				fmt.Sprintf("the MQTT callee did not answer within %v", timeout)}}}
		case <-c.invocations.Done():
			// The callee left; an answer it sent before leaving still
			// counts (select picks at random among ready cases).
			for {
				select {
				case r := <-w.results:
					if r.Progress {
						continue
					}
					c.hub.cfg.Metrics.RPC("invocation", outcome(r))
					return r
				default:
				}
				break
			}
			c.hub.cfg.Metrics.RPC("invocation", "canceled")
			return calleeGone()
		}
	}
}

func calleeGone() Result {
	return Result{Error: ErrorCanceled, WAMPPayload: WAMPPayload{Args: []any{"callee gone"}}}
}

// Reply takes a callee's publish to "$rpc-reply/<id>": the result, error or
// progressive result of an invocation made to this client.
func (c *RPCClient) Reply(m MQTTMessage) error {
	id, err := strconv.ParseUint(strings.TrimPrefix(m.Topic, RPCReplyPrefix), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %q", ErrUnknownReply, m.Topic)
	}
	c.mu.Lock()
	w := c.pending[id]
	c.mu.Unlock()
	if w == nil {
		return fmt.Errorf("%w: %q (late, or not this client's)", ErrUnknownReply, m.Topic)
	}
	r, perr := parseYield(m)
	if perr != nil {
		// Fail the call rather than leave its caller waiting.
		r = Result{Error: ErrorInvalidArgument, WAMPPayload: WAMPPayload{Args: []any{"malformed result from the MQTT callee: " + perr.Error()}}}
	}
	select {
	case w.results <- r:
	default:
		c.hub.warn("RPC result dropped: the callee sends faster than the caller reads", "client", c.id.ClientID, "topic", m.Topic)
	}
	if perr != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, perr)
	}
	return nil
}

// Close ends the connection's part in RPC: its registrations are removed
// and the invocations it holds fail at once (wamp.error.canceled, "callee
// gone"), so their callers do not wait for a timeout. Its calls in flight
// go on, each up to its timeout, and their results are still published;
// the session leaves the realm when the last one ends.
func (c *RPCClient) Close() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	idle := c.inFlight == 0
	c.mu.Unlock()
	c.cancelInvocations()
	c.sessMu.RLock()
	c.mu.Lock()
	regs, sess := c.regs, c.sess
	c.regs = map[string][]topic.Pattern{}
	c.mu.Unlock()
	if sess != nil {
		for _, patterns := range regs {
			for _, p := range patterns {
				_ = sess.Unregister(p)
			}
		}
	}
	c.sessMu.RUnlock()
	if idle {
		c.closeSession()
	}
}

// closeSession closes the WAMP session, once, when no call uses it.
func (c *RPCClient) closeSession() {
	c.sessMu.Lock()
	defer c.sessMu.Unlock()
	c.mu.Lock()
	sess, done := c.sess, c.sessDone
	c.sessDone = true
	c.mu.Unlock()
	if sess != nil && !done {
		// Answers the callee sent before it left go out before the session
		// does (its invocations return at once: Close canceled them).
		if d, ok := sess.(interface{ Drain(time.Duration) }); ok {
			d.Drain(time.Second)
		}
		sess.Close()
	}
	c.hub.rpcMu.Lock()
	delete(c.hub.rpcClients, c)
	c.hub.rpcMu.Unlock()
}
