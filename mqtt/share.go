package mqtt

import (
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// Sharer decides which router serves each shared subscription group
// ($share/<group>/<filter>) that a publication matches; *bridge.Hub
// implements it (see bridge/fedshare.go). This file is the mechanism: it
// tags each publication with the hub's choice (packets.Packet.Scope, a
// Junction patch), keeps the groups the hub did not choose here from
// serving it, picks one member of the others (a connected one first), and
// hands back the unacknowledged messages of a member whose session ends.
type Sharer interface {
	// ShareMQTT is called for every publication of a local client before
	// mochi delivers it: the groups of this router that serve it (nil:
	// every group).
	ShareMQTT(m bridge.MQTTMessage) *bridge.Shares
	// ShareLeft is given each unacknowledged QoS >= 1 message of a member
	// of group whose session ended, for another member.
	ShareLeft(group, clientID string, m bridge.MQTTMessage)
}

// shareHook is added when the router has a hub (Config.Sharer).
type shareHook struct {
	mochi.HookBase
	sharer Sharer
	server *mochi.Server
	auth   *authHook
	// scoped: with federation, the hub says which groups serve each local
	// publication (OnPublish); without, every group here does.
	scoped bool

	mu sync.Mutex
	// discarded holds, by client id, a session that a takeover is ending
	// (see discard) and its groups, until the takeover is over: mochi
	// empties its subscriptions before it clears its store.
	discarded map[string]discardedSession
}

type discardedSession struct {
	client *mochi.Client
	groups []sharedGroup
}

func (h *shareHook) ID() string { return "junction-share" }

func (h *shareHook) Provides(b byte) bool {
	switch b {
	case mochi.OnPublish:
		return h.scoped
	case mochi.OnSelectSubscribers, mochi.OnDisconnect, mochi.OnSharedUndelivered, mochi.OnQosDropped,
		mochi.OnSessionEstablish, mochi.OnSessionEstablished:
		return true
	}
	return false
}

// OnPublish tags a local client's publication with the groups that serve
// it here. Injected publications (the hub's) carry their tag already.
func (h *shareHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || pk.Ignore {
		return pk, nil
	}
	m := messageOf(cl, pk)
	if s := h.auth.session(cl); s != nil {
		m.Publisher = s.id
	}
	if sc := h.sharer.ShareMQTT(m); sc != nil {
		pk.Scope = sc
	}
	return pk, nil
}

// OnSelectSubscribers drops the groups that do not serve the publication
// and picks one member of each of the others.
func (h *shareHook) OnSelectSubscribers(subs *mochi.Subscribers, pk packets.Packet) *mochi.Subscribers {
	scope, _ := pk.Scope.(*bridge.Shares)
	// A group the hub picked this router for whose last member here has
	// left since (mochi patch 22 calls this hook for it): another member,
	// on another router, gets the message.
	for _, group := range scope.Groups() {
		if _, ok := subs.Shared[group]; !ok && pk.FixedHeader.Type == packets.Publish {
			h.sharer.ShareLeft(group, "", packetMessage(pk, true))
		}
	}
	for group, members := range subs.Shared {
		if !scope.Serves(group) {
			delete(subs.Shared, group)
			continue
		}
		id, sub, ok := pickMember(h.server, members, "")
		if !ok {
			// This router was picked to serve the group and its members
			// here are leaving: another member, here or on another
			// router, gets it.
			delete(subs.Shared, group)
			if pk.FixedHeader.Type == packets.Publish {
				h.sharer.ShareLeft(group, "", packetMessage(pk, true))
			}
			continue
		}
		// ShareName (which mochi leaves unused) names the groups the
		// member was picked for: OnSharedUndelivered needs them when the
		// member's subscriptions are already gone.
		names := []string{group}
		if prev, ok := subs.SharedSelected[id]; ok {
			names = append(prev.ShareName, group)
			sub = prev.Merge(sub)
		}
		sub.ShareName = names
		subs.SharedSelected[id] = sub
	}
	return subs
}

// OnDisconnect hands the unacknowledged QoS >= 1 messages of a session that
// ends to the hub, for each group of the session whose filter matches
// their topic. (A member that unsubscribes keeps what it was sent: MQTT
// has the server complete those deliveries. A persistent session keeps
// its messages while it is away.)
func (h *shareHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.takeoverOver(cl)
	if !expire || cl.Net.Inline || cl.IsTakenOver() {
		return
	}
	h.leave(cl, sharedGroups(cl))
}

// leave takes a member whose session ends out of its groups and hands on
// what it holds unacknowledged.
func (h *shareHook) leave(cl *mochi.Client, groups []sharedGroup) {
	if len(groups) == 0 {
		return
	}
	// Out of the groups first, then hand on what it holds: mochi removes a
	// clean session's subscriptions only after the OnDisconnect hooks, and
	// a message picked for it meanwhile would land in an inflight store
	// that is then cleared. One picked before it left the groups and
	// stored after this collection comes back through
	// OnSharedUndelivered, or OnQosDropped if mochi clears the store
	// first: whoever deletes a message from the store hands it on, so it
	// goes to another member once.
	for _, g := range groups {
		if h.server.Topics.Unsubscribe(g.name, cl.ID) {
			atomic.AddInt64(&h.server.Info.Subscriptions, -1)
		}
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		// Publish: not acknowledged at all (a QoS 2 message the client
		// answered with PUBREC is the client's). A topic sent as an alias
		// only is not known here.
		if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || pk.TopicName == "" {
			continue
		}
		h.handOn(cl, groups, pk)
	}
}

// OnSessionEstablish runs for an accepted connection just before mochi
// gives it the client id's session. A connection with clean start (or one
// replacing a clean 3.1.1 session) ends the session it takes the id from:
// mochi then drops that session's subscriptions and clears its store, and
// marks it taken over, so OnDisconnect does not hand on what it held.
// MQTT 5 (4.8.2) has a shared subscription's message go to another member
// when its member's session ends: it is handed on here.
func (h *shareHook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	old, ok := h.server.Clients.Get(cl.ID)
	if !ok || old == cl || old.Net.Inline {
		return
	}
	if pk.Connect.Clean || (old.Properties.Clean && old.Properties.ProtocolVersion < 5) {
		h.discard(old)
	}
}

// OnSessionEstablished: the takeover, if any, is over.
func (h *shareHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	h.takeoverOver(cl)
}

// discard takes a session that a takeover ends out of its groups and hands
// on what it holds. What reaches its store until mochi clears it is handed
// on by OnQosDropped or OnSharedUndelivered, which find its groups here
// (mochi has emptied its subscriptions by then).
func (h *shareHook) discard(old *mochi.Client) {
	groups := sharedGroups(old)
	if len(groups) == 0 {
		return
	}
	h.mu.Lock()
	if h.discarded == nil {
		h.discarded = map[string]discardedSession{}
	}
	h.discarded[old.ID] = discardedSession{old, groups}
	h.mu.Unlock()
	h.leave(old, groups)
}

// takeoverOver forgets a discarded session once the connection that took
// its client id over is established or gone (cl is that connection, or a
// later one: not the discarded client itself, whose own goroutine may end
// before mochi clears its store).
func (h *shareHook) takeoverOver(cl *mochi.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.discarded[cl.ID]; ok && d.client != cl {
		delete(h.discarded, cl.ID)
	}
}

// discardOver forgets the discarded session cl once its store is cleared.
func (h *shareHook) discardOver(cl *mochi.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if d, ok := h.discarded[cl.ID]; ok && d.client == cl {
		delete(h.discarded, cl.ID)
	}
}

// discardedGroups returns the groups of cl if a takeover is ending its
// session.
func (h *shareHook) discardedGroups(cl *mochi.Client) ([]sharedGroup, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.discarded[cl.ID]
	if !ok || d.client != cl {
		return nil, false
	}
	return d.groups, true
}

// OnSharedUndelivered takes a message mochi stored for a member whose
// connection closed after it was picked: a clean session loses its store
// with its connection, so the message goes to another member. (A
// persistent session keeps it for its return.) A member that left the
// server altogether (cl nil) had nothing stored.
func (h *shareHook) OnSharedUndelivered(cl *mochi.Client, sub packets.Subscription, pk packets.Packet) {
	if pk.TopicName == "" {
		return
	}
	if cl != nil && (cl.Net.Inline || cl.IsTakenOver() || persistent(cl)) {
		if _, discarded := h.discardedGroups(cl); !discarded {
			return
		}
	}
	var groups []sharedGroup
	for _, name := range sub.ShareName {
		if _, rest, ok := topic.CutShare(name); ok && rest != "" {
			groups = append(groups, sharedGroup{name, rest})
		}
	}
	h.handOn(cl, groups, pk)
}

// OnQosDropped takes a message that mochi deleted from the store of a
// clean session as it ended (Client.ClearInflights, after the OnDisconnect
// hooks). OnDisconnect handed on what the store held then; a message picked
// for the member just before it closed can be stored after that and be
// deleted here before the publisher's OnSharedUndelivered could take it:
// mochi deleted it, so it is this hook's to hand on. (mochi also reports
// messages that expired, and packets without a topic: those are not.)
func (h *shareHook) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	if pk.FixedHeader.Type != packets.Publish || pk.FixedHeader.Qos == 0 || pk.TopicName == "" {
		return
	}
	if pk.ProtocolVersion == 5 && pk.Expiry > 0 && pk.Expiry < time.Now().Unix() {
		return
	}
	groups, discarded := h.discardedGroups(cl)
	if !discarded {
		if cl.Net.Inline || !cl.Closed() || cl.IsTakenOver() || persistent(cl) {
			return
		}
		groups = sharedGroups(cl)
	}
	if len(groups) == 0 {
		return
	}
	h.handOnDeleted(cl.ID, groups, pk)
}

