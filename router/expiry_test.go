package router

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/golang-jwt/jwt/v5"
)

// newExpiryFixture is the secure fixture without JWT leeway, so that a
// token's connection ends at its exp.
func newExpiryFixture(t *testing.T) *secureFixture {
	t.Helper()
	return newSecureFixture(t, func(c *Config, _ *secureFixture) { c.Auth.JWT.Leeway = 0 })
}

// shortToken mints a token for alice (browser) that expires in d (exp is
// in whole seconds: it expires within d, at least d-1s from now), and
// returns its exp.
func (f *secureFixture) shortToken(t *testing.T, sub string, d time.Duration) (string, time.Time) {
	t.Helper()
	exp := time.Now().Add(d).Truncate(time.Second)
	return f.token(t, sub, "browser", "realm1", func(c jwt.MapClaims) { c["exp"] = exp.Unix() }), exp
}

// untilPast waits until t has passed, failing if anything arrives on
// disconnects before: the negative half of an expiry test (a deadline, not
// a synchronization).
func untilPast[T any](t *testing.T, deadline time.Time, disconnects <-chan T, what string) {
	t.Helper()
	select {
	case d := <-disconnects:
		t.Fatalf("%s: disconnected before %s: %+v", what, deadline.Format(time.TimeOnly), d)
	case <-time.After(time.Until(deadline)):
	}
}

func TestJWTExpiryMQTT5(t *testing.T) {
	f := newExpiryFixture(t)
	token, exp := f.shortToken(t, "browser-5", 2*time.Second)
	c := connectV5(t, "mqtt://"+mqttAddr(f.r), "expiring", func(cfg *autopaho.ClientConfig) {
		cfg.ConnectUsername, cfg.ConnectPassword = "browser-5", []byte(token)
	})
	// A password login on the same router is not touched.
	_, other := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "staying", "alice", "alice-pw", nil)

	d := recv(t, c.disconnects, 10*time.Second, "DISCONNECT at the token's expiry")
	if d.ReasonCode != 0xA0 {
		t.Fatalf("DISCONNECT reason %#x (%v), want 0xA0", d.ReasonCode, d.Properties)
	}
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("disconnected at %v, before exp %v", now, exp)
	}
	waitFor(t, 5*time.Second, "the disconnect counted as token_expired", func() bool {
		return metricValue(t, f.r, `junction_disconnects_total{protocol="mqtt",reason="token_expired"}`) == 1
	})
	other.subscribe(t, "public/x", 1)
}

func TestJWTExpiryMQTT311(t *testing.T) {
	f := newExpiryFixture(t)
	token, exp := f.shortToken(t, "browser-3", 2*time.Second)
	lost := make(chan error, 1)
	connectV3(t, "tcp://"+mqttAddr(f.r), "expiring-v3", func(o *mqtt3.ClientOptions) {
		o.SetUsername("browser-3").SetPassword(token)
		o.SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err })
	})
	recv(t, lost, 10*time.Second, "the connection closed at the token's expiry")
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("closed at %v, before exp %v", now, exp)
	}
	waitFor(t, 5*time.Second, "the disconnect counted as token_expired", func() bool {
		return metricValue(t, f.r, `junction_disconnects_total{protocol="mqtt",reason="token_expired"}`) == 1
	})
}

// jwtAuther is paho's side of enhanced authentication with method "jwt":
// the token goes in CONNECT, so there is never a challenge to answer.
type jwtAuther struct{ authenticated chan struct{} }

func (a jwtAuther) Authenticate(*paho.Auth) *paho.Auth { return &paho.Auth{ReasonCode: 0x87} }
func (a jwtAuther) Authenticated() {
	select {
	case a.authenticated <- struct{}{}:
	default:
	}
}

// connectJWTv5 connects with MQTT 5 enhanced authentication, method "jwt".
func connectJWTv5(t *testing.T, f *secureFixture, clientID, token string) (*v5Client, jwtAuther) {
	t.Helper()
	a := jwtAuther{authenticated: make(chan struct{}, 1)}
	c := connectV5(t, "mqtt://"+mqttAddr(f.r), clientID, func(cfg *autopaho.ClientConfig) {
		cfg.ClientConfig.AuthHandler = a
		cfg.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			if cp.Properties == nil {
				cp.Properties = &paho.ConnectProperties{}
			}
			cp.Properties.AuthMethod, cp.Properties.AuthData = "jwt", []byte(token)
			return cp, nil
		}
	})
	return c, a
}

func TestJWTExpiryMQTT5ReAuthenticate(t *testing.T) {
	f := newExpiryFixture(t)
	first, exp1 := f.shortToken(t, "browser-r", 2*time.Second)
	c, a := connectJWTv5(t, f, "renewing", first)
	// CONNACK carried the method back: paho saw enhanced authentication.
	recv(t, a.authenticated, 5*time.Second, "Auther.Authenticated")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	second, exp2 := f.shortToken(t, "browser-r", 4*time.Second)
	resp, err := c.cm.Authenticate(ctx, &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "jwt", AuthData: []byte(second)}})
	if err != nil || !resp.Success || resp.ReasonCode != 0 {
		t.Fatalf("re-authentication: %+v %v", resp, err)
	}
	// The first token's expiry passes; the connection stays and works.
	untilPast(t, exp1.Add(500*time.Millisecond), c.disconnects, "after re-authenticating")
	c.subscribe(t, "public/renewed", 1)
	// The second token's expiry ends it.
	d := recv(t, c.disconnects, 10*time.Second, "DISCONNECT at the renewed token's expiry")
	if d.ReasonCode != 0xA0 || time.Now().Before(exp2) {
		t.Fatalf("DISCONNECT %#x at %v, want 0xA0 after %v", d.ReasonCode, time.Now(), exp2)
	}
}

func TestJWTReAuthenticateRefused(t *testing.T) {
	f := newExpiryFixture(t)
	tests := []struct {
		name     string
		auth     *paho.Auth
		wantCode byte
	}{
		{"another authid", &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "jwt",
			AuthData: []byte(f.token(t, "mallory", "browser", "realm1", nil))}}, 0x87},
		{"another role", &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "jwt",
			AuthData: []byte(f.token(t, "browser-x", "service", "realm1", nil))}}, 0x87},
		{"not a token", &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "jwt", AuthData: []byte("x.y.z")}}, 0x87},
		{"another method", &paho.Auth{ReasonCode: 0x19, Properties: &paho.AuthProperties{AuthMethod: "SCRAM-SHA-1"}}, 0x8C},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := connectJWTv5(t, f, "refused-"+tc.name, f.token(t, "browser-x", "browser", "realm1", nil))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			go func() { _, _ = c.cm.Authenticate(ctx, tc.auth) }()
			d := recv(t, c.disconnects, 5*time.Second, "DISCONNECT")
			if d.ReasonCode != tc.wantCode {
				t.Fatalf("DISCONNECT %#x, want %#x", d.ReasonCode, tc.wantCode)
			}
		})
	}
	// A method other than jwt at CONNECT is refused with 0x8C.
	code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "scram", "", "", func(cfg *autopaho.ClientConfig) {
		cfg.ConnectPacketBuilder = func(cp *paho.Connect, _ *url.URL) (*paho.Connect, error) {
			cp.Properties = &paho.ConnectProperties{AuthMethod: "SCRAM-SHA-1", AuthData: []byte("x")}
			return cp, nil
		}
	})
	if code != 0x8C {
		t.Fatalf("CONNECT with method SCRAM-SHA-1: CONNACK %#x, want 0x8C", code)
	}
}

func TestJWTExpiryWAMP(t *testing.T) {
	f := newExpiryFixture(t)
	token, exp := f.shortToken(t, "browser-w", 2*time.Second)
	c, err := wampLoginWith(t, wsURL(f.r), "realm1", dh(ticket("", token)))
	if err != nil {
		t.Fatal(err)
	}
	extra, _ := nxwamp.AsDict(c.RealmDetails()["authextra"])
	if got, _ := nxwamp.AsString(extra["expires"]); got != exp.UTC().Format(time.RFC3339Nano) {
		t.Errorf("WELCOME authextra expires %q, want %s", got, exp.UTC().Format(time.RFC3339Nano))
	}
	// A session that joined with a password stays.
	other, err := wampLoginWith(t, wsURL(f.r), "realm1", dh(ticket("alice", "alice-pw")))
	if err != nil {
		t.Fatal(err)
	}
	recv(t, c.Done(), 10*time.Second, "the session's end at the token's expiry")
	if now := time.Now(); now.Before(exp) {
		t.Fatalf("ended at %v, before exp %v", now, exp)
	}
	if g := c.RouterGoodbye(); g == nil || g.Reason != "junction.error.token_expired" {
		t.Fatalf("GOODBYE %+v, want junction.error.token_expired", g)
	}
	waitFor(t, 5*time.Second, "the disconnect counted as token_expired", func() bool {
		return metricValue(t, f.r, `junction_disconnects_total{protocol="wamp",reason="token_expired"}`) == 1
	})
	if err := other.Publish("public.still-here", nxwamp.Dict{"acknowledge": true}, nil, nil); err != nil {
		t.Fatalf("the password session: %v", err)
	}
}

