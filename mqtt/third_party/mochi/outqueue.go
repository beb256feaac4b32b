// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// JUNCTION PATCH: outQueue replaces the client's outbound channel. Upstream
// made a channel of MaximumClientWritesPending pointers for every client (8192
// by default: 64 KiB per connection, idle or not) and ran a WriteLoop
// goroutine per client for its whole life. outQueue has the same bound (push
// fails when it holds limit packets, and the caller drops the packet as
// upstream does when the channel is full) but holds memory only for what is
// queued, and its writer goroutine runs only while there is something to
// write: an idle client costs neither.
type outQueue struct {
	mu      sync.Mutex
	limit   int
	ring    []*packets.Packet
	head, n int
	running bool // a writer goroutine is draining the queue
}

// shrinkAbove is the ring size above which an emptied queue lets its ring go.
const shrinkAbove = 16

// push queues pk unless the queue is full. start reports that no writer is
// running: the caller must start one (cl.drainOutbound).
func (q *outQueue) push(pk *packets.Packet) (ok, start bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n >= q.limit {
		return false, false
	}
	if q.n == len(q.ring) {
		grown := make([]*packets.Packet, min(max(4, 2*len(q.ring)), q.limit))
		for i := 0; i < q.n; i++ {
			grown[i] = q.ring[(q.head+i)%len(q.ring)]
		}
		q.ring, q.head = grown, 0
	}
	q.ring[(q.head+q.n)%len(q.ring)] = pk
	q.n++
	start = !q.running
	q.running = true
	return true, start
}

// pop takes the oldest packet. When the queue is empty it reports false and
// the calling writer must end: the next push starts another.
func (q *outQueue) pop() (*packets.Packet, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		q.running = false
		if len(q.ring) > shrinkAbove {
			q.ring, q.head = nil, 0
		}
		return nil, false
	}
	pk := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return pk, true
}

// clear drops what is queued and ends the writer; it returns how many.
func (q *outQueue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.n
	q.ring, q.head, q.n, q.running = nil, 0, 0, false
	return n
}

// len is the number of packets queued.
func (q *outQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}
