package router

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// trustedSet is a listener's trusted proxies (http.trusted_proxies,
// mqtt.trusted_proxies).
type trustedSet []netip.Prefix

// parseTrusted reads IP addresses and CIDRs.
func parseTrusted(list []string) (trustedSet, error) {
	var set trustedSet
	var errs []error
	for i, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			set = append(set, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("[%d]: want an IP address or a CIDR, got %q", i, s))
			continue
		}
		a = a.Unmap()
		set = append(set, netip.PrefixFrom(a, a.BitLen()))
	}
	return set, errors.Join(errs...)
}

// contains reports whether ip is one of the trusted proxies.
func (t trustedSet) contains(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range t {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// containsAddr is contains for a host:port or a bare address.
func (t trustedSet) containsAddr(addr string) bool {
	ip, ok := parseHost(addr)
	return ok && t.contains(ip)
}

// parseHost returns the IP of "host:port", "[v6]:port" or a bare address.
func parseHost(addr string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return ap.Addr().Unmap(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(addr, "[]")); err == nil {
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// proxyListener wraps ln so that connections from trusted proxies may start
// with a PROXY protocol header (v1 or v2) naming the client, whose address
// RemoteAddr then returns. The header is optional from a trusted proxy (so
// that it can still reach /metrics or /readyz directly) and refused from
// anyone else. It is read on the connection's first Read or RemoteAddr, on
// the connection's own goroutine, within timeout: Accept does not wait.
func proxyListener(ln net.Listener, trusted trustedSet, timeout time.Duration) net.Listener {
	return &proxyproto.Listener{
		Listener:          ln,
		ReadHeaderTimeout: timeout,
		ConnPolicy: func(o proxyproto.ConnPolicyOptions) (proxyproto.Policy, error) {
			if tcp, ok := o.Upstream.(*net.TCPAddr); ok {
				if ip, ok := netip.AddrFromSlice(tcp.IP); ok && trusted.contains(ip) {
					return proxyproto.USE, nil
				}
			}
			return proxyproto.REJECT, nil
		},
	}
}

// proxyHeaderError reports whether err comes from a bad or unwelcome PROXY
// header, and names it for the refusal metric.
func proxyHeaderError(err error) (string, bool) {
	switch {
	case errors.Is(err, proxyproto.ErrSuperfluousProxyHeader):
		return "proxy_header_untrusted", true
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return "proxy_header_missing", true
	}
	var msg = ""
	if err != nil {
		msg = err.Error()
	}
	if strings.HasPrefix(msg, "proxyproto:") {
		return "proxy_header_invalid", true
	}
	return "", false
}

// clientAddr returns the address of the client behind an HTTP request: the
// peer's (which PROXY protocol may already have replaced), unless the peer
// is a trusted proxy, in which case the Forwarded or X-Forwarded-For chain
// is read from the right, skipping trusted proxies, and the first address
// that is not one is the client. A proxy that forwards without saying for
// whom is the client.
func clientAddr(req *http.Request, trusted trustedSet) string {
	peer := req.RemoteAddr
	if len(trusted) == 0 || !trusted.containsAddr(peer) {
		return peer
	}
	chain := forwardedFor(req.Header)
	if len(chain) == 0 {
		return peer
	}
	for i := len(chain) - 1; i >= 0; i-- {
		ip, ok := parseHost(chain[i])
		if !ok {
			// Unparseable ("unknown", an obfuscated name): the chain
			// cannot be followed past it; the last good hop is the client.
			return peer
		}
		if i == 0 || !trusted.contains(ip) {
			return chain[i]
		}
		peer = chain[i]
	}
	return peer
}

// forwardedFor returns the client chain a proxy wrote, oldest first: the
// for= parameters of Forwarded (RFC 7239) if there is one, else
// X-Forwarded-For.
func forwardedFor(h http.Header) []string {
	var chain []string
	if fw := h.Values("Forwarded"); len(fw) > 0 {
		for _, line := range fw {
			for _, elem := range strings.Split(line, ",") {
				for _, pair := range strings.Split(elem, ";") {
					k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
					if ok && strings.EqualFold(k, "for") {
						chain = append(chain, strings.Trim(strings.TrimSpace(v), `"`))
					}
				}
			}
		}
		return chain
	}
	for _, line := range h.Values("X-Forwarded-For") {
		for _, a := range strings.Split(line, ",") {
			if a = strings.TrimSpace(a); a != "" {
				chain = append(chain, a)
			}
		}
	}
	return chain
}

// proxiedSocket is a PROXY protocol connection, its header read, handed on
// as the TCP socket beneath it with the addresses the header gave and the
// client's bytes go-proxyproto had buffered with the header. The socket
// underneath is what lets the MQTT server write to it directly and park it
// while the client is silent (mqtt.Server.Attach); go-proxyproto's
// connection offers neither.
type proxiedSocket struct {
	*net.TCPConn
	local, remote net.Addr
	pending       []byte // read with the header, not yet by the server
}

func (s *proxiedSocket) LocalAddr() net.Addr  { return s.local }
func (s *proxiedSocket) RemoteAddr() net.Addr { return s.remote }

// Read returns the pending bytes first. Only the connection's reader calls
// it, as it does Buffered.
func (s *proxiedSocket) Read(p []byte) (int, error) {
	if len(s.pending) > 0 {
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		return n, nil
	}
	return s.TCPConn.Read(p)
}

// Buffered reports bytes read from the socket and not yet returned: while
// there are any, the connection must not wait for the socket.
func (s *proxiedSocket) Buffered() int { return len(s.pending) }

// unwrapProxied returns, for a PROXY protocol connection over TCP whose
// header has been read, its socket as a proxiedSocket; any other connection
// as it is. go-proxyproto reads the header through a buffer of its own that
// may also hold the client's first bytes: a Read with a deadline already
// past returns those, or fails at once without touching the socket, and
// then reads go straight to the socket.
func unwrapProxied(c net.Conn) net.Conn {
	pc, ok := c.(*proxyproto.Conn)
	if !ok {
		return c
	}
	tc, ok := pc.TCPConn()
	if !ok {
		return c
	}
	s := &proxiedSocket{TCPConn: tc, local: pc.LocalAddr(), remote: pc.RemoteAddr()}
	if err := pc.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		return c
	}
	var buf [512]byte
	for {
		n, err := pc.Read(buf[:])
		s.pending = append(s.pending, buf[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				return c // the connection failed: let the server meet that
			}
			break
		}
	}
	_ = tc.SetReadDeadline(time.Time{})
	return s
}
