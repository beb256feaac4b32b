package mqtt

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
)

// Sessions is told of persistent MQTT sessions, so that they can move
// between routers; *bridge.Hub implements it (bridge/fedsession.go decides
// who owns a session and asks for it). This file is the mechanism: it
// exports a session from mochi and imports one into it.
type Sessions interface {
	// ResumeMQTTSession is called from OnConnect, before mochi looks the
	// client id up: a session held by another router is imported here
	// (ImportSession) before it returns, and returned (nil: none).
	ResumeMQTTSession(clientID string, id auth.Identity, clean bool) *bridge.MQTTSession
	// MQTTSessionEnded: the session ended here (expired, or ended with its
	// connection).
	MQTTSessionEnded(clientID string)
	// ForwardMQTTSession takes a QoS 1/2 message that reached a session
	// exported to another router.
	ForwardMQTTSession(clientID string, m bridge.MQTTInflight)
	// HandOverMQTTSessions is called at the end of a drain, when every
	// client has left and before mochi stops.
	HandOverMQTTSessions(ctx context.Context)
}

// sessionHook claims sessions at CONNECT and forwards what reaches
// exported ones.
type sessionHook struct {
	mochi.HookBase
	sessions Sessions
	server   *mochi.Server
	auth     *authHook
	interest *interestHook // nil without federation

	nMoved atomic.Int32 // len(moved): the delivery path looks at it first
	mu     sync.Mutex
	moved  map[string]*mochi.Client // exported sessions that still forward, by client id
	claims map[string]*mochi.Client // connections that claimed their client id here
}

func (h *sessionHook) ID() string { return "junction-sessions" }

func (h *sessionHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnect, mochi.OnDisconnect, mochi.OnClientExpired, mochi.OnQosPublish:
		return true
	}
	return false
}