// handOn takes pk out of cl's inflight store and, if it was still there
// (nobody handed it on before), gives it to the groups among groups whose
// filter matches its topic. A nil cl stored nothing: pk is handed on.
func (h *shareHook) handOn(cl *mochi.Client, groups []sharedGroup, pk packets.Packet) {
	id := ""
	if cl != nil {
		if !cl.State.Inflight.Delete(pk.PacketID) {
			return
		}
		atomic.AddInt64(&h.server.Info.Inflight, -1)
		id = cl.ID
	}
	h.handOnDeleted(id, groups, pk)
}

// handOnDeleted gives pk, out of the store of client id ("" for none), to
// the groups among groups whose filter matches its topic.
func (h *shareHook) handOnDeleted(id string, groups []sharedGroup, pk packets.Packet) {
	m := packetMessage(pk, true) // its properties are the ones it was sent with
	for _, g := range groups {
		if topic.FilterMatches(g.filter, pk.TopicName) {
			h.sharer.ShareLeft(g.name, id, m)
		}
	}
}

// sharedGroup is one of a client's shared subscriptions: the whole filter
// ($share/<group>/<filter>) and the topic filter in it.
type sharedGroup struct{ name, filter string }

// sharedGroups lists cl's shared subscriptions. It reads the client's own
// subscription list, which mochi empties only after the OnDisconnect
// hooks, so it still answers after the client left the groups in the topic
// index.
func sharedGroups(cl *mochi.Client) []sharedGroup {
	var groups []sharedGroup
	for f := range cl.State.Subscriptions.GetAll() {
		if _, rest, ok := topic.CutShare(f); ok && rest != "" {
			groups = append(groups, sharedGroup{f, rest})
		}
	}
	return groups
}

