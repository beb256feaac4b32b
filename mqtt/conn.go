package mqtt

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/junctionmq/junction/auth"
)

// ErrSlowConsumer is returned by writes to a client whose unsent bytes passed
// the configured limit; the connection is closed with it.
var ErrSlowConsumer = errors.New("client is not reading: write buffer full")

// queuedConn makes every Write return at once. mochi writes to a client while
// holding that client's lock, and publishers need the same lock to deliver
// QoS 1 and 2 messages, so one subscriber stuck in a blocking write would stall
// every publisher that sends to it. Here writes only append to a bounded
// buffer that a goroutine of the connection's own flushes with a deadline. A
// client that lets the buffer fill, or a write time out, is evicted. The
// buffer grows with what is queued, and the goroutine runs only while there is
// something to write: an idle connection holds neither.
//
// Its end has two steps. mochi's Close stops reads at once, so mochi's read
// loop ends, but keeps the connection open for what is still queued plus a
// final packet (see final). finish, called when mochi is done with the
// connection, flushes and closes it.
type queuedConn struct {
	net.Conn
	limit        int
	writeTimeout time.Duration
	onEvict      func(reason string)

	mu       sync.Mutex
	buf      []byte // bytes not yet handed to the writer
	spare    []byte
	closing  bool          // mochi closed it: no more reads or ordinary writes
	finished bool          // the session is over: flush and close
	failed   bool          // the writer gave up; writes fail
	evicted  bool          // cut off for not keeping up
	readCut  bool          // the read loop ended because Close had cut reads
	writing  bool          // the writer goroutine holds bytes it has not finished writing
	running  bool          // a writer goroutine is running (started by kick)
	done     chan struct{} // the writer has ended and the connection is closed

	// raw, for plain sockets, lets Write try one non-blocking write(2)
	// itself when nothing is queued: the common case then costs no handoff
	// to the writer goroutine. nil for TLS and WebSocket. rawWrite is its
	// callback, made once (a closure per write would be an allocation).
	raw      syscall.RawConn
	rawWrite rawWriter

	// Parking (see Park): a TCP socket waits for its next packet
	// with no goroutine. pk guards what follows it.
	pk        sync.Mutex
	poller    *poller      // nil: the connection does not park
	pollKey   uint64       // its key in the poller; 0 while it is not in it
	parked    bool         // resume runs when it wakes
	unparked  bool         // closed: it does not park again
	resume    func()       // mochi's read loop, to run on a goroutine of its own
	timer     *time.Timer  // wakes it at its read deadline
	rdeadline atomic.Int64 // the read deadline mochi last set, in Unix ns; 0: none

	info   auth.ConnInfo // set before the connection is handed to mochi
	remote net.Addr      // the client's address (info.Remote); nil: the socket's peer's

	// How it ended, for the one line that says so (Server.logEnd): set by
	// the hooks, read once mochi is done.
	clientID, authID, endReason, endDetail, evictReason string
}

// remoteAddr is a client address known as a string (from X-Forwarded-For).
type remoteAddr string

func (a remoteAddr) Network() string { return "tcp" }
func (a remoteAddr) String() string  { return string(a) }

// RemoteAddr is the client's address, which mochi files the client under.
func (q *queuedConn) RemoteAddr() net.Addr {
	if q.remote != nil {
		return q.remote
	}
	return q.Conn.RemoteAddr()
}

// identify notes who the client says it is (CONNECT) and, once it is
// authenticated, its authid.
func (q *queuedConn) identify(clientID, authID string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.clientID, q.authID = clientID, authID
}

// ended notes why the connection ends; the first reason given stands.
func (q *queuedConn) ended(reason, detail string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.endReason == "" {
		q.endReason, q.endDetail = reason, detail
	}
}

// ending returns what identify and ended noted.
func (q *queuedConn) ending() (clientID, authID, reason, detail string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	detail = q.endDetail
	if q.evictReason != "" {
		detail = q.evictReason
	}
	return q.clientID, q.authID, q.endReason, detail
}

func (q *queuedConn) wasEvicted() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.evicted
}

func newQueuedConn(c net.Conn, limit int, writeTimeout time.Duration, onEvict func(string)) *queuedConn {
	q := &queuedConn{
		Conn:         c,
		limit:        limit,
		writeTimeout: writeTimeout,
		onEvict:      onEvict,
		done:         make(chan struct{}),
	}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			q.raw = raw
			q.rawWrite.fn = q.rawWrite.write
		}
	}
	return q
}

