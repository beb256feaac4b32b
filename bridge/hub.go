package bridge

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// MQTTMessage is a publication as the MQTT side sees it.
type MQTTMessage struct {
	Topic string
	MQTTPayload
	QoS       byte
	Retain    bool
	V5        bool          // published over MQTT 5, so its properties count
	Publisher auth.Identity // the MQTT client (ClientID set); zero for bridged messages

	// MQTT 5 request/response properties, which RPC reads and writes.
	ResponseTopic   string
	CorrelationData []byte
	UserProperties  []UserProperty

	// Shares says which of this router's shared subscription groups serve
	// the message when the hub hands it to the MQTT engine (nil: each group,
	// as the engine alone would). Never crosses to other routers.
	Shares *Shares
}

// WAMPMessage is a publication as the WAMP side sees it.
type WAMPMessage struct {
	// Realm is "" in the realm bridged to MQTT; another realm's name for a
	// publication that federates WAMP to WAMP only (fedrealm.go).
	Realm string
	URI   string
	WAMPPayload
	Retain bool
	// Acknowledge: the publisher asked for an acknowledgement, so the
	// message crosses to other routers at least once (as MQTT QoS 1 does).
	Acknowledge bool
	// Disclose names the publisher to subscribers that announced publisher
	// identification; nil discloses nothing.
	Disclose *Disclosed
}

// Disclosed is the identity of a bridged message's publisher, as WAMP event
// details publisher_authid, publisher_authrole and _client_id.
type Disclosed struct {
	AuthID, AuthRole, ClientID string
}

// RetainedEvent is a retained message in its WAMP form.
type RetainedEvent struct {
	URI string
	WAMPPayload
}

// MQTTEngine is what the hub needs of the MQTT side.
type MQTTEngine interface {
	// HasSubscribers reports whether any MQTT session, connected or not,
	// subscribes to a filter matching topic.
	HasSubscribers(topic string) bool
	// Publish delivers to MQTT subscribers, and stores a retained message.
	Publish(MQTTMessage) error
	// Retained returns the retained messages matching an MQTT filter.
	Retained(filter string) []MQTTMessage
	// Retain sets (or, with an empty payload, clears) the retained message
	// of m.Topic without delivering m: the cluster-wide retained log's
	// changes.
	Retain(m MQTTMessage)
	// Deliver sends m to one client only, by client id, whether or not it
	// subscribes to m.Topic, under the options of its subscription to
	// filter ("": m.QoS). The client must be allowed to receive on m.Topic.
	// A persistent session that is offline gets QoS 1 and 2 messages when
	// it comes back.
	Deliver(clientID, filter string, m MQTTMessage) error
}

// WAMPEngine is what the hub needs of the WAMP side.
type WAMPEngine interface {
	// Publish delivers to the bridged realm's WAMP subscribers.
	Publish(WAMPMessage) error
}

// Authority says what an identity may do, and whether a rule discloses it.
// *auth.Authority implements it.
type Authority interface {
	Allowed(id auth.Identity, action auth.Action, uri string, match topic.Match) bool
	Discloses(id auth.Identity, action auth.Action, uri string) bool
}

// Metrics receives what the hub counts. The router implements it.
type Metrics interface {
	Bridged(direction string) // "mqtt_to_wamp" or "wamp_to_mqtt"
	Unmapped(reason string)   // a message that could not cross: "payload", "too_large", "engine"
	// RPC counts an MQTT client's call ("call") or an invocation of an MQTT
	// callee ("invocation") by outcome: ok, error, timeout, canceled,
	// too_many.
	RPC(kind, outcome string)
}

// Directions of Metrics.Bridged.
const (
	MQTTToWAMP = "mqtt_to_wamp"
	WAMPToMQTT = "wamp_to_mqtt"
)

// Config is everything a Hub needs.
type Config struct {
	Realm string // the WAMP realm that MQTT's topic space is bridged to
	Rules []Rule
	QoS   byte // QoS of WAMP events published into MQTT: 0, 1 or 2
	// MaxPacket bounds the MQTT PUBLISH a WAMP event becomes (the envelope
	// and base64 can make it larger than the event was); 0 is no bound.
	MaxPacket int
	Authority Authority
	Logger    *slog.Logger
	Metrics   Metrics
	RPC       RPCConfig
	// NoPubSub keeps publications in their own protocol: the hub serves
	// RPC only (bridge.enabled false, rpc.enabled true).
	NoPubSub bool
}

