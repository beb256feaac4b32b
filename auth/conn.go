package auth

import (
	"crypto/tls"
	"net"
	"net/http"
	"strings"
)

// ConnInfo is what a transport knows about a connection that authentication
// may use: the remote address (throttling), the JWT the WebSocket upgrade
// request carried (in a header, cookie or query parameter: see
// TokenFromRequest) and the TLS state (client certificates). It holds the
// token, not the request: a session keeps its ConnInfo for its whole life,
// and a request's headers would cost each idle connection a kilobyte or two.
type ConnInfo struct {
	Remote string // host:port
	Token  string
	TLS    *tls.ConnectionState
}

// Host is the remote address without its port, the unit of throttling.
func (c ConnInfo) Host() string {
	if h, _, err := net.SplitHostPort(c.Remote); err == nil {
		return h
	}
	return c.Remote
}

// TokenFromRequest returns the JWT a browser put on its WebSocket upgrade:
// the Authorization: Bearer header, else the named cookie, else the token
// query parameter.
func TokenFromRequest(r *http.Request, cookie string) string {
	if r == nil {
		return ""
	}
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(t)
	}
	if cookie != "" {
		if c, err := r.Cookie(cookie); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return r.URL.Query().Get("token")
}

// CertAuthID names a verified client certificate's authid: its subject's
// common name (from "cn"), or its first subject alternative name (from
// "san": DNS name, e-mail address or URI). "" when no certificate was
// verified.
func CertAuthID(state *tls.ConnectionState, from string) string {
	if state == nil || len(state.VerifiedChains) == 0 || len(state.VerifiedChains[0]) == 0 {
		return ""
	}
	cert := state.VerifiedChains[0][0]
	if from != "san" {
		return cert.Subject.CommonName
	}
	switch {
	case len(cert.DNSNames) > 0:
		return cert.DNSNames[0]
	case len(cert.EmailAddresses) > 0:
		return cert.EmailAddresses[0]
	case len(cert.URIs) > 0:
		return cert.URIs[0].String()
	}
	return ""
}

// LooksLikeJWT tells a JWT from a password where either may come (an MQTT
// password, a WAMP ticket): three base64url parts.
func LooksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && len(s) > 20 && !strings.ContainsAny(s, " \t\n")
}
