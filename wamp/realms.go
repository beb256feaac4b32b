package wamp

import (
	"errors"
	"log/slog"
	"sync"

	nxrouter "github.com/gammazero/nexus/v3/router"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// RealmFederation is told of the subscriptions of the realms that are not
// bridged to MQTT, which federation routes by (their publications go to
// the Hub like every other); *bridge.Hub implements it
// (bridge/fedrealm.go). The methods must not block.
type RealmFederation interface {
	RealmSubscribed(realm string, p topic.Pattern)
	RealmUnsubscribed(realm string, p topic.Pattern)
}

// realmObserver tells federation of a non-bridged realm's subscriptions
// (nexus patch 4).
type realmObserver struct {
	realm string
	fed   RealmFederation
}

func (o realmObserver) Created(uri nxwamp.URI, match string) {
	o.fed.RealmSubscribed(o.realm, topic.Pattern{URI: string(uri), Match: topic.Match(match)})
}

func (o realmObserver) Subscribed(*nxwamp.Session, nxwamp.ID, nxwamp.URI, string, nxwamp.Dict) []nxwamp.Message {
	return nil
}

func (o realmObserver) Deleted(uri nxwamp.URI, match string) {
	o.fed.RealmUnsubscribed(o.realm, topic.Pattern{URI: string(uri), Match: topic.Match(match)})
}

// realmPublishers publishes other routers' publications into any realm,
// through one in-process session per realm, opened on first use.
type realmPublishers struct {
	nexus nxrouter.Router
	log   *slog.Logger

	mu     sync.Mutex
	byName map[string]*hubPublisher
	closed bool
}

// PublishIn implements bridge.WAMPRealms.
func (s *Server) PublishIn(realm string, m bridge.WAMPMessage) error {
	p, err := s.realmPubs.get(realm)
	if err != nil {
		return err
	}
	return p.Publish(m)
}

func (r *realmPublishers) get(realm string) (*hubPublisher, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("WAMP router closed")
	}
	if p := r.byName[realm]; p != nil {
		return p, nil
	}
	p, err := newHubPublisher(r.nexus, realm, r.log)
	if err != nil {
		return nil, err
	}
	if r.byName == nil {
		r.byName = map[string]*hubPublisher{}
	}
	r.byName[realm] = p
	return p, nil
}

func (r *realmPublishers) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for _, p := range r.byName {
		p.close()
	}
	r.byName = nil
}
