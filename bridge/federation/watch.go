package federation

import (
	"bytes"
	"context"
	"sync"
)

// RowWatcher may be implemented by a Handler: it is told of the RPC rows
// (Route.Proto "rpc", by their Filter) of every other router as they appear
// and disappear, in the order the route table learns of them. A router that
// dies or leaves has its rows reported removed. Calls come from one
// goroutine of the link's, never with a lock of the link's held.
type RowWatcher interface {
	RemoteRows(node string, added, removed []string)
}

// NodeWatcher may be implemented by a Handler: it is told when another
// router is judged dead or has left (Close), once per incarnation, after its
// rows are reported removed. What it had queued for the router is discarded
// by then, and SendTo to it fails. Same goroutine as RowWatcher's calls.
type NodeWatcher interface {
	NodeGone(node string)
}

// OriginHandler may be implemented by a Handler: the link then calls
// DeliverFrom, which names the incarnation that sent the message, instead of
// Deliver.
type OriginHandler interface {
	DeliverFrom(origin string, body []byte)
}

// tableEvent is a change of the route table a watcher is told of.
type tableEvent struct {
	node           string
	added, removed []string
	gone           bool
	returned       [][]byte // reliable messages discarded when the router died (see Returner)
}

// eventQueue carries table events from under tmu to the watch loop, in
// order, without bound: they are few (route changes, deaths).
type eventQueue struct {
	mu   sync.Mutex
	q    []tableEvent
	wake chan struct{}
}

func (e *eventQueue) push(ev tableEvent) {
	e.mu.Lock()
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// watchLoop hands table events to the Handler's watchers.
func (l *Link) watchLoop(ctx context.Context) {
	rw, _ := l.h.(RowWatcher)
	nw, _ := l.h.(NodeWatcher)
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.events.wake:
		}
		l.events.mu.Lock()
		q := l.events.q
		l.events.q = nil
		l.events.mu.Unlock()
		for _, ev := range q {
			if rw != nil && len(ev.added)+len(ev.removed) > 0 {
				rw.RemoteRows(ev.node, ev.added, ev.removed)
			}
			if len(ev.returned) > 0 {
				l.returnUndelivered(ev.node, ev.returned)
			}
			if nw != nil && ev.gone {
				nw.NodeGone(ev.node)
			}
		}
	}
}

// SendTo queues body for one other router, by incarnation (an origin given
// to OriginHandler, or a node of RowWatcher), whatever its routes. It
// reports false when that router was judged dead or has left, or its
// spool is full; a name no router has is dropped after NodeTimeout, like
// a router that died. Reliable messages are delivered at least
// once between routers, once to the Handler, in order with the other
// reliable messages of this router; unreliable ones at most once. It never
// waits for Redis.
func (l *Link) SendTo(node string, body []byte, reliable bool) bool {
	if node == l.inc || l.closed.Load() {
		return false
	}
	l.tmu.Lock()
	r := l.nodes[node]
	if r == nil {
		// A router this one has no route of and has not seen in a
		// heartbeat yet may still be live: it has just sent us something
		// (an origin we answer). Unless it was judged dead, it gets a
		// spool; the heartbeat judges it like any other, and drops it
		// after NodeTimeout if it never heartbeats.
		if _, dead := l.dead[node]; dead || node == "" {
			l.tmu.Unlock()
			return false
		}
		r = l.remoteLocked(node)
	}
	d := r.dest
	l.tmu.Unlock()
	if !reliable && l.sendFailing.Load() {
		l.m.Dropped(DropLinkDown, 1)
		return false
	}
	b := bytes.Clone(body)
	if b == nil {
		b = []byte{}
	}
	switch d.enqueue(b, reliable, l.cfg.SpoolMessages, &l.budget) {
	case enqueued:
		l.kick()
		return true
	case rejectedFull:
		l.m.Dropped(DropSpoolFull, 1)
	case rejectedDead:
		l.m.Dropped(DropDeadNode, 1)
	}
	return false
}

// isLive reports whether node was live at the last heartbeat.
func (l *Link) isLive(node string) bool {
	for _, n := range *l.live.Load() {
		if n == node {
			l.tmu.Lock()
			_, dead := l.dead[node]
			l.tmu.Unlock()
			return !dead
		}
	}
	return false
}
