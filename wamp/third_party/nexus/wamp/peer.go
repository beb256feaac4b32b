package wamp

import (
	"errors"
	"time"
)

// Peer is the interface implemented by endpoints communicating via WAMP.
type Peer interface {
	// Closes the peer connection and the channel returned from Recv().
	Close()

	// IsLocal returns true if the session is local.
	IsLocal() bool

	// Recv returns a channel of messages from the peer.
	Recv() <-chan Message

	// Send returns the peer's outgoing message channel.
	Send() chan<- Message
}

// RecvTimeout receives a message from a peer within the specified time.
func RecvTimeout(p Peer, timeout time.Duration) (Message, error) {
	to := time.NewTimer(timeout)
	defer to.Stop()

	select {
	case msg, open := <-p.Recv():
		if !open {
			return nil, errors.New("receive channel closed")
		}
		return msg, nil
	case <-to.C:
		return nil, errors.New("timeout waiting for message")
	}
}

// JUNCTION PATCH 11: a peer may queue messages without a channel.
//
// nexus sends to a peer through the channel its Send returns, which must be
// buffered for nexus never to block on a slow client: a channel of the
// largest queue allowed, allocated for every session whether it ever queues
// anything. A peer that implements TrySender takes each message through
// TrySend instead, so its queue can grow with use and its writer can run
// only while there is something to write. Every send of the router to a
// session goes through TrySend or SendBlocking below.

// TrySender is a Peer that queues a message without blocking.
type TrySender interface {
	// TrySend queues msg; false means it was dropped (the queue is full).
	TrySend(msg Message) bool
}

// TrySend sends msg to p without blocking, through p's TrySend when it has
// one (a Session's Peer's), else through its Send channel. It reports
// whether msg was queued.
func TrySend(p Peer, msg Message) bool {
	if s, ok := p.(*Session); ok {
		p = s.Peer
	}
	if t, ok := p.(TrySender); ok {
		return t.TrySend(msg)
	}
	select {
	case p.Send() <- msg:
		return true
	default:
		return false
	}
}

// BatchTrySender is a TrySender that queues several messages at once, with
// no other message between them (JUNCTION PATCH 13).
type BatchTrySender interface {
	TrySendAll(msgs []Message) bool
}

// TrySendAll sends msgs to p in order, never waiting, with nothing between
// them when p is a BatchTrySender. It reports whether all were queued
// (JUNCTION PATCH 13).
func TrySendAll(p Peer, msgs ...Message) bool {
	if s, ok := p.(*Session); ok {
		p = s.Peer
	}
	if b, ok := p.(BatchTrySender); ok {
		return b.TrySendAll(msgs)
	}
	for _, m := range msgs {
		if !TrySend(p, m) {
			return false
		}
	}
	return true
}

// SendBlocking sends msg to p, waiting for room in its Send channel if it
// has no TrySend (whose queue never makes a sender wait).
func SendBlocking(p Peer, msg Message) {
	if s, ok := p.(*Session); ok {
		p = s.Peer
	}
	if t, ok := p.(TrySender); ok {
		t.TrySend(msg)
		return
	}
	p.Send() <- msg
}