// Hub carries publications between MQTT and one WAMP realm. It is the only
// place that decides whether a message crosses: each engine delivers a
// publication natively and hands it to the hub once; the hub maps it and
// delivers it through the other engine, whose own publications it is never
// handed back. So a message crosses exactly once, and never loops.
//
// The hub listens only where the other side has interest: an MQTT message
// is mapped only if a WAMP subscription matches it (the index is kept from
// nexus' subscription changes), and a WAMP event only if an MQTT session
// subscribes to its topic (mochi's own topic tree answers) or it is to be
// retained.
//
// FromMQTT and FromWAMP are called on the publisher's own goroutine and
// deliver before they return: messages of one publisher keep their order,
// and an MQTT QoS 1/2 publisher is acknowledged only after the hub has
// handed its message to WAMP.
type Hub struct {
	cfg      Config
	policy   policy // what the configuration says about routing (route.go)
	mapper   *Mapper
	interest *interest
	log      *slog.Logger

	mqtt   atomic.Pointer[MQTTEngine]
	wamp   atomic.Pointer[WAMPEngine]
	dealer atomic.Pointer[Dealer]
	fed    atomic.Pointer[Federation]
	crpc   atomic.Pointer[clusterRPC] // nil without cluster-wide RPC
	realms atomic.Pointer[WAMPRealms] // delivers other routers' publications of non-bridged realms
	// realmPrefixes caches each non-bridged realm's route key prefix
	// (fedrealm.go); realms are few and fixed by the configuration.
	realmPrefixes sync.Map

	invocationID atomic.Uint64 // names invocations of MQTT callees: $rpc-reply/<id>

	share shareState // shared subscription groups (fedshare.go)

	rpcMu      sync.Mutex
	rpcClients map[*RPCClient]struct{}
	rpcClosed  bool

	lastLog atomic.Int64 // unix nanoseconds of the last rate-limited warning

	sess sessionState // MQTT sessions across routers (fedsession.go)
}

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("invalid bridge config")

// New checks cfg and returns a hub with no engines yet (see Connect).
func New(cfg Config) (*Hub, error) {
	var errs []error
	if cfg.Realm == "" {
		errs = append(errs, errors.New("Realm is required"))
	}
	if cfg.QoS > 2 {
		errs = append(errs, errors.New("QoS must be 0, 1 or 2"))
	}
	if cfg.Logger == nil || cfg.Metrics == nil || cfg.Authority == nil {
		errs = append(errs, errors.New("Logger, Metrics and Authority are required"))
	}
	m, err := NewMapper(cfg.Rules)
	if err != nil {
		errs = append(errs, err)
	}
	if err := cfg.RPC.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	h := &Hub{cfg: cfg, mapper: m, interest: newInterest(), log: cfg.Logger.With("component", "bridge"),
		rpcClients: map[*RPCClient]struct{}{},
		policy:     policy{realm: cfg.Realm, pubsub: !cfg.NoPubSub, rpc: cfg.RPC.Enabled}}
	h.sess.init()
	return h, nil
}

// Connect gives the hub its engines. Until then nothing crosses.
func (h *Hub) Connect(m MQTTEngine, w WAMPEngine) {
	h.mqtt.Store(&m)
	h.wamp.Store(&w)
}

// ConnectDealer gives the hub the WAMP dealer that MQTT clients call and
// register through. Until then, and without RPCConfig.Enabled, they cannot.
func (h *Hub) ConnectDealer(d Dealer) { h.dealer.Store(&d) }

// deliver sends m to one MQTT client (see MQTTEngine.Deliver).
func (h *Hub) deliver(clientID, filter string, m MQTTMessage) error {
	mp := h.mqtt.Load()
	if mp == nil {
		return errors.New("no MQTT engine")
	}
	return (*mp).Deliver(clientID, filter, m)
}

// Realm is the WAMP realm bridged to MQTT.
func (h *Hub) Realm() string { return h.cfg.Realm }

// Mapper returns the hub's topic mapping.
func (h *Hub) Mapper() *Mapper { return h.mapper }

// mqttToWAMP delivers an MQTT publication, local or remote, to the WAMP
// subscribers of this router, under its mapping to (see mapMQTT); it
// reports whether any WAMP subscription wanted it.
func (h *Hub) mqttToWAMP(m MQTTMessage, to toWAMP) bool {
	if !to.ok || h.interest.empty() {
		return false
	}
	wp := h.wamp.Load()
	if wp == nil || !h.interest.match(to.uri) {
		return false
	}
	uri, mode := to.uri, to.mode
	payload, err := FromMQTT(m.MQTTPayload, m.V5, mode)
	if err != nil {
		h.cfg.Metrics.Unmapped("payload")
		h.warn("MQTT message not bridged to WAMP: payload does not fit the rule's mode",
			"topic", m.Topic, "mode", string(mode), "client", m.Publisher.ClientID, "error", err)
		return false
	}
	out := WAMPMessage{URI: uri, WAMPPayload: payload, Retain: m.Retain}
	if h.cfg.Authority.Discloses(m.Publisher, auth.ActionPublish, uri) {
		out.Disclose = &Disclosed{AuthID: m.Publisher.AuthID, AuthRole: m.Publisher.Role, ClientID: m.Publisher.ClientID}
	}
	if err := (*wp).Publish(out); err != nil {
		h.cfg.Metrics.Unmapped("engine")
		h.warn("MQTT message not bridged to WAMP", "topic", m.Topic, "error", err)
		return false
	}
	h.cfg.Metrics.Bridged(MQTTToWAMP)
	return true
}

