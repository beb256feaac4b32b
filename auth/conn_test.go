package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestCertAuthID(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/device/7")
	verified := func(c *x509.Certificate) *tls.ConnectionState {
		return &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{c}}}
	}
	cases := []struct {
		name  string
		state *tls.ConnectionState
		from  string
		want  string
	}{
		{"no TLS", nil, "cn", ""},
		{"certificate nobody verified", &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: "x"}}}}, "cn", ""},
		{"cn", verified(&x509.Certificate{Subject: pkix.Name{CommonName: "sensor-2"}, DNSNames: []string{"d"}}), "cn", "sensor-2"},
		{"default is cn", verified(&x509.Certificate{Subject: pkix.Name{CommonName: "sensor-2"}}), "", "sensor-2"},
		{"san dns first", verified(&x509.Certificate{Subject: pkix.Name{CommonName: "c"}, DNSNames: []string{"sensor-3.example"}, EmailAddresses: []string{"e@x"}}), "san", "sensor-3.example"},
		{"san email", verified(&x509.Certificate{EmailAddresses: []string{"ops@example.org"}}), "san", "ops@example.org"},
		{"san uri", verified(&x509.Certificate{URIs: []*url.URL{u}}), "san", "spiffe://example.org/device/7"},
		{"san absent", verified(&x509.Certificate{Subject: pkix.Name{CommonName: "c"}}), "san", ""},
	}
	for _, tc := range cases {
		if got := CertAuthID(tc.state, tc.from); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestTokenFromRequest(t *testing.T) {
	req := func(mutate func(*http.Request)) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		mutate(r)
		return r
	}
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"none", req(func(*http.Request) {}), ""},
		{"bearer", req(func(r *http.Request) { r.Header.Set("Authorization", "Bearer abc.def.ghi") }), "abc.def.ghi"},
		{"other scheme ignored", req(func(r *http.Request) { r.Header.Set("Authorization", "Basic eDp5") }), ""},
		{"cookie", req(func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "junction_token", Value: "c.o.k"}) }), "c.o.k"},
		{"query", req(func(r *http.Request) { r.URL.RawQuery = "token=q.u.e" }), "q.u.e"},
		{"header wins", req(func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer h.h.h")
			r.URL.RawQuery = "token=q.q.q"
		}), "h.h.h"},
		{"nil request", nil, ""},
	}
	for _, tc := range cases {
		if got := TokenFromRequest(tc.r, "junction_token"); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