func persistent(cl *mochi.Client) bool {
	if cl.Properties.ProtocolVersion >= 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// OnConnect runs after the auth hook accepted the client: a persistent
// session, or one that asks to resume, is claimed for this router and
// fetched from its previous router.
func (h *sessionHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	if cl.Net.Inline {
		return nil
	}
	if !persistent(cl) && pk.Connect.Clean {
		h.endForwarding(cl.ID) // a fresh session here: an exported one it left here goes
		return nil
	}
	// A session exported from here that still forwards (the client came
	// back) keeps forwarding until the session comes back: ImportSession
	// takes it over, so its routes never drop meanwhile.
	as := h.auth.session(cl)
	if as == nil || as.client != cl {
		return nil
	}
	h.mu.Lock()
	h.claims[cl.ID] = cl
	h.mu.Unlock()
	s := h.sessions.ResumeMQTTSession(cl.ID, as.id, pk.Connect.Clean)
	if s != nil && (s.Identity.AuthID != as.id.AuthID || s.Identity.Realm != as.id.Realm) {
		// The session stays here, under its own identity.
		h.auth.log.Info("MQTT connection refused", "client", cl.ID, "reason", "client id belongs to another identity's session")
		h.auth.metrics.AuthFailed("session")
		_ = h.server.SendConnack(cl, connackCode(cl, packets.ErrNotAuthorized), false, nil)
		return packets.ErrNotAuthorized
	}
	return nil
}

// OnDisconnect releases a claimed session that ends with its connection.
func (h *sessionHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.mu.Lock()
	claimed := h.claims[cl.ID] == cl
	if claimed {
		delete(h.claims, cl.ID)
	}
	h.mu.Unlock()
	if !expire || !claimed {
		return
	}
	if cur, ok := h.server.Clients.Get(cl.ID); ok && cur != cl {
		return
	}
	h.sessions.MQTTSessionEnded(cl.ID)
}

// OnClientExpired releases an expired session.
func (h *sessionHook) OnClientExpired(cl *mochi.Client) {
	h.mu.Lock()
	stale := h.moved[cl.ID] == cl
	h.mu.Unlock()
	if !stale {
		h.sessions.MQTTSessionEnded(cl.ID)
	}
}

// OnQosPublish forwards a message that mochi queued for an exported
// session, and takes it out of that session.
func (h *sessionHook) OnQosPublish(cl *mochi.Client, pk packets.Packet, _ int64, _ int) {
	if h.nMoved.Load() == 0 || pk.FixedHeader.Type != packets.Publish {
		return
	}
	h.mu.Lock()
	stale := h.moved[cl.ID] == cl
	h.mu.Unlock()
	if !stale {
		return
	}
	if cl.State.Inflight.Delete(pk.PacketID) {
		atomic.AddInt64(&h.server.Info.Inflight, -1)
	}
	m := inflightOf(pk)
	m.PacketID = 0
	h.sessions.ForwardMQTTSession(cl.ID, m)
}

// endForwarding removes an exported session for good: what it still holds
// is forwarded, its subscriptions go.
func (h *sessionHook) endForwarding(id string) {
	if h.nMoved.Load() == 0 {
		return
	}
	h.mu.Lock()
	cl := h.moved[id]
	if cl != nil {
		delete(h.moved, id)
		h.nMoved.Add(-1)
	}
	h.mu.Unlock()
	if cl == nil {
		return
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish {
			m := inflightOf(pk)
			m.PacketID = 0
			h.sessions.ForwardMQTTSession(id, m)
		}
	}
	h.server.UnsubscribeClient(cl)
	cl.ClearInflights()
	if cur, ok := h.server.Clients.Get(id); ok && cur == cl {
		h.server.Clients.Delete(id)
	}
	h.auth.forget(cl)
}

// takeOver ends an exported session that still forwards because its
// session is coming back (in): mochi's topic index, which is by client id,
// keeps the subscriptions in has too, so this router's routes never drop
// meanwhile; those in lacks go. It returns the exported client (nil: none)
// and what it still held.
func (s *Server) takeOver(in bridge.MQTTSession) (*mochi.Client, []packets.Packet) {
	h := s.sess
	if h.nMoved.Load() == 0 {
		return nil, nil
	}
	h.mu.Lock()
	cl := h.moved[in.ClientID]
	if cl != nil {
		delete(h.moved, in.ClientID)
		h.nMoved.Add(-1)
	}
	h.mu.Unlock()
	if cl == nil {
		return nil, nil
	}
	keep := map[string]bool{}
	for _, sub := range in.Subscriptions {
		keep[sub.Filter] = true
	}
	var gone []packets.Subscription
	for f, sub := range cl.State.Subscriptions.GetAll() {
		cl.State.Subscriptions.Delete(f)
		if !keep[f] {
			gone = append(gone, sub)
			if s.mochi.Topics.Unsubscribe(f, cl.ID) {
				atomic.AddInt64(&s.mochi.Info.Subscriptions, -1)
			}
		}
	}
	if len(gone) > 0 && h.interest != nil {
		h.interest.OnUnsubscribed(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe}, Filters: gone})
	}
	var held []packets.Packet
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish {
			held = append(held, pk)
		}
	}
	cl.ClearInflights()
	h.auth.forget(cl)
	return cl, held
}