// Read notes whether a read error came from Close cutting reads short.
func (q *queuedConn) Read(p []byte) (int, error) {
	n, err := q.Conn.Read(p)
	if err != nil {
		q.mu.Lock()
		q.readCut = q.closing
		q.mu.Unlock()
	}
	return n, err
}

// Write queues p. It never blocks on the network.
func (q *queuedConn) Write(p []byte) (int, error) {
	q.mu.Lock()
	if q.failed || q.closing {
		q.mu.Unlock()
		return 0, net.ErrClosed
	}
	n := len(p)
	if q.raw != nil && len(q.buf) == 0 && !q.writing {
		// Nothing ahead of p: write what the socket takes now, queue the rest.
		p = p[q.rawWrite.try(q.raw, p):]
		if len(p) == 0 {
			q.mu.Unlock()
			return n, nil
		}
	}
	if len(q.buf)+len(p) > q.limit {
		q.failed, q.evicted = true, true
		q.evictReason = "write_buffer_full"
		q.mu.Unlock()
		q.onEvict("write_buffer_full")
		q.abort()
		return 0, fmt.Errorf("%w (%d bytes pending)", ErrSlowConsumer, q.limit)
	}
	q.buf = append(q.buf, p...)
	q.kick()
	q.mu.Unlock()
	return n, nil
}

// final queues the last packet of a connection that mochi has already closed,
// such as the DISCONNECT that tells an MQTT 5 client why.
func (q *queuedConn) final(p []byte) {
	q.mu.Lock()
	if !q.failed && !q.finished {
		q.buf = append(q.buf, p...)
		q.kick()
	}
	q.mu.Unlock()
}

// kick starts the writer goroutine unless it is running. q.mu is held.
func (q *queuedConn) kick() {
	if !q.running {
		q.running = true
		go q.writeLoop()
	}
}

// evict cuts off a client that is not keeping up; once per connection.
func (q *queuedConn) evict(reason string) {
	q.mu.Lock()
	already := q.failed
	q.failed, q.evicted = true, true
	if !already {
		q.evictReason = reason
	}
	q.mu.Unlock()
	if !already {
		q.onEvict(reason)
		q.abort()
	}
}

// closedByServer reports whether the connection was closed from this side
// (mochi's Close or an eviction) rather than by the client or the network.
func (q *queuedConn) closedByServer() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.readCut || q.evicted
}

// abort closes the connection at once, without a goodbye that could block.
func (q *queuedConn) abort() {
	defer q.unpark()
	if a, ok := q.Conn.(interface{ Abort() error }); ok {
		_ = a.Abort()
		return
	}
	_ = q.Conn.Close()
}

// Park is mochi's Parker: with no byte to read, the read loop ends here
// and runs again, as resume, on a goroutine of its own once the socket is
// readable, the read deadline (the keepalive) has passed or the connection
// is closed. An idle client then holds no goroutine, so no stack: at the
// least 4 KiB that a goroutine blocked in a read keeps, and that a burst of
// connects has to fault in fresh, one new stack per connection.
func (q *queuedConn) Park(resume func()) bool {
	q.pk.Lock()
	defer q.pk.Unlock()
	if q.poller == nil || q.unparked {
		return false
	}
	if b, ok := q.Conn.(interface{ Buffered() int }); ok && b.Buffered() > 0 {
		return false // bytes already off the socket: read them first
	}
	if err := q.poller.arm(q); err != nil {
		q.poller = nil // read on, and do not try again
		return false
	}
	q.parked, q.resume = true, resume
	if d := q.rdeadline.Load(); d != 0 {
		wait := time.Until(time.Unix(0, d))
		if q.timer == nil {
			q.timer = time.AfterFunc(wait, q.wake)
		} else {
			q.timer.Reset(wait)
		}
	}
	return true
}

// wake runs a parked connection's read loop again.
func (q *queuedConn) wake() {
	q.pk.Lock()
	if !q.parked {
		q.pk.Unlock()
		return
	}
	q.parked = false
	resume := q.resume
	q.resume = nil
	if q.timer != nil {
		q.timer.Stop()
	}
	q.pk.Unlock()
	go resume()
}

// unpark ends parking for good: the connection is closed or its session
// over. A parked one wakes, to meet the closed connection.
func (q *queuedConn) unpark() {
	q.pk.Lock()
	q.unparked = true
	if q.poller != nil {
		q.poller.forget(q)
	}
	q.pk.Unlock()
	q.wake()
}

