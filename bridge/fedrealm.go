package bridge

import (
	"encoding/hex"

	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// Federation of the WAMP realms that are not bridged to MQTT. The realm
// bridged to MQTT (Config.Realm) federates through the hub's pub/sub
// bridge (federate.go); every other realm's publications and subscriptions
// federate here, WAMP to WAMP: a publication in realm R on one router
// reaches R's subscribers on every router, by interest, and never crosses
// into another realm or into MQTT.
//
// The link matches routes by URI alone, so a realm's routes and
// publications carry its name as the URI's first component: "#" and the
// realm in hex, then the URI ("#7265616c6d32.com.acme.x"). A WAMP URI
// component never contains '#', so no URI of the bridged realm can be taken
// for one of another realm, and exact, prefix and wildcard patterns keep
// their meaning behind the added component.

// WAMPRealms publishes into any realm of this router. The WAMP side
// implements it.
type WAMPRealms interface {
	PublishIn(realm string, m WAMPMessage) error
}

// ConnectRealms gives the hub what it delivers other routers' publications
// of non-bridged realms with.
func (h *Hub) ConnectRealms(w WAMPRealms) { h.realms.Store(&w) }

// realmURI is uri of realm as the link routes it.
func (h *Hub) realmURI(realm, uri string) string {
	return h.realmPrefix(realm) + uri
}

// realmPrefix is "#" + the realm in hex + ".", computed once per realm:
// every publication of a non-bridged realm needs it.
func (h *Hub) realmPrefix(realm string) string {
	if p, ok := h.realmPrefixes.Load(realm); ok {
		return p.(string)
	}
	p := "#" + hex.EncodeToString([]byte(realm)) + "."
	h.realmPrefixes.Store(realm, p)
	return p
}

// RealmSubscribed tells the hub that a pattern of a realm that is not
// bridged has its first subscriber here.
func (h *Hub) RealmSubscribed(realm string, p topic.Pattern) {
	if f := h.fed.Load(); f != nil {
		p = normalize(p)
		(*f).AddRoute(federation.Route{Proto: federation.ProtoWAMP, Filter: h.realmURI(realm, p.URI), Match: p.Match})
	}
}

// RealmUnsubscribed tells the hub that the pattern lost its last
// subscriber here.
func (h *Hub) RealmUnsubscribed(realm string, p topic.Pattern) {
	if f := h.fed.Load(); f != nil {
		p = normalize(p)
		(*f).RemoveRoute(federation.Route{Proto: federation.ProtoWAMP, Filter: h.realmURI(realm, p.URI), Match: p.Match})
	}
}

// deliverRealm delivers another router's publication of a non-bridged realm
// to this router's subscribers in that realm.
func (h *Hub) deliverRealm(m WAMPMessage) {
	rp := h.realms.Load()
	if rp == nil {
		return
	}
	if err := (*rp).PublishIn(m.Realm, m); err != nil {
		h.cfg.Metrics.Unmapped("engine")
		h.warn("message from another router not delivered to WAMP", "realm", m.Realm, "uri", m.URI, "error", err)
	}
}
