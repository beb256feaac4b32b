package bridge

import (
	"github.com/junctionmq/junction/bridge/federation"
)

// Federation: the hub is also where publications leave for other routers
// and arrive from them (bridge/federation carries them through Redis). A
// local publication is handed to the link once, in its publisher's form
// (see wire.go), with both of its names: the MQTT topic and, when it is
// bridged, the WAMP URI, so that a router whose interest is in either
// protocol gets it. A publication from another router is delivered to both
// local engines, as a local one would be, and never goes back out: the hub
// hands the link only what local clients published, so nothing loops.
//
// Interest: the hub announces a route for each WAMP pattern and each MQTT
// filter that has local subscribers (first subscriber: AddRoute; last one
// gone: RemoveRoute); the link sends a router only what its routes match.
//
// Retained messages: a local retained publication (MQTT retain, WAMP
// retain) goes to the cluster-wide retained log in its MQTT form, and every
// router, this one included, applies the log to its own store in the log's
// one order. A remote publication is delivered live without being stored:
// only the log changes a store, so every router's store ends the same.

// Federation is the link to the other routers; *federation.Link implements
// it.
type Federation interface {
	AddRoute(federation.Route)
	RemoveRoute(federation.Route)
	Publish(federation.Message) int
	Retain(topic string, body []byte)
}

// wanter is implemented by links that can tell cheaply whether any other
// router wants a publication, so that the hub encodes only what leaves.
type wanter interface {
	Wants(topic, uri string) bool
}

// FederationHandler is what the link calls with other routers'
// publications and with retained changes.
func (h *Hub) FederationHandler() federation.Handler { return fedHandler{h} }

// ConnectFederation gives the hub its link to other routers, before the
// router accepts clients.
func (h *Hub) ConnectFederation(f Federation) { h.fed.Store(&f) }

// MQTTSubscribed tells the hub that an MQTT filter has its first subscriber
// on this router.
func (h *Hub) MQTTSubscribed(filter string) {
	if !h.policy.route(filter) {
		return
	}
	if f := h.fed.Load(); f != nil {
		(*f).AddRoute(federation.Route{Proto: federation.ProtoMQTT, Filter: filter})
	}
	h.share.local(filter, true)
}

// MQTTUnsubscribed tells the hub that an MQTT filter lost its last
// subscriber on this router.
func (h *Hub) MQTTUnsubscribed(filter string) {
	if !h.policy.route(filter) {
		return
	}
	if f := h.fed.Load(); f != nil {
		(*f).RemoveRoute(federation.Route{Proto: federation.ProtoMQTT, Filter: filter})
	}
	h.share.local(filter, false)
}

// federateMQTT hands a local MQTT publication to the link, with its URI
// in the bridged realm ("" when it is not bridged).
func (h *Hub) federateMQTT(f Federation, m MQTTMessage, uri string) {
	var body []byte
	if w, ok := f.(wanter); !ok || w.Wants(m.Topic, uri) {
		body = EncodeMQTT(m)
		f.Publish(federation.Message{Topic: m.Topic, URI: uri, Reliable: m.QoS > 0, Body: body})
	}
	if m.Retain {
		if len(m.Payload) == 0 {
			f.Retain(m.Topic, nil)
			return
		}
		if body == nil {
			body = EncodeMQTT(m)
		}
		f.Retain(m.Topic, body)
	}
}

// federateWAMP hands a local WAMP publication of the bridged realm to the
// link, with its MQTT topic when it is bridged.
func (h *Hub) federateWAMP(f Federation, m WAMPMessage, to toMQTT) {
	if w, ok := f.(wanter); !ok || w.Wants(to.topic, m.URI) {
		body, err := EncodeWAMP(m)
		if err != nil {
			h.cfg.Metrics.Unmapped("payload")
			h.warn("WAMP event not sent to other routers: its payload cannot be encoded", "uri", m.URI, "error", err)
		} else {
			f.Publish(federation.Message{Topic: to.topic, URI: m.URI, Reliable: m.Acknowledge, Body: body})
		}
	}
	if !m.Retain || !to.ok {
		return
	}
	// The retained store is MQTT's: the log carries the MQTT form.
	if len(m.Args) == 0 && len(m.Kwargs) == 0 {
		f.Retain(to.topic, nil)
		return
	}
	p, err := ToMQTT(m.WAMPPayload, to.mode)
	if err != nil {
		return // not bridged locally either; counted there
	}
	f.Retain(to.topic, EncodeMQTT(MQTTMessage{Topic: to.topic, MQTTPayload: p, QoS: h.cfg.QoS, Retain: true, V5: true}))
}

