// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Inflight is a map of InflightMessage keyed on packet id.
//
// JUNCTION PATCH: the packets keep their insertion order. Upstream GetAll
// sorts by uint16(Created), the creation unix second cut to 16 bits: every
// packet queued within one second compares equal and comes back in map order
// (random), and the order wraps every 18 hours. ResendInflightMessages uses
// GetAll when a persistent session reconnects, so a subscriber got its
// offline QoS 1/2 messages shuffled, and MQTT wants the messages of one
// publisher on one topic in order (4.6). seq numbers each packet id when it
// enters the map; replacing an existing id (PUBLISH turned PUBREL, the
// immediate flag) keeps its place; Delete forgets it; GetAll sorts by it.
type Inflight struct {
	sync.RWMutex
	internal            map[uint16]packets.Packet // internal contains the inflight packets
	seq                 map[uint16]uint64         // JUNCTION PATCH: insertion sequence per packet id
	nextSeq             uint64                    // JUNCTION PATCH: next insertion sequence, under the mutex
	receiveQuota        int32                     // remaining inbound qos quota for flow control
	sendQuota           int32                     // remaining outbound qos quota for flow control
	maximumReceiveQuota int32                     // maximum allowed receive quota
	maximumSendQuota    int32                     // maximum allowed send quota
}

// NewInflights returns a new instance of an Inflight packets map.
func NewInflights() *Inflight {
	return &Inflight{
		internal: map[uint16]packets.Packet{},
		seq:      map[uint16]uint64{},
	}
}

// Set adds or updates an inflight packet by packet id.
func (i *Inflight) Set(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.internal[m.PacketID]
	i.internal[m.PacketID] = m
	if !ok { // JUNCTION PATCH: a new id goes last; a replaced one keeps its place
		i.seq[m.PacketID] = i.nextSeq
		i.nextSeq++
	}
	return !ok
}

// Get returns an inflight packet by packet id.
func (i *Inflight) Get(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	if m, ok := i.internal[id]; ok {
		return m, true
	}

	return packets.Packet{}, false
}

// Len returns the size of the inflight messages map.
func (i *Inflight) Len() int {
	i.RLock()
	defer i.RUnlock()
	return len(i.internal)
}

// Clone returns a new instance of Inflight with the same message data.
// This is used when transferring inflights from a taken-over session.
func (i *Inflight) Clone() *Inflight {
	c := NewInflights()
	i.RLock()
	defer i.RUnlock()
	for k, v := range i.internal {
		c.internal[k] = v
		c.seq[k] = i.seq[k] // JUNCTION PATCH: a taken-over session keeps its order
	}
	c.nextSeq = i.nextSeq
	return c
}

// GetAll returns all the inflight messages.
func (i *Inflight) GetAll(immediate bool) []packets.Packet {
	i.RLock()
	defer i.RUnlock()
	return i.getAll(immediate)
}

// getAll is GetAll for a caller holding the lock. JUNCTION PATCH: upstream
// NextImmediate called GetAll under its own RLock; a recursive RLock deadlocks
// when a writer queues between the two (sync.RWMutex documentation).
func (i *Inflight) getAll(immediate bool) []packets.Packet {
	// JUNCTION PATCH 23: the packet ids are sorted, not the packets (a
	// Packet is over a kilobyte; sorting thousands of them by value, once a
	// second per client in the expiry scan, was the cost of a full store),
	// and the result is allocated once.
	keys := make([]inflightKey, 0, len(i.internal))
	for id, v := range i.internal {
		if !immediate || (immediate && v.Expiry < 0) {
			keys = append(keys, inflightKey{seq: i.seq[id], id: id})
		}
	}

	// JUNCTION PATCH: insertion order, see Inflight (was uint16(Created)).
	slices.SortFunc(keys, func(a, b inflightKey) int { return cmp.Compare(a.seq, b.seq) })

	m := make([]packets.Packet, len(keys))
	for n, k := range keys {
		m[n] = i.internal[k.id]
	}
	return m
}

// inflightKey is a stored packet's insertion sequence and id (getAll).
type inflightKey struct {
	seq uint64
	id  uint16
}

// NextImmediate returns the next inflight packet which is indicated to be sent immediately.
// This typically occurs when the quota has been exhausted, and we need to wait until new quota
// is free to continue sending.
func (i *Inflight) NextImmediate() (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	m := i.getAll(true) // JUNCTION PATCH: the lock is held, see getAll
	if len(m) > 0 {
		return m[0], true
	}

	return packets.Packet{}, false
}

// Delete removes an in-flight message from the map. Returns true if the message existed.
func (i *Inflight) Delete(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	_, ok := i.internal[id]
	delete(i.internal, id)
	delete(i.seq, id) // JUNCTION PATCH

	return ok
}

// TakeRecieveQuota reduces the receive quota by 1.
func (i *Inflight) DecreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) > 0 {
		atomic.AddInt32(&i.receiveQuota, -1)
	}
}

// TakeRecieveQuota increases the receive quota by 1.
func (i *Inflight) IncreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) < atomic.LoadInt32(&i.maximumReceiveQuota) {
		atomic.AddInt32(&i.receiveQuota, 1)
	}
}

// ResetReceiveQuota resets the receive quota to the maximum allowed value.
func (i *Inflight) ResetReceiveQuota(n int32) {
	atomic.StoreInt32(&i.receiveQuota, n)
	atomic.StoreInt32(&i.maximumReceiveQuota, n)
}

// DecreaseSendQuota reduces the send quota by 1.
func (i *Inflight) DecreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) > 0 {
		atomic.AddInt32(&i.sendQuota, -1)
	}
}

// IncreaseSendQuota increases the send quota by 1.
func (i *Inflight) IncreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) < atomic.LoadInt32(&i.maximumSendQuota) {
		atomic.AddInt32(&i.sendQuota, 1)
	}
}

// ResetSendQuota resets the send quota to the maximum allowed value.
func (i *Inflight) ResetSendQuota(n int32) {
	atomic.StoreInt32(&i.sendQuota, n)
	atomic.StoreInt32(&i.maximumSendQuota, n)
}
