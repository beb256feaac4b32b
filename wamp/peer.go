package wamp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// frames is one message-framed transport under a WAMP session: a WebSocket or a
// RawSocket. Reads happen on one goroutine and writes on another; Close may be
// called from any goroutine at any time.
type frames interface {
	// ReadFrame returns the next complete message. The deadline bounds the wait.
	ReadFrame(deadline time.Time) ([]byte, error)
	// WriteFrame writes one message or fails at the deadline.
	WriteFrame(b []byte, deadline time.Time) error
	// WritePing sends a transport-level keepalive.
	WritePing(deadline time.Time) error
	// Shutdown tells the other side the transport is closing, then closes it.
	Shutdown(deadline time.Time)
	// Close closes the transport at once, unblocking any read or write.
	Close() error
}

// peerConfig is what every peer of one Server shares.
type peerConfig struct {
	maxMessageSize int
	queueSize      int
	writeTimeout   time.Duration
	pingInterval   time.Duration
	connectTimeout time.Duration
	compressMin    int // see Config.WSCompressMinSize
	log            *slog.Logger
	metrics        Metrics
	// kill ends a session through nexus with GOODBYE (token expiry);
	// expiring finds the sessions that may renew their token.
	kill     func(realm string, sid nxwamp.ID, reason nxwamp.URI, message string) error
	expiring *expiring
}

// peer is Junction's wamp.Peer for network clients. It replaces the peers of
// nexus' transport package because those let a client hurt others: they hand
// nexus messages that panic it, write without deadlines, and drop events to a
// stuck reader silently instead of cutting it off.
//
// Inbound, every frame is decoded and checked before nexus sees it. Outbound,
// nexus queues through TrySend (nexus patch 11), never waiting; the moment the
// queue would pass its bound the client is evicted. The queue grows with use
// and its writer goroutine runs only while there is something to write (or a
// keepalive ping is due): an idle session holds neither a preallocated queue
// nor a writer.
type peer struct {
	cfg       *peerConfig
	transport string
	frames    frames
	ser       serialize.Serializer
	log       *slog.Logger

	rd chan nxwamp.Message // to nexus; unbuffered, nexus reads it at once

	mu       sync.Mutex
	q        []nxwamp.Message // outbound, oldest first
	writing  bool             // a writer goroutine runs
	pingDue  bool
	closing  bool      // Close or abort: flush, then shut the transport
	deadline time.Time // the flush's deadline, once closing
	dead     bool      // a write failed or the client was evicted: nothing more is written
	ping     *time.Timer
	fallback chan nxwamp.Message // Send's channel, made on first use

	// How the connection ended and who it was, for the one line that says
	// so (Server.serve); the first reason noted stands.
	endMu                                 sync.Mutex
	endReason, endDetail, authID, session string

	// The realm (HELLO) and session id (WELCOME), and for a session that
	// joined with a token, its expiry (expiry.go); under endMu.
	realm      string
	sid        nxwamp.ID
	expires    time.Time
	expiry     *time.Timer
	expiryDone bool // the session ended: no timer is armed again

	closeOnce  sync.Once
	stop       chan struct{} // closed by shut: nothing more goes to nexus
	evictOnce  sync.Once
	readerDone chan struct{}
	writerDone chan struct{} // closed when the last writer has flushed and shut the transport
	doneOnce   sync.Once
}

func newPeer(cfg *peerConfig, transport string, f frames, ser serialize.Serializer, log *slog.Logger) *peer {
	p := &peer{
		cfg:        cfg,
		transport:  transport,
		frames:     f,
		ser:        ser,
		log:        log,
		rd:         make(chan nxwamp.Message),
		stop:       make(chan struct{}),
		readerDone: make(chan struct{}),
		writerDone: make(chan struct{}),
	}
	if cfg.pingInterval > 0 {
		p.ping = time.AfterFunc(cfg.pingInterval, p.pingNow)
	}
	return p
}

// Reasons a connection ended: the labels of the router's disconnect metric,
// the same as the MQTT side's.
const (
	reasonClientDisconnect = "client_disconnect"
	reasonConnectionLost   = "connection_lost"
	reasonKeepAlive        = "keepalive_timeout"
	reasonConnectTimeout   = "connect_timeout"
	reasonAuthFailed       = "auth_failed"
	reasonNotAuthorized    = "not_authorized"
	reasonSlowConsumer     = "slow_consumer"
	reasonTooLarge         = "too_large"
	reasonProtocolError    = "protocol_error"
	reasonShutdown         = "server_shutdown"
	reasonTokenExpired     = "token_expired"
	reasonError            = "error"
)