// fedHandler is the hub as the link's Handler.
type fedHandler struct{ h *Hub }

// DeliverFrom takes a message from another router (origin is its
// incarnation) and hands it to the part of the hub its kind belongs to.
func (fh fedHandler) DeliverFrom(origin string, body []byte) {
	switch wireKind(body) {
	case wireRPC:
		fh.h.rpcFromRouter(origin, body)
	case wireShare:
		fh.h.shareFromRouter(origin, body)
	case wireSession:
		fh.h.sessionFromRouter(origin, body)
	default:
		fh.Deliver(body)
	}
}

// RemoteRows is told of other routers' procedures (federation.RowWatcher).
func (fh fedHandler) RemoteRows(node string, added, removed []string) {
	fh.h.rpcRows(node, added, removed)
}

// NodeGone is told of a router that died or left (federation.NodeWatcher):
// each part of the hub that holds state of it lets it go. (Shared
// subscriptions hold none: what was spooled for the router comes back
// through Returned.)
func (fh fedHandler) NodeGone(node string) {
	fh.h.rpcNodeGone(node)
	fh.h.sessionNodeGone(node)
}

// Deliver takes a publication from another router: it is delivered to both
// local engines, not stored as retained, and not handed back to the link.
func (fh fedHandler) Deliver(body []byte) {
	h := fh.h
	r, err := DecodeRemote(body)
	if err != nil {
		h.cfg.Metrics.Unmapped("wire")
		h.warn("message from another router not delivered", "error", err)
		return
	}
	if m := r.MQTT; m != nil {
		live := *m
		live.Retain = false
		live.Shares = noShares // served by the publisher's router's choice (fedshare.go)
		if mp := h.mqtt.Load(); mp != nil && (*mp).HasSubscribers(live.Topic) {
			if err := (*mp).Publish(live); err != nil {
				h.cfg.Metrics.Unmapped("engine")
				h.warn("message from another router not delivered to MQTT", "topic", live.Topic, "error", err)
			}
		}
		h.mqttToWAMP(live, h.mapMQTT(live.Topic))
		return
	}
	m := *r.WAMP
	m.Retain = false
	if m.Realm != "" {
		h.deliverRealm(m)
		return
	}
	if wp := h.wamp.Load(); wp != nil {
		if err := (*wp).Publish(m); err != nil {
			h.cfg.Metrics.Unmapped("engine")
			h.warn("message from another router not delivered to WAMP", "uri", m.URI, "error", err)
		}
	}
	h.wampToMQTTFrom(m, h.mapWAMP(m.URI), true)
}

// Retained applies a change of the cluster-wide retained log to the local
// store (which both protocols read).
func (fh fedHandler) Retained(topic string, body []byte) {
	h := fh.h
	mp := h.mqtt.Load()
	if mp == nil {
		return
	}
	m := MQTTMessage{Topic: topic, Retain: true}
	if body != nil {
		r, err := DecodeRemote(body)
		if err != nil || r.MQTT == nil || r.MQTT.Topic != topic {
			h.cfg.Metrics.Unmapped("wire")
			h.warn("retained change from the cluster log not applied", "topic", topic, "error", err)
			return
		}
		m = *r.MQTT
		m.Retain = true
	}
	(*mp).Retain(m)
}

// RetainedBody gives back the retained message this router holds for topic,
// so that the link can put it back when Redis lost its data (see
// federation.RetainedSource).
func (fh fedHandler) RetainedBody(topic string) []byte {
	mp := fh.h.mqtt.Load()
	if mp == nil {
		return nil
	}
	for _, m := range (*mp).Retained(topic) {
		if m.Topic == topic && len(m.Payload) > 0 {
			m.Retain = true
			return EncodeMQTT(m)
		}
	}
	return nil
}
