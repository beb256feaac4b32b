package mqtt

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
)

// RPC is the hub's RPC side as the MQTT side sees it; *bridge.Hub
// implements it.
type RPC interface {
	// RPCClient is nil for an identity that cannot take part.
	RPCClient(id auth.Identity, v5 bool) RPCClient
}

// RPCClient is one MQTT client's side of RPC; *bridge.RPCClient implements
// it. Its calls and answers reach it through the hub (rpcCaller).
type RPCClient interface {
	bridge.RPCCaller
	// Register registers the procedures of a "$rpc/" subscription.
	Register(filter, invoke string) error
	Unregister(filter string)
	Close()
}

// rpcHook keeps MQTT clients' RPC state (see bridge/rpc.go): a
// subscription to "$rpc/..." is a registration; the hub decides that a
// publish there is a call and one to "$rpc-reply/..." a callee's answer
// (hubHook hands it over; answer turns the outcome into a reason code). It
// runs after the auth hook, which checks register permission on $rpc/
// subscriptions (SUBACK 0x87); the call permission is the hub's to check.
type rpcHook struct {
	mochi.HookBase
	rpc     RPC
	auth    *authHook
	server  *mochi.Server
	metrics Metrics
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]*rpcEntry // by client id

	lastWarn atomic.Int64 // unix nanoseconds of the last rate-limited warning
}

// rpcEntry is one connection's RPC state.
type rpcEntry struct {
	cl *mochi.Client
	rc RPCClient
	// $rpc/ filters of a resumed session whose registration failed, to
	// unsubscribe once mochi has copied the session's subscriptions.
	failed []string
}

func (h *rpcHook) ID() string { return "junction-rpc" }

func (h *rpcHook) Provides(b byte) bool {
	switch b {
	case mochi.OnSubscribed, mochi.OnUnsubscribed, mochi.OnSessionEstablish,
		mochi.OnSessionEstablished, mochi.OnDisconnect:
		return true
	}
	return false
}

// client returns cl's RPC state, made on first use.
func (h *rpcHook) client(cl *mochi.Client) RPCClient {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.clients[cl.ID]; e != nil && e.cl == cl {
		return e.rc
	}
	s := h.auth.session(cl)
	if s == nil {
		return nil
	}
	e := &rpcEntry{cl: cl, rc: h.rpc.RPCClient(s.id, cl.Properties.ProtocolVersion == 5)}
	h.clients[cl.ID] = e
	return e.rc
}

// answer is what mochi's OnPublish chain returns for a call or an answer
// the hub took (err its outcome). Whatever the outcome, the message is not
// delivered to subscribers; MQTT 5 QoS 1 and 2 publishers learn a refusal
// from their PUBACK or PUBREC reason code.
func (h *rpcHook) answer(cl *mochi.Client, pk packets.Packet, err error) error {
	if err == nil || errors.Is(err, bridge.ErrNoCaller) {
		return packets.CodeSuccessIgnore
	}
	kind := "call"
	if strings.HasPrefix(pk.TopicName, bridge.RPCReplyPrefix) {
		kind = "result"
	}
	code := packets.ErrUnspecifiedError
	switch {
	case errors.Is(err, bridge.ErrNotAuthorized):
		code = packets.ErrNotAuthorized
		h.metrics.Denied("call")
		h.log.Info("MQTT call refused", "client", cl.ID, "topic", pk.TopicName, "reason", err)
	case errors.Is(err, bridge.ErrTooManyCalls):
		code = packets.ErrQuotaExceeded
		h.warn("MQTT call refused: too many calls in flight", "client", cl.ID, "topic", pk.TopicName)
	case errors.Is(err, bridge.ErrBadProcedure):
		code = packets.ErrTopicNameInvalid
		h.metrics.Rejected("invalid")
		h.warn("MQTT call refused", "client", cl.ID, "topic", pk.TopicName, "reason", err)
	case errors.Is(err, bridge.ErrBadRequest):
		code = packets.ErrPayloadFormatInvalid
		h.metrics.Rejected("invalid")
		h.warn("malformed MQTT RPC "+kind, "client", cl.ID, "topic", pk.TopicName, "reason", err)
	case errors.Is(err, bridge.ErrUnknownReply):
		code = packets.CodeNoMatchingSubscribers
		h.log.Debug("MQTT RPC result for no pending invocation", "client", cl.ID, "topic", pk.TopicName)
	default:
		h.warn("MQTT RPC "+kind+" failed", "client", cl.ID, "topic", pk.TopicName, "reason", err)
	}
	if cl.Properties.ProtocolVersion < 5 || pk.FixedHeader.Qos == 0 {
		return packets.CodeSuccessIgnore // nothing to answer with; delivered to no one
	}
	return code
}