// writeLoop writes what is queued until nothing is, then ends; kick starts
// it again. Once the connection is finished it closes it, and done, and no
// writer starts again (running stays set).
func (q *queuedConn) writeLoop() {
	for {
		q.mu.Lock()
		out := q.buf
		q.buf, q.spare = q.spare[:0], nil
		finished := q.finished
		q.writing = len(out) > 0
		if len(out) == 0 && !finished {
			q.running = false
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		if len(out) > 0 {
			_ = q.Conn.SetWriteDeadline(time.Now().Add(q.writeTimeout))
			_, err := q.Conn.Write(out)
			if err != nil {
				q.mu.Lock()
				wasFailed := q.failed
				q.failed = true
				q.evicted = q.evicted || isTimeout(err) && !wasFailed
				if isTimeout(err) && !wasFailed {
					q.evictReason = "write_timeout"
				}
				q.mu.Unlock()
				if isTimeout(err) && !wasFailed {
					q.onEvict("write_timeout")
				}
				q.abort()
				close(q.done)
				return
			}
		}
		q.mu.Lock()
		q.writing = false
		if q.spare == nil && cap(out) <= 4<<10 {
			q.spare = out[:0] // reuse small buffers; let large ones go
		}
		more := len(q.buf) > 0
		if !more {
			// Idle: hold no buffer until the next write.
			q.buf, q.spare = nil, nil
		}
		q.mu.Unlock()
		if finished && !more {
			_ = q.Conn.Close()
			close(q.done)
			return
		}
	}
}

// Close is mochi's: it ends reads at once, so that mochi's read loop returns,
// and lets queued writes out. finish completes it.
func (q *queuedConn) Close() error {
	q.mu.Lock()
	q.closing = true
	q.mu.Unlock()
	err := q.Conn.SetReadDeadline(time.Now())
	q.unpark()
	return err
}

// finish flushes what is queued, within the write timeout, and closes the
// connection. It does not wait; done is closed when it is over.
func (q *queuedConn) finish() {
	q.unpark()
	q.mu.Lock()
	q.closing, q.finished = true, true
	q.kick()
	q.mu.Unlock()
}

// SetDeadline is how mochi applies the keepalive; it concerns reads only,
// since write deadlines belong to the writer goroutine.
func (q *queuedConn) SetDeadline(t time.Time) error { return q.SetReadDeadline(t) }

// SetReadDeadline sets the read deadline unless Close has already ended reads.
func (q *queuedConn) SetReadDeadline(t time.Time) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closing {
		return nil
	}
	var d int64
	if !t.IsZero() {
		d = t.UnixNano()
	}
	q.rdeadline.Store(d)
	return q.Conn.SetReadDeadline(t)
}

// SetWriteDeadline is a no-op for the same reason.
func (q *queuedConn) SetWriteDeadline(time.Time) error { return nil }

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// wsConn presents a WebSocket as the byte stream MQTT expects: reads run
// across binary messages, and each write is one binary message (MQTT over
// WebSocket allows several packets, or part of one, per message).
type wsConn struct {
	ws          *websocket.Conn
	r           io.Reader
	limit       int64 // bytes per message after inflating; 0: none
	n           int64 // read of the current message
	compressMin int   // shorter writes go uncompressed (permessage-deflate)
}

// errInflatedTooLarge is a compressed WebSocket message that inflates beyond
// the limit: a zip bomb, or a client that ignores the limit.
var errInflatedTooLarge = errors.New("WebSocket message inflates beyond the message size limit")

// isWSClose reports a close frame from the client: it left.
func isWSClose(err error) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce)
}

// errTextFrame is returned for a text message: MQTT over WebSocket is binary.
var errTextFrame = errors.New("MQTT over WebSocket requires binary messages")

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			t, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if t != websocket.BinaryMessage {
				msg := websocket.FormatCloseMessage(websocket.CloseUnsupportedData, errTextFrame.Error())
				_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
				return 0, errTextFrame
			}
			c.r, c.n = r, 0
		}
		if c.limit > 0 && int64(len(p)) > c.limit-c.n+1 {
			p = p[:c.limit-c.n+1]
		}
		n, err := c.r.Read(p)
		c.n += int64(n)
		if c.limit > 0 && c.n > c.limit {
			// gorilla's read limit counted the compressed bytes only.
			msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, errInflatedTooLarge.Error())
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			return 0, fmt.Errorf("%w (%d bytes)", errInflatedTooLarge, c.limit)
		}
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			return n, nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	// Only has an effect when permessage-deflate was negotiated.
	c.ws.EnableWriteCompression(len(p) >= c.compressMin)
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close sends a WebSocket close frame before closing the connection.
func (c *wsConn) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	return c.ws.Close()
}

// Abort closes the connection without a close frame.
func (c *wsConn) Abort() error { return c.ws.Close() }

func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error      { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }
