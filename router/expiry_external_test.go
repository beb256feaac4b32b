package router

// Token expiry seen through autobahn-python (testdata/autobahn_expiry.py),
// which joins with a short-lived JWT as its WAMP ticket and takes commands
// on stdin, so that the test says when it acts. The router is
// secure_test.go's fixture; the helpers that run the client are
// external_test.go's.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// newExpiryExtFixture is a router that trusts one ES256 key for JWTs, with
// leeway, and the secure fixture's realm1 roles and user backend (service,
// password backend-pw): the part of newSecureFixture these tests use,
// without its argon2 hash, which takes seconds under -race. Its token and
// shortToken mint tokens.
func newExpiryExtFixture(t *testing.T, leeway time.Duration) *secureFixture {
	t.Helper()
	f := &secureFixture{dir: t.TempDir()}
	var err error
	if f.jwtKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&f.jwtKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	jwtPub := f.write(t, "jwt-es256.pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	backendPW, err := authHash("backend-pw")
	if err != nil {
		t.Fatal(err)
	}
	f.r = startRouter(t, func(c *Config) {
		c.Realms = []RealmConfig{{Name: "realm1", Anonymous: true, AnonymousRole: "guest", Roles: fixtureRoles}}
		c.Auth.Users = []UserConfig{{AuthID: "backend", Realm: "realm1", Role: "service", Password: backendPW}}
		c.Auth.JWT = JWTConfig{
			KeyFiles: []string{jwtPub}, Issuer: "junction-test", Audience: "junction", Leeway: Duration(leeway),
			AuthIDClaim: "sub", RoleClaim: "role", RealmClaim: "realm",
		}
	})
	return f
}

// expiryExtQuiet reads p's output until deadline and fails if p reports
// anything: the negative half of an expiry test (a deadline, not a
// synchronization).
func expiryExtQuiet(p *extProc, deadline time.Time, what string) {
	p.t.Helper()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				p.fatalf("%s: exited (%v) before %s", what, p.err, deadline.Format(time.TimeOnly+".000"))
			}
			var m map[string]any
			if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &m) == nil && m["event"] != nil {
				p.fatalf("%s: reported %v before %s", what, m, deadline.Format(time.TimeOnly+".000"))
			}
		case <-timer.C:
			return
		}
	}
}

// expiryExtCommand sends one command line to the client.
func expiryExtCommand(p *extProc, cmd ...string) {
	p.t.Helper()
	if _, err := fmt.Fprintln(p.stdin, strings.Join(cmd, " ")); err != nil {
		p.fatalf("writing %q to its stdin: %v", cmd, err)
	}
}

// expiryExtLeftAt checks that the session ended with GOODBYE
// junction.error.token_expired, as autobahn's onLeave reports it, at end
// or soon after (two seconds, for a busy machine), and that the client then
// exits 0.
func expiryExtLeftAt(p *extProc, end time.Time) {
	p.t.Helper()
	leave := p.event("leave")
	assertJSON(p.t, "autobahn-python onLeave", leave, `{"reason": "junction.error.token_expired"}`)
	at, _ := leave["at"].(float64)
	left := time.Unix(0, int64(math.Round(at*1e9)))
	p.t.Logf("left at %s, token's end %s (%+v): %q", left.Format(time.TimeOnly+".000"), end.Format(time.TimeOnly+".000"),
		left.Sub(end).Round(time.Millisecond), leave["message"])
	if left.Before(end) || left.After(end.Add(2*time.Second)) {
		p.fatalf("left at %s, want at the token's exp + leeway %s or within two seconds after", left.Format(time.TimeOnly+".000"), end.Format(time.TimeOnly+".000"))
	}
	p.event("disconnected")
	p.succeed()
}

