package router

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/mqtt"
)

// First bytes that identify a protocol on the universal port.
const (
	firstByteMQTTConnect = 0x10 // MQTT CONNECT fixed header
	firstByteRawSocket   = 0x7F // WAMP RawSocket magic
)

// handleUniversal serves one connection on the universal port: raw MQTT and
// WAMP RawSocket are recognized by their first byte, anything else is HTTP.
func (r *Router) handleUniversal(c net.Conn) {
	if !r.proxyHeader(c) {
		return
	}
	if !r.cfg.HTTP.Universal {
		r.httpConn.push(newHTTPConn(c))
		return
	}
	first, err := readFirstByte(c, r.cfg.Limits.ConnectTimeout.D())
	if err != nil {
		r.metrics.refused("no_first_byte")
		r.log.Debug("connection closed before its first byte", "remote", c.RemoteAddr().String(), "error", err)
		_ = c.Close()
		return
	}
	pc := &prefixConn{Conn: c, first: first}
	switch first {
	case firstByteMQTTConnect:
		r.serveMQTTConn(pc, listenerHTTP)
	case firstByteRawSocket:
		remote := c.RemoteAddr().String()
		if !r.allowSource(listenerHTTP, remote) {
			_, _ = c.Write([]byte{firstByteRawSocket, 4 << 4, 0, 0})
			_ = c.Close()
			return
		}
		release, ok := r.acquire(remote)
		if !ok {
			// RawSocket's own answer: error 4, maximum connection count reached.
			_, _ = c.Write([]byte{firstByteRawSocket, 4 << 4, 0, 0})
			_ = c.Close()
			return
		}
		defer release()
		r.wamp.ServeRawSocket(pc, auth.ConnInfo{Remote: remote, TLS: tlsState(c)})
	default:
		r.httpConn.push(newHTTPConn(pc))
	}
}

// proxyHeader reads the PROXY protocol header of a connection to a listener
// with proxy_protocol on, so that RemoteAddr is the client's from here on.
// A bad header, or one from a peer that is not a trusted proxy, is refused:
// counted, logged and closed. Without proxy_protocol it does nothing.
func (r *Router) proxyHeader(c net.Conn) bool {
	raw := c
	if tc, ok := c.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	pc, ok := raw.(*proxyproto.Conn)
	if !ok {
		return true
	}
	// A zero-length read processes the header (within connect_timeout)
	// and reads nothing else.
	if _, err := pc.Read(nil); err != nil {
		reason, isProxy := proxyHeaderError(err)
		if !isProxy {
			reason = "no_first_byte"
		}
		r.metrics.refused(reason)
		r.log.Info("connection refused: PROXY protocol header", "remote", pc.Raw().RemoteAddr().String(),
			"reason", reason, "error", err)
		_ = c.Close()
		return false
	}
	return true
}

// handleMQTT serves one connection on the dedicated MQTT port.
func (r *Router) handleMQTT(c net.Conn) {
	if !r.proxyHeader(c) {
		return
	}
	if tc, ok := c.(*tls.Conn); ok {
		// Complete the TLS handshake within the connect timeout.
		_ = tc.SetDeadline(time.Now().Add(r.cfg.Limits.ConnectTimeout.D()))
		if err := tc.Handshake(); err != nil {
			r.metrics.refused("tls")
			r.log.Info("TLS handshake failed", "remote", c.RemoteAddr().String(), "error", err)
			_ = c.Close()
			return
		}
		_ = tc.SetDeadline(time.Time{})
	} else {
		c = unwrapProxied(c)
	}
	r.serveMQTTConn(c, listenerMQTT)
}

