// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// JUNCTION PATCH: outQueue replaces the client's outbound channel. Upstream
// made a channel of MaximumClientWritesPending pointers for every client (8192
// by default: 64 KiB per connection, idle or not) and ran a WriteLoop
// goroutine per client for its whole life. outQueue has the same bound (push
// fails when limit packets are pending, and the caller drops the packet as
// upstream does when the channel is full) but holds memory only for what is
// queued, and its writer goroutine runs only while there is something to
// write: an idle client costs neither.
//
// The writer takes everything queued at once (take), not one packet at a
// time: one lock acquisition per batch. With many publishers and one
// subscriber (fan-in) the publishers' pushes contend for the lock, and a
// writer that had to win it twice per packet (pop, and len in WritePacket)
// waited behind them each time; on a loaded machine it fell behind and the
// queue overflowed. No allocation happens under the lock either: a push that
// needs a larger slice makes it with the lock released.
type outQueue struct {
	mu      sync.Mutex
	limit   int
	queue   []*packets.Packet // waiting for the writer, oldest first
	running bool              // a writer goroutine is draining the queue

	// queued is len(queue), readable without the lock (WritePacket asks
	// whether more is coming). pending is what counts against limit: the
	// packets queued plus those the writer has taken and not yet written.
	queued  atomic.Int32
	pending atomic.Int32
}

// shrinkAbove is the capacity above which an emptied queue lets its slice go.
const shrinkAbove = 16

// push queues pk unless limit packets are pending. start reports that no
// writer is running: the caller must start one (cl.WriteLoop).
func (q *outQueue) push(pk *packets.Packet) (ok, start bool) {
	q.mu.Lock()
	for {
		if int(q.pending.Load()) >= q.limit {
			q.mu.Unlock()
			return false, false
		}
		if len(q.queue) < cap(q.queue) {
			break
		}
		want := min(max(4, 2*cap(q.queue)), max(q.limit, 1))
		q.mu.Unlock()
		grown := make([]*packets.Packet, 0, want)
		q.mu.Lock()
		if len(q.queue) == cap(q.queue) && cap(grown) > cap(q.queue) {
			q.queue = append(grown, q.queue...)
		} // else the writer took the queue meanwhile, or another push grew it
	}
	q.queue = append(q.queue, pk)
	q.queued.Store(int32(len(q.queue)))
	q.pending.Add(1)
	start = !q.running
	q.running = true
	q.mu.Unlock()
	return true, start
}

// take hands the writer everything queued, oldest first, and gives the queue
// prev, the writer's previous batch (written: emptied here), to fill next.
// When nothing is queued it returns nil, and the calling writer must end: the
// next push starts another.
func (q *outQueue) take(prev []*packets.Packet) []*packets.Packet {
	clear(prev)
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.queue) == 0 {
		q.running = false
		if cap(q.queue) > shrinkAbove {
			q.queue = nil // idle: hold no memory
		}
		return nil
	}
	batch := q.queue
	if cap(prev) <= shrinkAbove {
		prev = nil // a small batch: let the next push size the queue
	}
	q.queue = prev[:0]
	q.queued.Store(0)
	return batch
}

// written notes that the writer is done with n packets it took.
func (q *outQueue) written(n int) { q.pending.Add(-int32(n)) }

// clear drops what is queued and ends the writer; it returns how many.
func (q *outQueue) clear() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := len(q.queue)
	q.queue, q.running = nil, false
	q.queued.Store(0)
	q.pending.Add(-int32(n))
	return n
}

// len is the number of packets queued and not yet taken by the writer.
func (q *outQueue) len() int { return int(q.queued.Load()) }

// behind reports a writer that lets packets pile up: more than an eighth of
// limit waiting for it. With a thousand publishers and one subscriber on a
// loaded machine, the publishers' goroutines (each runnable when its client
// sends) outnumber the subscriber's one writer in the run queues, so the
// writer got a sliver of the processor while the publishers kept pushing,
// and the queue overflowed though the subscriber read everything it was
// sent. A publisher that finds the queue behind yields once
// (publishToSubscribers): the publishers then slow down as the writer does,
// and the backlog stays in their sockets, where TCP holds it, not here.
func (q *outQueue) behind() bool { return int(q.queued.Load()) > q.limit/8 }
