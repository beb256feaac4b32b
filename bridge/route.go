package bridge

import (
	"errors"
	"strings"

	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// Routing: the one place that decides where a publication goes.
//
// Each engine hands the hub every publication it accepted (authorized, and
// about to be delivered natively by that engine) through Hub.Publish, with
// the facts the engine knows about it attached: the protocol, the WAMP
// realm, the WAMP options that address chosen sessions or make the payload
// opaque, the MQTT client's RPC caller. Publish classifies it against the
// hub's policy, which New builds once from the configuration (is pub/sub
// bridged, are "$rpc/" topics calls, which realm is MQTT's), and routes it:
// to the RPC translator, to the other routers, to the other protocol on
// this router. Its topic is mapped once, and both routes use that mapping.
// The engines keep the protocol details (packets, reason codes, options);
// none of them decides where a message goes.
//
// What comes from another router enters through FederationHandler and goes
// to the local engines only (deliver in wire.go), never back out; what the
// hub publishes into an engine is never handed back (the engines leave
// their own inline publications out). So a message crosses each boundary
// at most once, and loops are impossible by construction.

// Publication is a publication an engine accepted, with the facts about
// it. Exactly one of MQTT and WAMP is set: the publisher's protocol.
type Publication struct {
	MQTT *MQTTMessage
	WAMP *WAMPMessage

	// Realm is the WAMP realm a WAMP publication was published in.
	Realm string
	// Selective: a WAMP publication addressed to chosen sessions (eligible,
	// eligible_authid, eligible_authrole). It stays with them.
	Selective bool
	// Passthru: a WAMP publication whose payload is opaque to the router
	// (payload passthru mode). It cannot be mapped, so it stays in WAMP.
	Passthru bool
	// Caller is the MQTT publisher's RPC client: what a publication to an
	// "$rpc/" topic calls with (nil: the client has none, so it cannot).
	Caller RPCCaller
}

// RPCCaller is an MQTT client's side of RPC: *RPCClient implements it.
type RPCCaller interface {
	// Call calls the procedure of a publication to "$rpc/<procedure>".
	Call(MQTTMessage) error
	// Reply is a callee's answer, published to "$rpc-reply/<id>".
	Reply(MQTTMessage) error
}

// Route is where Hub.Publish sent a publication, besides its own engine's
// subscribers.
type Route uint8

const (
	// RouteRPC: it was a call or a callee's answer, not a publication: the
	// engine delivers it to no subscriber.
	RouteRPC Route = 1 << iota
	// RouteRouters: handed to the other routers.
	RouteRouters
	// RouteOther: delivered to the other protocol's subscribers here.
	RouteOther
)

// ErrNoCaller is Publish's error for a call from a client without RPC.
var ErrNoCaller = errors.New("the client cannot call")

// policy is what the configuration says about routing, fixed at New.
type policy struct {
	realm  string // the WAMP realm bridged to MQTT's topic space
	pubsub bool   // publications cross between MQTT and WAMP
	rpc    bool   // MQTT "$rpc/" topics are calls and answers
}

// route reports whether an MQTT filter with subscribers here is a route,
// interest in publications that other routers send here: $SYS is this
// broker's own, and with RPC an "$rpc/" filter is a registration (cluster
// RPC announces it as a procedure instead).
func (pol policy) route(filter string) bool {
	f := topic.Unshared(filter)
	return !strings.HasPrefix(f, "$SYS") && !(pol.rpc && IsRPCTopic(f))
}

// class is a publication's classification.
type class uint8

const (
	classLocal     class = iota // stays with its own engine's subscribers
	classRPC                    // an MQTT call or answer
	classMQTT                   // an MQTT publication in the bridged topic space
	classWAMP                   // a WAMP publication in the bridged realm
	classRealmWAMP              // a WAMP publication in another realm: WAMP to WAMP only
)

// classify is the routing decision: what kind of traffic p is, from its
// facts and the policy.
func (pol policy) classify(p *Publication) class {
	switch {
	case p.MQTT != nil:
		t := p.MQTT.Topic
		switch {
		case strings.HasPrefix(t, "$SYS"):
			return classLocal // the broker's own state never crosses
		case pol.rpc && IsRPCTopic(t):
			return classRPC
		}
		return classMQTT
	case p.WAMP != nil:
		switch {
		case p.Selective || p.Passthru:
			// Addressed to chosen WAMP sessions, or an opaque payload: not
			// for MQTT, nor for sessions on other routers (which the
			// addressing cannot name).
			return classLocal
		case p.Realm == "" || p.Realm == pol.realm:
			return classWAMP
		}
		return classRealmWAMP
	}
	return classLocal
}

// Publish routes a publication an engine accepted (see Publication). It is
// called on the publisher's goroutine and delivers before it returns, so a
// publisher's messages keep their order, and an MQTT QoS 1/2 publisher is
// acknowledged only once the hub has handed its message on. The error is
// a call's or an answer's (RouteRPC): the engine tells its client.
func (h *Hub) Publish(p Publication) (Route, error) {
	var fed Federation
	if f := h.fed.Load(); f != nil {
		fed = *f
	}
	switch h.policy.classify(&p) {
	case classRPC:
		return RouteRPC, h.rpcPublication(p)
	case classMQTT:
		m := *p.MQTT
		mapped := h.mapMQTT(m.Topic)
		var r Route
		if fed != nil {
			h.federateMQTT(fed, m, mapped.uri)
			r |= RouteRouters
		}
		if h.mqttToWAMP(m, mapped) {
			r |= RouteOther
		}
		return r, nil
	case classWAMP:
		m := *p.WAMP
		m.Realm = ""
		mapped := h.mapWAMP(m.URI)
		var r Route
		if fed != nil {
			h.federateWAMP(fed, m, mapped)
			r |= RouteRouters
		}
		if h.wampToMQTTFrom(m, mapped, false) {
			r |= RouteOther
		}
		return r, nil
	case classRealmWAMP:
		if fed == nil {
			return 0, nil
		}
		m := *p.WAMP
		m.Realm = p.Realm
		h.federateRealm(fed, m)
		return RouteRouters, nil
	}
	return 0, nil
}

// rpcPublication is an MQTT client's call or a callee's answer.
func (h *Hub) rpcPublication(p Publication) error {
	if p.Caller == nil {
		return ErrNoCaller
	}
	if strings.HasPrefix(p.MQTT.Topic, RPCReplyPrefix) {
		return p.Caller.Reply(*p.MQTT)
	}
	return p.Caller.Call(*p.MQTT)
}

// toWAMP is an MQTT topic's mapping into the bridged realm: ok false when
// it does not cross (pub/sub not bridged, or no rule takes it).
type toWAMP struct {
	uri  string
	mode Mode
	ok   bool
}

func (h *Hub) mapMQTT(topic string) toWAMP {
	if !h.policy.pubsub {
		return toWAMP{}
	}
	uri, mode, ok := h.mapper.ToWAMP(topic)
	return toWAMP{uri, mode, ok}
}

// toMQTT is a WAMP URI's mapping into MQTT's topic space.
type toMQTT struct {
	topic string
	mode  Mode
	ok    bool
}

func (h *Hub) mapWAMP(uri string) toMQTT {
	if !h.policy.pubsub {
		return toMQTT{mode: ModeAuto}
	}
	topic, mode, ok := h.mapper.ToMQTT(uri)
	if !ok {
		return toMQTT{mode: ModeAuto}
	}
	return toMQTT{topic, mode, true}
}

// federateRealm hands a publication of a realm not bridged to MQTT to the
// link, under its realm's route key.
func (h *Hub) federateRealm(f Federation, m WAMPMessage) {
	key := h.realmURI(m.Realm, m.URI)
	if w, ok := f.(wanter); ok && !w.Wants("", key) {
		return
	}
	body, err := EncodeWAMP(m)
	if err != nil {
		h.cfg.Metrics.Unmapped("payload")
		h.warn("WAMP event not sent to other routers: its payload cannot be encoded", "realm", m.Realm, "uri", m.URI, "error", err)
		return
	}
	f.Publish(federation.Message{URI: key, Reliable: m.Acknowledge, Body: body})
}