// ended notes why the connection ends, unless a reason was noted already.
func (p *peer) ended(reason, detail string) {
	p.endMu.Lock()
	defer p.endMu.Unlock()
	if p.endReason == "" {
		p.endReason, p.endDetail = reason, detail
	}
}

// ending returns what was noted of the session and its end.
func (p *peer) ending() (authID, session, reason, detail string) {
	p.endMu.Lock()
	defer p.endMu.Unlock()
	return p.authID, p.session, p.endReason, p.endDetail
}

// observeOut notes, from the messages nexus sends, who the client is
// (WELCOME) and why the router ends the session (ABORT, GOODBYE).
func (p *peer) observeOut(msg nxwamp.Message) {
	switch m := msg.(type) {
	case *nxwamp.Welcome:
		authID, _ := m.Details["authid"].(string)
		p.endMu.Lock()
		p.authID, p.session = authID, fmt.Sprint(m.ID)
		p.endMu.Unlock()
		p.welcomed(m)
	case *nxwamp.Abort:
		switch m.Reason {
		case nxwamp.ErrAuthenticationFailed:
			p.ended(reasonAuthFailed, string(m.Reason))
		case nxwamp.ErrNotAuthorized, nxwamp.ErrAuthorizationFailed, nxwamp.ErrNoSuchRealm, nxwamp.ErrNoSuchRole:
			p.ended(reasonNotAuthorized, string(m.Reason))
		case nxwamp.ErrProtocolViolation:
			p.ended(reasonProtocolError, string(m.Reason))
		default:
			p.ended(reasonError, string(m.Reason))
		}
	case *nxwamp.Goodbye:
		// The router says goodbye first (a reply to the client's comes
		// after the client's reason was noted).
		if m.Reason == nxwamp.CloseSystemShutdown {
			p.ended(reasonShutdown, string(m.Reason))
		} else if m.Reason == ErrTokenExpired {
			p.ended(reasonTokenExpired, string(m.Reason))
		} else {
			p.ended(reasonError, string(m.Reason))
		}
	}
}

// Recv implements wamp.Peer.
func (p *peer) Recv() <-chan nxwamp.Message { return p.rd }

// IsLocal implements wamp.Peer.
func (p *peer) IsLocal() bool { return false }

// TrySend implements nexus' wamp.TrySender: nexus sends every message to
// this client through it, never waiting. A queue at its bound means the
// client is not keeping up, so instead of letting it lose messages
// silently it is evicted: it reconnects and knows it missed something,
// while nobody else waits for it.
func (p *peer) TrySend(msg nxwamp.Message) bool {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return false
	}
	if len(p.q) >= p.cfg.queueSize {
		p.mu.Unlock()
		p.cfg.metrics.Dropped()
		p.evict()
		return false
	}
	p.q = append(p.q, msg)
	p.startWriterLocked()
	p.mu.Unlock()
	return true
}

// TrySendAll implements nexus' wamp.BatchTrySender: msgs are queued
// together, with nothing between them (SUBSCRIBED and the retained events
// of get_retained), or, past the queue's bound, the client is evicted as
// TrySend does.
func (p *peer) TrySendAll(msgs []nxwamp.Message) bool {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return false
	}
	if len(p.q)+len(msgs) > p.cfg.queueSize {
		p.mu.Unlock()
		p.cfg.metrics.Dropped()
		p.evict()
		return false
	}
	p.q = append(p.q, msgs...)
	p.startWriterLocked()
	p.mu.Unlock()
	return true
}

// Send implements wamp.Peer for senders that do not know TrySend (nexus
// sends through TrySend, patch 11): a channel whose messages are handed to
// TrySend, made on first use.
func (p *peer) Send() chan<- nxwamp.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fallback == nil {
		p.fallback = make(chan nxwamp.Message, 16)
		go func(c chan nxwamp.Message) {
			for {
				select {
				case m := <-c:
					p.TrySend(m)
				case <-p.writerDone:
					return
				}
			}
		}(p.fallback)
	}
	return p.fallback
}

// startWriterLocked starts the writer unless it runs.
func (p *peer) startWriterLocked() {
	if !p.writing {
		p.writing = true
		go p.writeLoop()
	}
}

