package router

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
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