// messageOf is an MQTT publish in the hub's terms, with its request and
// response properties.
func messageOf(cl *mochi.Client, pk packets.Packet) bridge.MQTTMessage {
	return packetMessage(pk, cl.Properties.ProtocolVersion == 5)
}

// packetMessage is a PUBLISH packet in the hub's terms; v5 says whether its
// properties count.
func packetMessage(pk packets.Packet, v5 bool) bridge.MQTTMessage {
	m := bridge.MQTTMessage{
		Topic:           pk.TopicName,
		MQTTPayload:     payloadOf(pk),
		QoS:             pk.FixedHeader.Qos,
		Retain:          pk.FixedHeader.Retain,
		V5:              v5,
		ResponseTopic:   pk.Properties.ResponseTopic,
		CorrelationData: pk.Properties.CorrelationData,
	}
	for _, u := range pk.Properties.User {
		m.UserProperties = append(m.UserProperties, bridge.UserProperty{Key: u.Key, Value: u.Val})
	}
	return m
}

// OnSubscribed registers the procedures of granted $rpc/ filters. A
// registration the dealer declines (another callee holds the procedure with
// invocation policy single, or with another policy) refuses its filter in
// the SUBACK: 0x83 (3.1.1: 0x80), and the subscription is undone.
func (h *rpcHook) OnSubscribed(cl *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	invoke := ""
	for _, u := range pk.Properties.User {
		if u.Key == bridge.PropInvoke {
			invoke = u.Val
		}
	}
	for i, sub := range pk.Filters {
		if i >= len(reasonCodes) || reasonCodes[i] >= packets.ErrUnspecifiedError.Code ||
			!strings.HasPrefix(sub.Filter, bridge.RPCPrefix) {
			continue
		}
		rc := h.client(cl)
		if rc == nil {
			continue
		}
		if err := rc.Register(sub.Filter, invoke); err != nil {
			reasonCodes[i] = packets.ErrImplementationSpecificError.Code
			if cl.Properties.ProtocolVersion < 5 {
				reasonCodes[i] = packets.ErrUnspecifiedError.Code
			}
			h.unsubscribe(cl, sub.Filter)
			h.log.Info("MQTT registration refused", "client", cl.ID, "filter", sub.Filter, "reason", err)
			continue
		}
		h.log.Debug("MQTT client registered", "client", cl.ID, "filter", sub.Filter)
	}
}

// unsubscribe undoes a subscription mochi has already made.
func (h *rpcHook) unsubscribe(cl *mochi.Client, filter string) {
	if h.server.Topics.Unsubscribe(filter, cl.ID) {
		atomic.AddInt64(&h.server.Info.Subscriptions, -1)
	}
	cl.State.Subscriptions.Delete(filter)
}

// OnUnsubscribed unregisters.
func (h *rpcHook) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	h.mu.Lock()
	e := h.clients[cl.ID]
	h.mu.Unlock()
	if e == nil || e.cl != cl {
		return
	}
	for _, sub := range pk.Filters {
		if strings.HasPrefix(sub.Filter, bridge.RPCPrefix) {
			e.rc.Unregister(sub.Filter)
		}
	}
}