// pingNow is the keepalive timer's: a ping is written next.
func (p *peer) pingNow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead || p.closing {
		return
	}
	p.pingDue = true
	p.startWriterLocked()
}

// evict cuts off a client that is not reading what it is sent.
func (p *peer) evict() {
	p.mu.Lock()
	dead := p.dead
	p.dead = true
	p.q = nil
	p.mu.Unlock()
	if dead {
		return // already gone; nexus has not yet noticed
	}
	p.evictOnce.Do(func() {
		p.cfg.metrics.Evicted()
		p.ended(reasonSlowConsumer, fmt.Sprintf("outbound queue full (%d messages)", p.cfg.queueSize))
		_ = p.frames.Close()
	})
	p.stopWriter()
}

// stopWriter is for a transport that is gone: once no writer runs,
// writerDone is closed.
func (p *peer) stopWriter() {
	p.mu.Lock()
	running := p.writing
	p.mu.Unlock()
	if !running {
		p.doneOnce.Do(func() { close(p.writerDone) })
	}
}

// shut starts the end: what is queued is flushed within one write
// timeout, then the transport is shut.
func (p *peer) shut() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.mu.Lock()
		p.closing = true
		p.deadline = time.Now().Add(p.cfg.writeTimeout)
		if p.dead {
			running := p.writing
			p.mu.Unlock()
			if !running {
				p.doneOnce.Do(func() { close(p.writerDone) })
			}
			return
		}
		p.startWriterLocked()
		p.mu.Unlock()
	})
	if p.ping != nil {
		p.ping.Stop()
	}
	p.stopExpiry()
}

// Close implements wamp.Peer: it flushes what is queued (nexus queues GOODBYE
// or ABORT right before closing), closes the transport, and returns once the
// writer and the reader have ended.
func (p *peer) Close() {
	p.shut()
	<-p.writerDone
	_ = p.frames.Close()
	<-p.readerDone
}

func (p *peer) readLoop() {
	defer close(p.readerDone)
	defer close(p.rd)
	// Until the first message arrives only the connect timeout applies.
	deadline := time.Now().Add(p.cfg.connectTimeout)
	first := true
	for {
		b, err := p.frames.ReadFrame(deadline)
		if err != nil {
			p.readFailed(err, first)
			_ = p.frames.Close()
			return
		}
		deadline = p.idleDeadline(deadline, first)
		first = false
		p.cfg.metrics.Received(len(b))
		msg, err := p.decode(b)
		if err != nil {
			p.cfg.metrics.Rejected("malformed")
			p.ended(reasonProtocolError, fmt.Sprintf("undecodable message (%d bytes): %v", len(b), err))
			p.abort(nxwamp.ErrProtocolViolation, err.Error())
			return
		}
		if err := checkMessage(msg); err != nil {
			if errors.Is(err, ErrMalformedMessage) {
				p.cfg.metrics.Rejected("malformed")
			} else {
				p.cfg.metrics.Rejected("invalid")
			}
			p.log.Warn("refused WAMP message", "type", msg.MessageType().String(), "error", err)
			reply := errorReply(msg, err)
			if reply == nil {
				p.abort(nxwamp.ErrProtocolViolation, err.Error())
				return
			}
			p.queue(reply)
			continue
		}
		switch m := msg.(type) {
		case *nxwamp.Goodbye:
			p.ended(reasonClientDisconnect, "GOODBYE")
		case *nxwamp.Hello:
			p.endMu.Lock()
			p.realm = string(m.Realm)
			p.endMu.Unlock()
		}
		select {
		case p.rd <- msg:
		case <-p.stop:
			return
		}
	}
}

// idleDeadline is when a client that has sent nothing since is gone: two
// missed keepalives. It moves only when half the window has passed, so that
// a busy connection does not reset a timer for every message.
func (p *peer) idleDeadline(current time.Time, first bool) time.Time {
	if p.cfg.pingInterval <= 0 {
		return time.Time{}
	}
	idle := 2*p.cfg.pingInterval + p.cfg.writeTimeout
	now := time.Now()
	if first || current.Sub(now) < idle/2 {
		return now.Add(idle)
	}
	return current
}