// ExportSession implements bridge.MQTTSessions.
func (s *Server) ExportSession(id string, clean bool) (bridge.MQTTSession, bool) {
	h := s.sess
	if h == nil {
		return bridge.MQTTSession{}, false
	}
	h.mu.Lock()
	_, stale := h.moved[id]
	h.mu.Unlock()
	cl, ok := s.mochi.Clients.Get(id)
	if stale || !ok || cl.Net.Inline {
		return bridge.MQTTSession{}, false
	}
	wasClosed := cl.Closed()
	if !wasClosed {
		_ = s.mochi.DisconnectClient(cl, packets.ErrSessionTakenOver) // MQTT 5: DISCONNECT 0x8E
	}
	if clean {
		// A clean start elsewhere ends the session: what it holds for
		// shared subscriptions goes to other members.
		if s.share != nil {
			s.share.discard(cl)
			defer s.share.discardOver(cl)
		}
		s.mochi.UnsubscribeClient(cl)
		cl.ClearInflights()
		if cur, ok := s.mochi.Clients.Get(id); ok && cur == cl {
			s.mochi.Clients.Delete(id)
		}
		h.auth.forget(cl)
		return bridge.MQTTSession{}, false
	}
	h.mu.Lock()
	h.moved[id] = cl // from now on what mochi queues for it is forwarded
	h.nMoved.Add(1)
	h.mu.Unlock()
	out := bridge.MQTTSession{
		ClientID:   id,
		Version:    cl.Properties.ProtocolVersion,
		Expiry:     cl.Properties.Props.SessionExpiryInterval,
		ExpiryFlag: cl.Properties.Props.SessionExpiryIntervalFlag,
	}
	if wasClosed {
		out.Disconnected = cl.StopTime()
	}
	if as := h.auth.session(cl); as != nil {
		out.Identity = as.id
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if cl.State.Inflight.Delete(pk.PacketID) {
			atomic.AddInt64(&s.mochi.Info.Inflight, -1)
		}
		out.Inflight = append(out.Inflight, inflightOf(pk))
	}
	for _, sub := range cl.State.Subscriptions.GetAll() {
		out.Subscriptions = append(out.Subscriptions, bridge.MQTTSubscription{
			Filter: sub.Filter, QoS: sub.Qos, NoLocal: sub.NoLocal, RetainAsPublished: sub.RetainAsPublished,
			RetainHandling: sub.RetainHandling, Identifier: sub.Identifier,
		})
	}
	s.log.Debug("MQTT session exported", "client", id, "subscriptions", len(out.Subscriptions), "inflight", len(out.Inflight))
	return out, true
}

// EndForwarding implements bridge.MQTTSessions.
func (s *Server) EndForwarding(id string) {
	if s.sess != nil {
		s.sess.endForwarding(id)
	}
}

// ImportSession implements bridge.MQTTSessions: the session becomes an
// offline session of mochi's, which a connecting client takes over (session
// present, inflight messages resent in order); or, when mochi holds one for
// the client id already, it is merged into it.
func (s *Server) ImportSession(in bridge.MQTTSession) {
	h := s.sess
	if h == nil {
		return
	}
	stale, held := s.takeOver(in)
	cl, exists := s.mochi.Clients.Get(in.ClientID)
	if exists && cl == stale {
		exists = false // replaced below, in the same map entry
	}
	if !exists {
		cl = s.mochi.NewClient(nil, TransportTCP, in.ClientID, false)
		cl.Properties.ProtocolVersion = in.Version
		cl.Properties.Clean = false
		if in.ExpiryFlag {
			exp := int64(in.Expiry)
			if in.Disconnected > 0 { // the time it has been away counts
				exp = max(1, exp-(time.Now().Unix()-in.Disconnected))
			}
			cl.Properties.Props.SessionExpiryInterval = uint32(exp)
			cl.Properties.Props.SessionExpiryIntervalFlag = true
		}
		cl.Stop(packets.ErrServerShuttingDown) // offline, as a session mochi restores from storage
		for _, m := range in.Inflight {
			if cl.State.Inflight.Set(packetOfInflight(m)) {
				atomic.AddInt64(&s.mochi.Info.Inflight, 1)
			}
		}
		s.mochi.Clients.Add(cl)
		for _, pk := range held {
			m := inflightOf(pk)
			_ = s.deliverTo(cl, m)
		}
	} else {
		for _, m := range in.Inflight {
			if m.PubRel {
				continue // its PUBLISH was acknowledged: the PUBREL has no meaning in this session
			}
			_ = s.deliverTo(cl, m)
		}
	}
	h.auth.adopt(cl, in.Identity)
	for _, sub := range in.Subscriptions {
		ps := packets.Subscription{Filter: sub.Filter, Qos: sub.QoS, NoLocal: sub.NoLocal,
			RetainAsPublished: sub.RetainAsPublished, RetainHandling: sub.RetainHandling, Identifier: sub.Identifier}
		if s.mochi.Topics.Subscribe(in.ClientID, ps) {
			atomic.AddInt64(&s.mochi.Info.Subscriptions, 1)
		}
		cl.State.Subscriptions.Add(sub.Filter, ps)
		if h.interest != nil {
			h.interest.addSession(in.ClientID, sub.Filter)
		}
	}
	s.log.Debug("MQTT session imported", "client", in.ClientID, "merged", exists,
		"subscriptions", len(in.Subscriptions), "inflight", len(in.Inflight))
}

