package federation

import (
	"sync"
	"sync/atomic"
)

// dest is the spool of one remote router: what Publish queued for it and the
// flusher has not written yet, and the reliable messages written but not yet
// acknowledged. Publish appends under mu; everything else (taking messages to
// write, marking them sent, trimming on acknowledgement, rewinding to resend)
// is done by the flusher alone.
type dest struct {
	inc   string // the remote incarnation
	inbox string // its inbox stream key
	slot  int    // its slot in the index (fixed for the dest's life)

	mu      sync.Mutex
	rel     deque    // reliable messages not yet acknowledged; seqs contiguous
	unrel   [][]byte // unreliable messages not yet written
	lastSeq uint64   // the last reliable seq assigned
	next    uint64   // the next reliable seq to write (rel.front().seq .. lastSeq+1)
	dead    bool     // discarded: the router died or left
}

// spoolEntry is a reliable message in a spool.
type spoolEntry struct {
	seq    uint64
	body   []byte
	sentAt int64 // monotonic nanoseconds of the last write; 0: never written
}

// spoolBudget is SpoolBytes, shared by every destination and the retained
// queue.
type spoolBudget struct {
	max   int64
	used  atomic.Int64
	count atomic.Int64 // messages held, for Metrics.SpoolDepth
}

func (b *spoolBudget) reserve(n int) bool {
	if b.used.Add(int64(n)) > b.max {
		b.used.Add(-int64(n))
		return false
	}
	b.count.Add(1)
	return true
}

func (b *spoolBudget) release(msgs int, bytes int64) {
	if msgs == 0 && bytes == 0 {
		return
	}
	b.used.Add(-bytes)
	b.count.Add(-int64(msgs))
}

func newDest(inc, inbox string, lastSeq uint64) *dest {
	return &dest{inc: inc, inbox: inbox, lastSeq: lastSeq, next: lastSeq + 1}
}

// enqueueResult says what became of a message given to a dest.
type enqueueResult uint8

const (
	enqueued enqueueResult = iota
	rejectedFull
	rejectedDead
)

// enqueue queues body (which it keeps; callers must not modify it).
func (d *dest) enqueue(body []byte, reliable bool, maxMsgs int, budget *spoolBudget) enqueueResult {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		return rejectedDead
	}
	if d.rel.len()+len(d.unrel) >= maxMsgs || !budget.reserve(len(body)) {
		return rejectedFull
	}
	if reliable {
		d.lastSeq++
		d.rel.push(spoolEntry{seq: d.lastSeq, body: body})
	} else {
		d.unrel = append(d.unrel, body)
	}
	return enqueued
}

// discard empties the spool for good; it returns how many messages it held.
func (d *dest) discard(budget *spoolBudget) (int, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead = true
	n := d.rel.len() + len(d.unrel)
	var bytes int64
	for i := 0; i < d.rel.len(); i++ {
		bytes += int64(len(d.rel.at(i).body))
	}
	for _, b := range d.unrel {
		bytes += int64(len(b))
	}
	budget.release(n, bytes)
	d.rel = deque{}
	d.unrel = nil
	return n, d.lastSeq
}

// floorLocked is the lowest reliable seq the spool still holds (or the next
// one to be assigned if it holds none).
func (d *dest) floorLocked() uint64 {
	if d.rel.len() > 0 {
		return d.rel.front().seq
	}
	return d.lastSeq + 1
}

// ack drops the reliable messages up to seq, which the destination has
// received; it returns how many it dropped.
func (d *dest) ack(seq uint64, budget *spoolBudget) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq > d.lastSeq {
		seq = d.lastSeq // an acknowledgement of what was never sent: ignore the excess
	}
	n := 0
	var bytes int64
	for d.rel.len() > 0 && d.rel.front().seq <= seq {
		bytes += int64(len(d.rel.front().body))
		d.rel.popFront()
		n++
	}
	if d.next <= seq {
		d.next = seq + 1
	}
	budget.release(n, bytes)
	return n
}

// deque is a FIFO of spool entries.
type deque struct {
	buf  []spoolEntry
	head int
}

func (q *deque) len() int             { return len(q.buf) - q.head }
func (q *deque) at(i int) *spoolEntry { return &q.buf[q.head+i] }
func (q *deque) front() *spoolEntry   { return &q.buf[q.head] }
func (q *deque) push(e spoolEntry)    { q.buf = append(q.buf, e) }

func (q *deque) popFront() {
	q.buf[q.head] = spoolEntry{}
	q.head++
	switch {
	case q.head == len(q.buf):
		q.buf, q.head = q.buf[:0], 0
	case q.head >= 1024 && q.head*2 >= len(q.buf):
		n := copy(q.buf, q.buf[q.head:])
		clear(q.buf[n:])
		q.buf, q.head = q.buf[:n], 0
	}
}