// DeliverShared implements the hub's delivery to one member of a group
// (bridge.ErrNoMember when this router has none but exclude).
func (s *Server) DeliverShared(group, exclude string, m bridge.MQTTMessage) error {
	members := s.mochi.Topics.Subscribers(m.Topic).Shared[group]
	for range 3 {
		id, sub, ok := pickMember(s.mochi, members, exclude)
		if !ok {
			return bridge.ErrNoMember
		}
		cl, ok := s.mochi.Clients.Get(id)
		if !ok {
			delete(members, id)
			continue
		}
		pk := packetOf(m)
		pk.Created = time.Now().Unix()
		out, err := s.mochi.PublishToClient(cl, sub, pk)
		if errors.Is(err, packets.CodeDisconnect) && out.FixedHeader.Qos > 0 {
			if persistent(cl) || !cl.State.Inflight.Delete(out.PacketID) {
				// Kept for the session, sent when it comes back; or the
				// member's OnDisconnect took it and handed it on.
				return nil
			}
			// A clean session that ended as it was picked: another member.
			atomic.AddInt64(&s.mochi.Info.Inflight, -1)
			delete(members, id)
			continue
		}
		return err
	}
	return bridge.ErrNoMember
}

// pickMember picks a member (not exclude) at random among the connected
// ones, else among the others (offline persistent sessions, which get
// QoS >= 1 messages when they return).
func pickMember(srv *mochi.Server, members map[string]packets.Subscription, exclude string) (string, packets.Subscription, bool) {
	var online, offline []string
	for id := range members {
		if id == exclude {
			continue
		}
		cl, ok := srv.Clients.Get(id)
		switch {
		case ok && !cl.Closed():
			online = append(online, id)
		case ok && !persistent(cl):
			// A clean session whose connection is ending: its
			// subscriptions go with it, and so would a message given it.
		default:
			offline = append(offline, id)
		}
	}
	ids := online
	if len(ids) == 0 {
		ids = offline
	}
	if len(ids) == 0 {
		return "", packets.Subscription{}, false
	}
	slices.Sort(ids)
	id := ids[rand.IntN(len(ids))]
	return id, members[id], true
}
