package bridge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/bridge/topic"
)

// Shared subscriptions across routers. A group is $share/<group>/<filter>
// (name and filter together, as in MQTT 5); each publication matching it
// goes to one member in the whole cluster.
//
// The publisher's router decides. For a local publication (MQTT, or WAMP
// bridged to an MQTT topic) the hub takes every group that matches the
// topic, here (the MQTT side tells it of local members through
// MQTTSubscribed) and on other routers (federation.Link.SharedGroups), and
// picks one router per group, round-robin among those with members, this
// one included. A group picked here is served by the local MQTT engine (one
// member, see Shares); a group picked elsewhere is sent to that router alone
// (SendTo, reliable at QoS >= 1) as a share message, which delivers it to
// one of its members. The ordinary publication that other routers get for
// their ordinary subscribers serves none of their groups (Shares empty), and
// shared rows draw no ordinary publications (see federation/share.go).
//
// When a member is gone:
//   - A share message that finds no member (the last one left before the
//     route change reached the publisher) is passed once to another router
//     with members; after that it is dropped (counted unmapped "no_member").
//   - A member whose session ends (clean session) hands its unacknowledged
//     QoS >= 1 messages back (ShareLeft): they go to another local member,
//     else to another router with members.
//   - A router that dies: the share messages the publisher's link still
//     held for it, unacknowledged, come back (federation.Returner) and go to
//     another member. Those it had acknowledged are its own: lost with it
//     if its member had not acknowledged them.
//
// The wire form of a share message (kind 4):
//
//	byte    version (1)
//	byte    kind (4)
//	byte    hops: 0 from the publisher's router, 1 passed on once
//	string  the group's filter, $share/<group>/<filter> (uvarint length, bytes)
//	        then the publication's MQTT wire form (wire.go) to the end

// Shares says which of this router's shared subscription groups serve a
// publication handed to the MQTT engine. A nil *Shares serves every group
// (one member each), as the engine alone would.
type Shares struct {
	groups []string
}

// Serves reports whether the group (its whole $share/<group>/<filter>)
// serves the publication.
func (s *Shares) Serves(group string) bool {
	return s == nil || slices.Contains(s.groups, group)
}

// NewShares returns a Shares served by the given groups only (for a
// Sharer other than the hub, and for tests).
func NewShares(groups ...string) *Shares { return &Shares{groups: groups} }

// Groups lists the groups that serve the publication (nil for a nil
// *Shares: every group here does).
func (s *Shares) Groups() []string {
	if s == nil {
		return nil
	}
	return s.groups
}

// noShares serves no group: a publication from another router.
var noShares = &Shares{}

// ErrNoMember is returned by an MQTT engine that has no member left of a
// shared subscription group.
var ErrNoMember = errors.New("no member of the shared subscription group")

// shareEngine is implemented by an MQTT engine that can deliver to one
// member of a group.
type shareEngine interface {
	// DeliverShared sends m to one member of group (not exclude, a client
	// id), preferring connected ones; ErrNoMember when there is none.
	DeliverShared(group, exclude string, m MQTTMessage) error
}

// shareLink is what the hub needs of the link for shared subscriptions;
// *federation.Link implements it.
type shareLink interface {
	ID() string
	SharedGroups(topic string) []federation.SharedGroup
	SharedMembers(group string) []string
	SendTo(node string, body []byte, reliable bool) bool
}

// shareState is the hub's: the groups with local members, and a round-robin
// counter per group.
type shareState struct {
	mu     sync.RWMutex
	groups map[string]string // $share/<group>/<filter> → <filter>
	n      atomic.Int32      // len(groups)
	rr     sync.Map          // group → *atomic.Uint64
}

// local records that a filter gained its first local subscriber (add) or
// lost its last; only $share filters count.
func (s *shareState) local(filter string, add bool) {
	f, ok := shareFilter(filter)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.groups == nil {
			s.groups = map[string]string{}
		}
		s.groups[filter] = f
	} else {
		delete(s.groups, filter)
	}
	s.n.Store(int32(len(s.groups)))
}