func (r *Router) serveMQTTConn(c net.Conn, listener string) {
	remote := c.RemoteAddr().String()
	if !r.allowSource(listener, remote) {
		refuseMQTT(c, r.cfg.Limits.ConnectTimeout.D())
		return
	}
	release, ok := r.acquire(remote)
	if !ok {
		refuseMQTT(c, r.cfg.Limits.ConnectTimeout.D())
		return
	}
	// The session may outlast this goroutine (an idle connection parks:
	// mqtt.Server.Attach), so it counts for Shutdown on its own.
	r.conns.Add(1)
	r.mqtt.Attach(c, mqtt.TransportTCP, auth.ConnInfo{Remote: remote, TLS: tlsState(c)}, func() {
		release()
		r.conns.Done()
	})
}

// refuseMQTT answers a CONNECT with CONNACK "server unavailable" (3.1, 3.1.1)
// or "server busy" (5) and closes the connection.
func refuseMQTT(c net.Conn, timeout time.Duration) {
	defer c.Close() //nolint:errcheck
	_ = c.SetDeadline(time.Now().Add(timeout))
	version := mqttConnectVersion(c)
	if version == 5 {
		_, _ = c.Write([]byte{0x20, 0x03, 0x00, 0x89, 0x00})
		return
	}
	_, _ = c.Write([]byte{0x20, 0x02, 0x00, 0x03})
}

// mqttConnectVersion reads the start of a CONNECT packet up to its protocol
// level byte; 0 if it cannot.
func mqttConnectVersion(c net.Conn) byte {
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != firstByteMQTTConnect {
		return 0
	}
	for range 4 { // remaining length: up to 4 bytes of varint
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return 0
		}
		if b[0]&0x80 == 0 {
			break
		}
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return 0
	}
	nameLen := int(n[0])<<8 | int(n[1])
	if nameLen > 6 {
		return 0
	}
	name := make([]byte, nameLen+1)
	if _, err := io.ReadFull(c, name); err != nil {
		return 0
	}
	return name[nameLen]
}

func readFirstByte(c net.Conn, timeout time.Duration) (byte, error) {
	// On a TLS listener this read also runs the TLS handshake, so the same
	// deadline bounds both.
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	var b [1]byte
	_, err := io.ReadFull(c, b[:])
	_ = c.SetReadDeadline(time.Time{})
	return b[0], err
}

// prefixConn returns the byte that was read to identify the protocol before
// the rest of the connection.
type prefixConn struct {
	net.Conn
	first    byte
	consumed bool
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if p.consumed || len(b) == 0 {
		return p.Conn.Read(b)
	}
	p.consumed = true
	b[0] = p.first
	return 1, nil
}

// connListener is a net.Listener fed with connections that the universal port
// identified as HTTP, for http.Server to serve.
type connListener struct {
	addr   net.Addr
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *connListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.closed:
		_ = c.Close()
	}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }

// httpConn is a connection handed to http.Server. It notes whether any
// request on it reached a handler, so that one closed without (bytes that
// are not HTTP, a malformed request) is counted and logged as garbage.
type httpConn struct {
	net.Conn
	start  time.Time
	read   atomic.Int64
	served atomic.Bool
}

func newHTTPConn(c net.Conn) *httpConn { return &httpConn{Conn: c, start: time.Now()} }

func (h *httpConn) Read(b []byte) (int, error) {
	n, err := h.Conn.Read(b)
	h.read.Add(int64(n))
	return n, err
}

// httpConnKey is the context key of a request's *httpConn.
type httpConnKey struct{}

// httpConnState watches connections end: one that sent bytes but never a
// request a handler saw was garbage.
func (r *Router) httpConnState(c net.Conn, state http.ConnState) {
	hc, ok := c.(*httpConn)
	if !ok || state != http.StateClosed || hc.served.Load() || hc.read.Load() == 0 {
		return
	}
	r.metrics.refused("bad_http")
	r.log.Info("connection closed: not HTTP, or a malformed request", "remote", hc.RemoteAddr().String(),
		"bytes", hc.read.Load(), "duration", time.Since(hc.start).Round(time.Millisecond))
}