func (p *peer) readFailed(err error, first bool) {
	switch {
	case errors.Is(err, errFrameTooLarge):
		p.cfg.metrics.Rejected("too_large")
		p.ended(reasonTooLarge, err.Error())
	case isTimeout(err) && first:
		p.ended(reasonConnectTimeout, err.Error())
	case isTimeout(err):
		p.ended(reasonKeepAlive, err.Error())
	default:
		p.ended(reasonConnectionLost, err.Error())
	}
}

// decode deserializes one frame. The codec is third-party code running on
// input from the network, so a panic in it is turned into an error here, on
// the connection's own goroutine, before it can take the process down.
func (p *peer) decode(b []byte) (msg nxwamp.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			msg, err = nil, fmt.Errorf("%w: decoder panic: %v", ErrInvalidMessage, r)
		}
	}()
	msg, err = p.ser.Deserialize(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	return msg, nil
}

// queue puts a message of the peer's own on the outbound queue.
func (p *peer) queue(msg nxwamp.Message) { p.TrySend(msg) }

// abort answers a protocol violation: ABORT, flushed, then the connection ends.
func (p *peer) abort(reason nxwamp.URI, message string) {
	p.queue(&nxwamp.Abort{Reason: reason, Details: nxwamp.Dict{"message": message}})
	p.shut()
	<-p.writerDone
	_ = p.frames.Close()
}

// writeLoop writes what is queued, and a ping when one is due, then ends:
// TrySend, the ping timer and shut start it again. Once closing, it flushes
// within the flush deadline and shuts the transport.
func (p *peer) writeLoop() {
	// A write may take between half and all of the write timeout: the
	// deadline moves only when half of it has passed, not for every message.
	var deadline time.Time
	for {
		p.mu.Lock()
		if p.dead {
			p.writing = false
			p.mu.Unlock()
			p.doneOnce.Do(func() { close(p.writerDone) })
			return
		}
		ping := p.pingDue
		var msg nxwamp.Message
		switch {
		case ping:
			p.pingDue = false
		case len(p.q) > 0:
			msg = p.q[0]
			p.q[0] = nil
			p.q = p.q[1:]
			if len(p.q) == 0 {
				p.q = nil // an idle session holds no queue
			}
		case p.closing:
			p.writing = false
			d := p.deadline
			p.mu.Unlock()
			p.frames.Shutdown(d)
			p.doneOnce.Do(func() { close(p.writerDone) })
			return
		default:
			p.writing = false
			p.mu.Unlock()
			return
		}
		closing := p.closing
		if closing {
			deadline = p.deadline
		}
		p.mu.Unlock()
		if now := time.Now(); !closing && deadline.Sub(now) < p.cfg.writeTimeout/2 {
			deadline = now.Add(p.cfg.writeTimeout)
		}
		var err error
		if ping {
			err = p.frames.WritePing(time.Now().Add(p.cfg.writeTimeout))
			if p.ping != nil && !closing {
				p.ping.Reset(p.cfg.pingInterval)
			}
		} else {
			err = p.write(msg, deadline)
		}
		if err != nil {
			if !closing {
				p.writeFailed(err)
			}
			_ = p.frames.Close()
			p.mu.Lock()
			p.dead = true
			p.q = nil
			p.mu.Unlock()
		}
	}
}

func (p *peer) write(msg nxwamp.Message, deadline time.Time) error {
	p.observeOut(msg)
	b, err := p.ser.Serialize(msg)
	if err != nil {
		// A message nexus built that cannot be encoded: skip it, keep the session.
		p.log.Error("cannot serialize WAMP message", "type", msg.MessageType().String(), "error", err)
		return nil
	}
	if err := p.frames.WriteFrame(b, deadline); err != nil {
		if errors.Is(err, errFrameTooLarge) {
			// The client announced it cannot take this one; it loses only this.
			p.cfg.metrics.Dropped()
			p.log.Warn("dropped WAMP message larger than the client accepts", "error", err)
			return nil
		}
		return err
	}
	p.cfg.metrics.Sent(len(b))
	return nil
}

func (p *peer) writeFailed(err error) {
	if isTimeout(err) {
		p.cfg.metrics.Evicted()
		p.ended(reasonSlowConsumer, fmt.Sprintf("write timed out (%s)", p.cfg.writeTimeout))
	} else {
		p.ended(reasonConnectionLost, err.Error())
	}
	_ = p.frames.Close()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// maxSize is the largest message a peer accepts.
func (c *peerConfig) maxSize() int { return c.maxMessageSize }