func TestJWTExpiryWAMPReauthenticate(t *testing.T) {
	f := newExpiryFixture(t)
	first, exp1 := f.shortToken(t, "browser-w", 2*time.Second)
	c, err := wampLoginWith(t, wsURL(f.r), "realm1", dh(ticket("", first)))
	if err != nil {
		t.Fatal(err)
	}
	// Refusals first: they leave the session as it was.
	for _, tc := range []struct {
		name, token string
		want        nxwamp.URI
	}{
		{"another authid", f.token(t, "mallory", "browser", "realm1", nil), nxwamp.ErrNotAuthorized},
		{"another role", f.token(t, "browser-w", "service", "realm1", nil), nxwamp.ErrNotAuthorized},
		{"not a token", "x.y.z", nxwamp.ErrAuthenticationFailed},
	} {
		_, err := c.Call(callCtx(t), "junction.session.reauthenticate", nil, nxwamp.List{tc.token}, nil, nil)
		if got := rpcErrorURI(err); got != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
	second, exp2 := f.shortToken(t, "browser-w", 4*time.Second)
	res, err := c.Call(callCtx(t), "junction.session.reauthenticate", nil, nxwamp.List{second}, nil, nil)
	if err != nil {
		t.Fatalf("reauthenticate: %v", err)
	}
	if d, _ := nxwamp.AsDict(res.Arguments[0]); d["expires"] != exp2.UTC().Format(time.RFC3339Nano) {
		t.Errorf("result %v, want expires %s", res.Arguments, exp2.UTC().Format(time.RFC3339Nano))
	}
	untilPast(t, exp1.Add(500*time.Millisecond), c.Done(), "after re-authenticating")
	if err := c.Publish("public.renewed", nxwamp.Dict{"acknowledge": true}, nil, nil); err != nil {
		t.Fatalf("after the first token's expiry: %v", err)
	}
	recv(t, c.Done(), 10*time.Second, "the session's end at the renewed token's expiry")
	if g := c.RouterGoodbye(); g == nil || g.Reason != "junction.error.token_expired" || time.Now().Before(exp2) {
		t.Fatalf("GOODBYE %+v at %v, want junction.error.token_expired after %v", g, time.Now(), exp2)
	}
}

func TestWAMPReauthenticateIsTheRouters(t *testing.T) {
	f := newExpiryFixture(t)
	// backend (service) may register anything, but not what could take the
	// router's procedure's calls.
	backend, err := wampLoginWith(t, wsURL(f.r), "realm1", dh(ticket("backend", "backend-pw")))
	if err != nil {
		t.Fatal(err)
	}
	echo := func(context.Context, *nxwamp.Invocation) client.InvokeResult { return client.InvokeResult{} }
	for _, r := range []struct{ uri, match string }{
		{"junction.session.reauthenticate", "exact"}, {"junction.", "prefix"}, {"junction..reauthenticate", "wildcard"}, {"", "prefix"},
	} {
		err := backend.Register(r.uri, echo, nxwamp.Dict{"match": r.match})
		if err == nil || !strings.Contains(err.Error(), string(nxwamp.ErrNotAuthorized)) {
			t.Errorf("register %s %q: %v, want not_authorized", r.match, r.uri, err)
		}
	}
	if err := backend.Register("junction.other", echo, nil); err != nil {
		t.Errorf("register junction.other: %v", err)
	}
	// A session that joined with a password has no token to renew.
	_, err = backend.Call(callCtx(t), "junction.session.reauthenticate", nil, nxwamp.List{f.token(t, "backend", "service", "realm1", nil)}, nil, nil)
	if got := rpcErrorURI(err); got != nxwamp.ErrNotAuthorized {
		t.Errorf("password session: %v, want not_authorized", err)
	}
}

// loginArgs carries ticket's two results into wampLoginWith.
type loginArgs struct {
	details  nxwamp.Dict
	handlers map[string]client.AuthFunc
}

func dh(d nxwamp.Dict, h map[string]client.AuthFunc) loginArgs { return loginArgs{d, h} }

func wampLoginWith(t *testing.T, url, realm string, l loginArgs) (*client.Client, error) {
	t.Helper()
	return wampLogin(t, url, realm, l.details, l.handlers, nil)
}