// OnSessionEstablish ends the RPC state of a connection this one takes
// over (so that a single registration passes from one to the other), and
// registers again the $rpc/ subscriptions of a persistent session the client
// resumes: they were unregistered when its last connection ended, and are
// registered before CONNACK, so a device is callable as soon as it is back.
func (h *rpcHook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	h.mu.Lock()
	old := h.clients[cl.ID]
	if old != nil && old.cl != cl {
		delete(h.clients, cl.ID)
	} else {
		old = nil
	}
	h.mu.Unlock()
	if old != nil {
		old.rc.Close()
	}
	// mochi resumes the session of the connection before, unless this one
	// or a 3.1.1 predecessor asked for a clean one (inheritClientSession).
	prev, ok := h.server.Clients.Get(cl.ID)
	if !ok || pk.Connect.Clean || prev.Properties.Clean && prev.Properties.ProtocolVersion < 5 {
		return
	}
	var failed []string
	for _, sub := range prev.State.Subscriptions.GetAll() {
		if !strings.HasPrefix(sub.Filter, bridge.RPCPrefix) {
			continue
		}
		rc := h.client(cl)
		if rc == nil {
			return
		}
		if err := rc.Register(sub.Filter, ""); err != nil {
			failed = append(failed, sub.Filter)
			h.log.Warn("MQTT registration of a resumed session refused; its subscription is removed",
				"client", cl.ID, "filter", sub.Filter, "reason", err)
		}
	}
	if len(failed) > 0 {
		h.mu.Lock()
		if e := h.clients[cl.ID]; e != nil && e.cl == cl {
			e.failed = failed
		}
		h.mu.Unlock()
	}
}

// OnSessionEstablished removes the subscriptions OnSessionEstablish could
// not register.
func (h *rpcHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.mu.Lock()
	var failed []string
	if e := h.clients[cl.ID]; e != nil && e.cl == cl {
		failed, e.failed = e.failed, nil
	}
	h.mu.Unlock()
	for _, f := range failed {
		h.unsubscribe(cl, f)
	}
}

// OnDisconnect ends the connection's RPC state: its calls are canceled, its
// registrations removed, and its callers' invocations fail at once.
func (h *rpcHook) OnDisconnect(cl *mochi.Client, _ error, _ bool) {
	h.mu.Lock()
	e := h.clients[cl.ID]
	if e != nil && e.cl == cl {
		delete(h.clients, cl.ID)
	} else {
		e = nil
	}
	h.mu.Unlock()
	if e != nil {
		e.rc.Close()
	}
}

// warn logs at most one line a second.
func (h *rpcHook) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := h.lastWarn.Load()
	if now-last < int64(time.Second) || !h.lastWarn.CompareAndSwap(last, now) {
		h.log.Debug(msg, args...)
		return
	}
	h.log.Warn(msg, args...)
}

// Deliver implements bridge.MQTTEngine: m goes to one client only, through
// mochi's own delivery path (ACL check, QoS, inflight, bounded queue).
func (s *Server) Deliver(clientID, filter string, m bridge.MQTTMessage) error {
	cl, ok := s.mochi.Clients.Get(clientID)
	if !ok {
		return errors.New("no such MQTT client")
	}
	sub := packets.Subscription{Filter: m.Topic, Qos: m.QoS}
	if filter != "" {
		if found, ok := cl.State.Subscriptions.Get(filter); ok {
			sub = found
		}
	}
	pk := packetOf(m)
	pk.Created = time.Now().Unix()
	out, err := s.mochi.PublishToClient(cl, sub, pk)
	if errors.Is(err, packets.CodeDisconnect) && out.FixedHeader.Qos > 0 {
		return nil // kept for the session, sent when it comes back
	}
	return err
}
