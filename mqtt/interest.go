package mqtt

import (
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Interest is told when an MQTT filter gains its first subscriber on this
// router and when it loses its last; *bridge.Hub implements it (federation
// routes by it).
type Interest interface {
	MQTTSubscribed(filter string)
	MQTTUnsubscribed(filter string)
}

// interestHook keeps, per filter, the sessions that subscribe to it: a
// session counts from its SUBSCRIBE until it unsubscribes or the session
// ends (its connection, for a clean session; its expiry, for a persistent
// one, which still gets messages while away). Every filter counts: the hub
// decides which are routes (not $SYS, nor $rpc/ registrations).
type interestHook struct {
	mochi.HookBase
	interest Interest
	server   *mochi.Server

	mu       sync.Mutex
	byFilter map[string]map[string]struct{} // filter → client ids
	byClient map[string]map[string]struct{} // client id → filters
}

func newInterestHook(i Interest, s *mochi.Server) *interestHook {
	return &interestHook{interest: i, server: s,
		byFilter: map[string]map[string]struct{}{}, byClient: map[string]map[string]struct{}{}}
}

func (h *interestHook) ID() string { return "junction-interest" }

func (h *interestHook) Provides(b byte) bool {
	switch b {
	case mochi.OnSubscribed, mochi.OnUnsubscribed, mochi.OnSessionEstablish, mochi.OnDisconnect, mochi.OnClientExpired:
		return true
	}
	return false
}

// OnSubscribed counts the filters the SUBACK grants.
func (h *interestHook) OnSubscribed(cl *mochi.Client, pk packets.Packet, reasonCodes []byte) {
	if cl.Net.Inline {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, sub := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] < packets.ErrUnspecifiedError.Code {
			h.addLocked(cl.ID, sub.Filter)
		}
	}
}

// OnUnsubscribed uncounts.
func (h *interestHook) OnUnsubscribed(cl *mochi.Client, pk packets.Packet) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, sub := range pk.Filters {
		h.removeLocked(cl.ID, sub.Filter)
	}
}

// OnSessionEstablish uncounts the session a clean start replaces (mochi
// drops its subscriptions).
func (h *interestHook) OnSessionEstablish(cl *mochi.Client, pk packets.Packet) {
	prev, ok := h.server.Clients.Get(cl.ID)
	if ok && (pk.Connect.Clean || prev.Properties.Clean && prev.Properties.ProtocolVersion < 5) {
		h.forget(cl.ID)
	}
}

// OnDisconnect uncounts a session that ends with its connection, unless a
// new connection has taken the client id over.
func (h *interestHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	if !expire {
		return
	}
	if cur, ok := h.server.Clients.Get(cl.ID); ok && cur != cl {
		return
	}
	h.forget(cl.ID)
}

// OnClientExpired uncounts a persistent session that expired.
func (h *interestHook) OnClientExpired(cl *mochi.Client) { h.forget(cl.ID) }

func (h *interestHook) forget(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for f := range h.byClient[id] {
		h.removeLocked(id, f)
	}
}

// addLocked and removeLocked tell the hub under the lock, so that a
// filter's first and last subscriber reach it in order.
func (h *interestHook) addLocked(id, filter string) {
	ids := h.byFilter[filter]
	if ids == nil {
		ids = map[string]struct{}{}
		h.byFilter[filter] = ids
		h.interest.MQTTSubscribed(filter)
	}
	ids[id] = struct{}{}
	fs := h.byClient[id]
	if fs == nil {
		fs = map[string]struct{}{}
		h.byClient[id] = fs
	}
	fs[filter] = struct{}{}
}

func (h *interestHook) removeLocked(id, filter string) {
	ids := h.byFilter[filter]
	if _, ok := ids[id]; !ok {
		return
	}
	delete(ids, id)
	if len(ids) == 0 {
		delete(h.byFilter, filter)
		h.interest.MQTTUnsubscribed(filter)
	}
	fs := h.byClient[id]
	delete(fs, filter)
	if len(fs) == 0 {
		delete(h.byClient, id)
	}
}