// wampToMQTTFrom delivers a WAMP publication of the bridged realm, local
// (remote false) or another router's, to the MQTT subscribers of this
// router under its mapping to (see mapWAMP), and stores it if it is a
// local retained one. Shared subscription groups are served by the
// publisher's router's choice (fedshare.go). It reports whether it was
// handed to MQTT.
func (h *Hub) wampToMQTTFrom(m WAMPMessage, to toMQTT, remote bool) bool {
	mp := h.mqtt.Load()
	if mp == nil || !h.policy.pubsub {
		return false
	}
	if !to.ok {
		if m.Retain {
			h.log.Debug("WAMP retained event not stored: its topic is not bridged", "uri", m.URI)
		}
		return false
	}
	topic, mode := to.topic, to.mode
	if !m.Retain && !(*mp).HasSubscribers(topic) && (remote || !h.shareRemote(topic)) {
		return false
	}
	payload, err := ToMQTT(m.WAMPPayload, mode)
	if err != nil {
		h.cfg.Metrics.Unmapped("payload")
		h.warn("WAMP event not bridged to MQTT: payload does not fit the rule's mode",
			"uri", m.URI, "mode", string(mode), "error", err)
		return false
	}
	// Fixed header, topic and packet id, content type and format: an upper bound.
	if size := len(payload.Payload) + len(topic) + len(payload.ContentType) + 16; h.cfg.MaxPacket > 0 && size > h.cfg.MaxPacket {
		h.cfg.Metrics.Unmapped("too_large")
		h.warn("WAMP event not bridged to MQTT: it would exceed the message size limit",
			"uri", m.URI, "size", size, "limit", h.cfg.MaxPacket)
		return false
	}
	out := MQTTMessage{Topic: topic, MQTTPayload: payload, QoS: h.cfg.QoS, Retain: m.Retain, V5: true}
	out.Shares = h.shareScope(out, remote)
	if err := (*mp).Publish(out); err != nil {
		h.cfg.Metrics.Unmapped("engine")
		h.warn("WAMP event not bridged to MQTT", "uri", m.URI, "error", err)
		return false
	}
	h.cfg.Metrics.Bridged(WAMPToMQTT)
	return true
}

// Subscribed tells the hub that a WAMP subscription pattern has its first
// subscriber in the bridged realm.
func (h *Hub) Subscribed(p topic.Pattern) {
	p = normalize(p)
	if h.policy.pubsub {
		h.interest.add(p)
	}
	if f := h.fed.Load(); f != nil {
		(*f).AddRoute(federation.Route{Proto: federation.ProtoWAMP, Filter: p.URI, Match: p.Match})
	}
}

// Unsubscribed tells the hub that a pattern lost its last subscriber.
func (h *Hub) Unsubscribed(p topic.Pattern) {
	p = normalize(p)
	h.interest.remove(p)
	if f := h.fed.Load(); f != nil {
		(*f).RemoveRoute(federation.Route{Proto: federation.ProtoWAMP, Filter: p.URI, Match: p.Match})
	}
}

func normalize(p topic.Pattern) topic.Pattern {
	p.Match = p.Match.OrExact()
	return p
}

// Retained returns, in WAMP form, the retained message of every bridged topic
// the pattern matches: what a WAMP subscription with get_retained receives.
// The store is the MQTT side's, so both protocols see the same messages.
func (h *Hub) Retained(p topic.Pattern) []RetainedEvent {
	p = normalize(p)
	mp := h.mqtt.Load()
	if mp == nil || !h.policy.pubsub {
		return nil
	}
	filter := h.mapper.Subtrees(p)
	if filter == "" {
		return nil
	}
	var out []RetainedEvent
	for _, m := range (*mp).Retained(filter) {
		uri, mode, ok := h.mapper.ToWAMP(m.Topic)
		if !ok || !p.Matches(uri) {
			continue
		}
		payload, err := FromMQTT(m.MQTTPayload, m.V5, mode)
		if err != nil {
			h.cfg.Metrics.Unmapped("payload")
			continue
		}
		out = append(out, RetainedEvent{URI: uri, WAMPPayload: payload})
	}
	return out
}

// warn logs at most one line a second: a bad publisher can send thousands.
func (h *Hub) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := h.lastLog.Load()
	if now-last < int64(time.Second) || !h.lastLog.CompareAndSwap(last, now) {
		h.log.Debug(msg, args...)
		return
	}
	h.log.Warn(msg, args...)
}