// DeliverSession implements bridge.MQTTSessions.
func (s *Server) DeliverSession(id string, m bridge.MQTTInflight) error {
	cl, ok := s.mochi.Clients.Get(id)
	if !ok {
		return errNoSession
	}
	return s.deliverTo(cl, m)
}

func (s *Server) deliverTo(cl *mochi.Client, m bridge.MQTTInflight) error {
	pk := packetOfInflight(m)
	pk.PacketID = 0
	sub := packets.Subscription{Filter: m.Message.Topic, Qos: m.Message.QoS, FwdRetainedFlag: true}
	_, err := s.mochi.PublishToClient(cl, sub, pk)
	if err != nil && (pk.FixedHeader.Qos > 0 && isDisconnect(err)) {
		return nil // queued for the session
	}
	return err
}

// PersistentSessions implements bridge.MQTTSessions: the offline
// persistent sessions (at a drain, every client has left).
func (s *Server) PersistentSessions() []string {
	var ids []string
	for id, cl := range s.mochi.Clients.GetAll() {
		if cl.Net.Inline || !cl.Closed() || !persistent(cl) {
			continue
		}
		if s.sess != nil {
			s.sess.mu.Lock()
			_, stale := s.sess.moved[id]
			s.sess.mu.Unlock()
			if stale {
				continue
			}
		}
		ids = append(ids, id)
	}
	return ids
}

// adopt makes id the identity of an imported session, unless the
// connection that holds the client id now is the same identity's.
func (h *authHook) adopt(cl *mochi.Client, id auth.Identity) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.sessions[cl.ID]; cur != nil && cur.id.AuthID == id.AuthID && cur.id.Realm == id.Realm {
		return
	}
	id.ClientID = cl.ID
	h.sessions[cl.ID] = &session{client: cl, id: id}
}

// addSession counts an imported subscription.
func (h *interestHook) addSession(id, filter string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.addLocked(id, filter)
}

func inflightOf(pk packets.Packet) bridge.MQTTInflight {
	m := bridge.MQTTInflight{
		PacketID: pk.PacketID,
		PubRel:   pk.FixedHeader.Type == packets.Pubrel,
		Created:  pk.Created,
		Expiry:   pk.Expiry,
		SubIDs:   pk.Properties.SubscriptionIdentifier,
	}
	if m.PubRel {
		return m
	}
	m.Message = bridge.MQTTMessage{
		Topic:           pk.TopicName,
		MQTTPayload:     payloadOf(pk),
		QoS:             pk.FixedHeader.Qos,
		Retain:          pk.FixedHeader.Retain,
		V5:              true,
		ResponseTopic:   pk.Properties.ResponseTopic,
		CorrelationData: pk.Properties.CorrelationData,
	}
	for _, u := range pk.Properties.User {
		m.Message.UserProperties = append(m.Message.UserProperties, bridge.UserProperty{Key: u.Key, Value: u.Val})
	}
	return m
}

func packetOfInflight(m bridge.MQTTInflight) packets.Packet {
	if m.PubRel {
		return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: m.PacketID, Created: m.Created}
	}
	pk := packetOf(m.Message)
	pk.FixedHeader.Retain = m.Message.Retain
	pk.PacketID = m.PacketID
	pk.Created = m.Created
	pk.Expiry = m.Expiry
	pk.Properties.SubscriptionIdentifier = m.SubIDs
	return pk
}

var errNoSession = errors.New("no such MQTT session")

func isDisconnect(err error) bool { return errors.Is(err, packets.CodeDisconnect) }