// matching returns the local groups whose filter matches the topic name.
func (s *shareState) matching(name string) []string {
	if s.n.Load() == 0 {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for g, f := range s.groups {
		if topic.FilterMatches(f, name) {
			out = append(out, g)
		}
	}
	return out
}

func (s *shareState) has(group string) bool {
	if s.n.Load() == 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.groups[group]
	return ok
}

// next is the group's round-robin counter, incremented.
func (s *shareState) next(group string) uint64 {
	c, ok := s.rr.Load(group)
	if !ok {
		c, _ = s.rr.LoadOrStore(group, new(atomic.Uint64))
	}
	return c.(*atomic.Uint64).Add(1) - 1
}

// shareFilter splits a valid $share/<group>/<filter> and returns <filter>.
func shareFilter(f string) (string, bool) {
	_, filter, ok := topic.CutShare(f)
	return filter, ok && filter != ""
}

func (h *Hub) shareLink() shareLink {
	f := h.fed.Load()
	if f == nil {
		return nil
	}
	sl, _ := (*f).(shareLink)
	return sl
}

// shareRemote reports whether another router has a group matching topic.
func (h *Hub) shareRemote(topic string) bool {
	sl := h.shareLink()
	return sl != nil && len(sl.SharedGroups(topic)) > 0
}

// shareScope is the Shares of a publication the hub hands to the MQTT
// engine: none of the groups for another router's, the hub's choice for a
// local one.
func (h *Hub) shareScope(m MQTTMessage, remote bool) *Shares {
	if remote {
		if h.shareLink() == nil {
			return nil
		}
		return noShares
	}
	return h.ShareMQTT(m)
}

// ShareMQTT decides, for a local publication about to be delivered by the
// local MQTT engine, which router serves each shared subscription group
// that matches it in the cluster; it sends the publication to the other
// routers picked and returns the groups the local engine serves. nil (every
// local group serves) when there is no federation or no other router has
// a matching group.
func (h *Hub) ShareMQTT(m MQTTMessage) *Shares {
	sl := h.shareLink()
	if sl == nil {
		return nil
	}
	remote := sl.SharedGroups(m.Topic)
	if len(remote) == 0 {
		return nil
	}
	local := h.share.matching(m.Topic)
	out := &Shares{}
	m.Retain = false // a live delivery; the retained store is the log's
	m.Shares = nil
	var body []byte // the MQTT wire form, encoded once
	for _, g := range remote {
		cands := g.Nodes
		if slices.Contains(local, g.Filter) {
			cands = append(slices.Clip(cands), "") // "": this router
		}
		start := h.share.next(g.Filter)
		for i := range cands {
			node := cands[(start+uint64(i))%uint64(len(cands))]
			if node == "" {
				out.groups = append(out.groups, g.Filter)
				break
			}
			if body == nil {
				body = EncodeMQTT(m)
			}
			if sl.SendTo(node, encodeShare(0, g.Filter, body), m.QoS > 0) {
				break
			}
		}
	}
	for _, g := range local {
		if !slices.ContainsFunc(remote, func(r federation.SharedGroup) bool { return r.Filter == g }) {
			out.groups = append(out.groups, g) // members here only
		}
	}
	return out
}

// ShareLeft is told of an unacknowledged QoS >= 1 message of a member
// (clientID) of group whose session ended: another member gets it.
func (h *Hub) ShareLeft(group, clientID string, m MQTTMessage) {
	h.shareServe(group, clientID, m, 0)
}

// shareServe delivers m to one member of group: a local one (not exclude)
// if there is one, else one of another router (hops counts the times the
// message was passed on already).
func (h *Hub) shareServe(group, exclude string, m MQTTMessage, hops byte) {
	m.Retain, m.Shares = false, nil
	if mp := h.mqtt.Load(); mp != nil {
		if se, ok := (*mp).(shareEngine); ok {
			err := se.DeliverShared(group, exclude, m)
			if err == nil {
				return
			}
			if !errors.Is(err, ErrNoMember) {
				h.cfg.Metrics.Unmapped("engine")
				h.warn("shared subscription message not delivered", "group", group, "topic", m.Topic, "error", err)
				return
			}
		}
	}
	if sl := h.shareLink(); sl != nil && hops == 0 {
		nodes := sl.SharedMembers(group)
		body := encodeShare(hops+1, group, EncodeMQTT(m))
		start := h.share.next(group)
		for i := range nodes {
			if sl.SendTo(nodes[(start+uint64(i))%uint64(len(nodes))], body, m.QoS > 0) {
				return
			}
		}
	}
	h.cfg.Metrics.Unmapped("no_member")
	h.warn("shared subscription message dropped: the group has no member left", "group", group, "topic", m.Topic)
}

// shareFromRouter serves a share message another router sent.
func (h *Hub) shareFromRouter(origin string, body []byte) {
	hops, group, m, err := decodeShare(body)
	if err != nil {
		h.cfg.Metrics.Unmapped("wire")
		h.warn("shared subscription message from another router not delivered", "origin", origin, "error", err)
		return
	}
	h.shareServe(group, "", m, hops)
}

// shareReturned serves again the share messages queued for a router that
// died, unacknowledged.
func (h *Hub) shareReturned(node string, bodies [][]byte) {
	n := 0
	for _, b := range bodies {
		if wireKind(b) != wireShare {
			continue
		}
		hops, group, m, err := decodeShare(b)
		if err != nil {
			continue
		}
		n++
		h.shareServe(group, "", m, hops)
	}
	if n > 0 {
		h.log.Info("shared subscription messages of a dead router sent to other members", "router", node, "messages", n)
	}
}

// Returned implements federation.Returner.
func (fh fedHandler) Returned(node string, bodies [][]byte) { fh.h.shareReturned(node, bodies) }

// encodeShare is the wire form of a share message; mqttBody is EncodeMQTT's.
func encodeShare(hops byte, group string, mqttBody []byte) []byte {
	b := make([]byte, 0, 3+binary.MaxVarintLen32+len(group)+len(mqttBody))
	b = append(b, wireVersion, wireShare, hops)
	b = appendString(b, group)
	return append(b, mqttBody...)
}

// decodeShare reads a share message. It never panics (see FuzzShareWire).
func decodeShare(b []byte) (hops byte, group string, m MQTTMessage, err error) {
	r := wireReader{b: b}
	version, kind := r.byte(), r.byte()
	hops = r.byte()
	group = r.string()
	if r.err != nil {
		return 0, "", MQTTMessage{}, r.err
	}
	if version != wireVersion || kind != wireShare || hops > 1 {
		return 0, "", MQTTMessage{}, fmt.Errorf("%w: share message version %d kind %d hops %d", ErrWire, version, kind, hops)
	}
	if _, ok := shareFilter(group); !ok {
		return 0, "", MQTTMessage{}, fmt.Errorf("%w: shared subscription group %q", ErrWire, group)
	}
	rem, err := DecodeRemote(r.b)
	if err != nil {
		return 0, "", MQTTMessage{}, err
	}
	if rem.MQTT == nil {
		return 0, "", MQTTMessage{}, fmt.Errorf("%w: share message without an MQTT publication", ErrWire)
	}
	return hops, group, *rem.MQTT, nil
}