// TestExternalAutobahnPythonTokenExpiry: autobahn-python joins with a JWT
// that expires in three or four seconds (time for the client to start and
// join on a busy machine); WELCOME's authextra says when (exp plus
// auth.jwt.leeway), and at that moment the session ends with GOODBYE
// junction.error.token_expired, which autobahn reports in onLeave. A client
// that calls junction.session.reauthenticate with a fresh token before then
// (after two refused ones: another identity's, not a token) is still
// joined past the first token's end: it calls a procedure and publishes,
// and only the fresh token's end ends it.
func TestExternalAutobahnPythonTokenExpiry(t *testing.T) {
	requirePython(t)
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	cases := []struct {
		name   string
		leeway time.Duration
		renew  bool
	}{
		{"expires", 0, false},
		{"expires after the leeway", time.Second, false},
		{"reauthenticated", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newExpiryExtFixture(t, tc.leeway)
			if tc.renew {
				// A procedure the browser role may call, to show the session
				// still works after its first token's end.
				backend, err := wampLoginWith(t, wsURL(f.r), "realm1", dh(ticket("backend", "backend-pw")))
				if err != nil {
					t.Fatal(err)
				}
				echo := func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
					return client.InvokeResult{Args: inv.Arguments}
				}
				if err := backend.Register("com.acme.expiry.echo", echo, nil); err != nil {
					t.Fatal(err)
				}
			}

			token, exp := f.shortToken(t, "browser-py", 4*time.Second)
			end := exp.Add(tc.leeway)
			p := startExt(t, "autobahn-python expiry "+tc.name, true, debianPython, pythonScript("autobahn_expiry.py"), wsURL(f.r), "realm1", token)
			assertJSON(t, "joined", p.event("joined"), fmt.Sprintf(`{"authid": "browser-py", "authrole": "browser", "authmethod": "ticket",
				"authextra": {"method": "jwt", "expires": %q}}`, rfc(end)))
			if !tc.renew {
				expiryExtLeftAt(p, end)
				waitFor(t, 5*time.Second, "the disconnect counted as token_expired", func() bool {
					return metricValue(t, f.r, `junction_disconnects_total{protocol="wamp",reason="token_expired"}`) == 1
				})
				return
			}

			// Refused renewals leave the session as it was.
			expiryExtCommand(p, "reauth", f.token(t, "mallory", "browser", "realm1", nil))
			assertJSON(t, "reauthenticate with another authid's token", p.event("reauth"), `{"ok": false, "error": "wamp.error.not_authorized"}`)
			expiryExtCommand(p, "reauth", "x.y.z")
			assertJSON(t, "reauthenticate with not a token", p.event("reauth"), `{"ok": false, "error": "wamp.error.authentication_failed"}`)

			fresh, exp2 := f.shortToken(t, "browser-py", 7*time.Second)
			expiryExtCommand(p, "reauth", fresh)
			assertJSON(t, "reauthenticate", p.event("reauth"), fmt.Sprintf(`{"ok": true, "result": {"expires": %q}}`, rfc(exp2)))
			if !exp2.After(end) {
				t.Fatalf("fresh token's exp %v is not after the first's %v", exp2, end)
			}

			// The first token's end passes; the session stays and works.
			expiryExtQuiet(p, end.Add(500*time.Millisecond), "after re-authenticating")
			expiryExtCommand(p, "call", "com.acme.expiry.echo", "renewed")
			assertJSON(t, "call after the first token's end", p.event("call"), `{"ok": true, "result": "renewed"}`)
			expiryExtCommand(p, "publish", "public.renewed")
			assertJSON(t, "publish after the first token's end", p.event("publish"), `{"ok": true}`)
			if now := time.Now(); !now.Before(exp2) {
				t.Fatalf("the checks after the first token's end ran until %v, past the fresh token's exp %v", now, exp2)
			}

			// The fresh token's end ends it.
			expiryExtLeftAt(p, exp2)
			waitFor(t, 5*time.Second, "the disconnect counted as token_expired", func() bool {
				return metricValue(t, f.r, `junction_disconnects_total{protocol="wamp",reason="token_expired"}`) == 1
			})
		})
	}
}
