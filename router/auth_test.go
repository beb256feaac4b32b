package router

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gammazero/nexus/v3/client"
	"github.com/gammazero/nexus/v3/transport"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gammazero/nexus/v3/wamp/crsign"
	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// wampLogin connects a nexus client with the given HELLO authid, methods
// and handlers; it returns the error of a refused login.
func wampLogin(t *testing.T, url, realm string, details nxwamp.Dict, handlers map[string]client.AuthFunc, mutate func(*client.Config)) (*client.Client, error) {
	t.Helper()
	cfg := client.Config{
		Realm: realm, HelloDetails: details, AuthHandlers: handlers,
		Serialization: serialize.MSGPACK, ResponseTimeout: 5 * time.Second, Logger: discardStdLog{},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.ConnectNet(ctx, url, cfg)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

func ticket(authid, secret string) (nxwamp.Dict, map[string]client.AuthFunc) {
	return nxwamp.Dict{"authid": authid, "authmethods": nxwamp.List{"ticket"}},
		map[string]client.AuthFunc{"ticket": func(*nxwamp.Challenge) (string, nxwamp.Dict) { return secret, nxwamp.Dict{} }}
}

func authidOf(c *client.Client) string {
	s, _ := nxwamp.AsString(c.RealmDetails()["authid"])
	return s
}

func roleOf(c *client.Client) string {
	s, _ := nxwamp.AsString(c.RealmDetails()["authrole"])
	return s
}

// mqttLogin connects an MQTT 5 client and returns its CONNACK reason code
// (0 on success) and the client when connected.
func mqttLogin(t *testing.T, rawURL, clientID, user, password string, mutate func(*autopaho.ClientConfig)) (byte, *v5Client) {
	t.Helper()
	u, _ := url.Parse(rawURL)
	errc := make(chan error, 1)
	up := make(chan struct{}, 1)
	c := &v5Client{msgs: make(chan *paho.Publish, 100), disconnects: make(chan *paho.Disconnect, 1)}
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true, ConnectTimeout: 5 * time.Second,
		OnConnectionUp:   func(*autopaho.ConnectionManager, *paho.Connack) { up <- struct{}{} },
		OnConnectionDown: func() bool { return false },
		OnConnectError:   func(err error) { errc <- err },
		ConnectUsername:  user, ConnectPassword: []byte(password),
		ClientConfig: paho.ClientConfig{ClientID: clientID, OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { c.msgs <- pr.Packet; return true, nil },
		}},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.cm = cm
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = cm.Disconnect(ctx)
	})
	select {
	case <-up:
		return 0, c
	case err := <-errc:
		var ce *autopaho.ConnackError
		if errors.As(err, &ce) {
			return ce.ReasonCode, nil
		}
		t.Fatalf("%s: connect: %v", clientID, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no CONNACK", clientID)
	}
	return 0, nil
}

func TestAuthMethodsMQTT(t *testing.T) {
	f := newSecureFixture(t, nil)
	tcp := "mqtt://" + mqttAddr(f.r)
	good := f.token(t, "sensor-9", "device", "realm1", nil)
	cases := []struct {
		name, url, user, password string
		mutate                    func(*autopaho.ClientConfig)
		want                      byte
	}{
		{"password", tcp, "sensor-1", "sensor-1-pw", nil, 0},
		{"password over websocket", wsURL(f.r), "alice", "alice-pw", nil, 0},
		{"wrong password", tcp, "sensor-1", "nope", nil, 0x86},
		{"unknown user", tcp, "mallory", "x", nil, 0x86},
		{"user of another realm is still itself", tcp, "ops", "ops-pw", nil, 0},
		{"anonymous", tcp, "", "", nil, 0},
		{"jwt as password", tcp, "ignored", good, nil, 0},
		{"jwt expired", tcp, "x", f.token(t, "sensor-9", "device", "realm1", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), nil, 0x86},
		{"jwt wrong audience", tcp, "x", f.token(t, "sensor-9", "device", "realm1", func(c jwt.MapClaims) { c["aud"] = "other" }), nil, 0x86},
		{"jwt wrong key", tcp, "x", rogueToken(t, f), nil, 0x86},
		{"jwt alg none", tcp, "x", noneToken("sensor-9", "device"), nil, 0x86},
		{"jwt role not in realm", tcp, "x", f.token(t, "sensor-9", "admin", "realm1", nil), nil, 0x86},
		{"jwt on the websocket upgrade", wsURL(f.r), "", "", func(c *autopaho.ClientConfig) {
			c.WebSocketCfg = &autopaho.WebSocketConfig{Header: func(*url.URL, *tls.Config) http.Header {
				return http.Header{"Authorization": {"Bearer " + good}}
			}}
		}, 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _ := mqttLogin(t, tc.url, fmt.Sprintf("c%d", i), tc.user, tc.password, tc.mutate)
			if code != tc.want {
				t.Fatalf("CONNACK %#x, want %#x", code, tc.want)
			}
		})
	}

	// MQTT 3.1.1 gets its own codes.
	if reply := rawConnect(t, mqttAddr(f.r), "", "v3bad", "sensor-1", "nope", 4); reply != 0x04 {
		t.Fatalf("3.1.1 bad password: CONNACK %#x, want 0x04", reply)
	}
	if reply := rawConnect(t, mqttAddr(f.r), "", "v3good", "sensor-1", "sensor-1-pw", 4); reply != 0 {
		t.Fatalf("3.1.1 good password: CONNACK %#x", reply)
	}
}

func TestAuthAnonymousOffMQTT(t *testing.T) {
	f := newSecureFixture(t, func(c *Config, _ *secureFixture) { c.MQTT.DefaultRealm = "locked" })
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "anon", "", "", nil); code != 0x87 {
		t.Fatalf("anonymous in a locked realm: CONNACK %#x, want 0x87", code)
	}
	if reply := rawConnect(t, mqttAddr(f.r), "", "anon3", "", "", 4); reply != 0x05 {
		t.Fatalf("3.1.1 anonymous in a locked realm: CONNACK %#x, want 0x05", reply)
	}
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "ops", "ops", "ops-pw", nil); code != 0 {
		t.Fatalf("ops: CONNACK %#x", code)
	}
}

// rawConnect sends an MQTT CONNECT (protocol level 4 or 5) from local (an IP
// on loopback, "" for any) and returns the CONNACK reason or return code.
func rawConnect(t *testing.T, addr, local, clientID, user, password string, level byte) byte {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	flags := byte(0x02)
	if user != "" {
		flags |= 0xC0
	}
	body := append(str("MQTT"), level, flags, 0, 60)
	if level == 5 {
		body = append(body, 0) // no properties
	}
	body = append(body, str(clientID)...)
	if user != "" {
		body = append(append(body, str(user)...), str(password)...)
	}
	pkt := append(append([]byte{0x10}, varint(len(body))...), body...)
	if _, err := conn.Write(pkt); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	ack := make([]byte, 4)
	if _, err := io.ReadFull(conn, ack); err != nil {
		t.Fatalf("CONNACK: %v", err)
	}
	return ack[3]
}

func rogueToken(t *testing.T, f *secureFixture) string {
	return signToken(t, jwt.SigningMethodES256, f.jwtRogue, "sensor-9", "device", "realm1", nil)
}

func noneToken(sub, role string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		enc([]byte(fmt.Sprintf(`{"sub":%q,"role":%q,"realm":"realm1","iss":"junction-test","aud":"junction","exp":%d}`, sub, role, time.Now().Add(time.Hour).Unix()))) + "."
}

func TestAuthMethodsWAMP(t *testing.T) {
	f := newSecureFixture(t, nil)
	ws, raw := wsURL(f.r), "tcp://"+httpAddr(f.r)
	good := f.token(t, "browser-7", "browser", "realm1", nil)
	cryptosign := func(key ed25519.PrivateKey) (nxwamp.Dict, map[string]client.AuthFunc) {
		return nxwamp.Dict{"authid": "sensor-1", "authmethods": nxwamp.List{"cryptosign"},
				"authextra": nxwamp.Dict{"pubkey": hex.EncodeToString(key.Public().(ed25519.PublicKey))}},
			map[string]client.AuthFunc{"cryptosign": func(c *nxwamp.Challenge) (string, nxwamp.Dict) {
				ch, _ := hex.DecodeString(c.Extra["challenge"].(string))
				return hex.EncodeToString(append(ed25519.Sign(key, ch), ch...)), nxwamp.Dict{}
			}}
	}
	cra := func(secret string) (nxwamp.Dict, map[string]client.AuthFunc) {
		return nxwamp.Dict{"authid": "sensor-1", "authmethods": nxwamp.List{"wampcra"}},
			map[string]client.AuthFunc{"wampcra": func(c *nxwamp.Challenge) (string, nxwamp.Dict) {
				return crsign.RespondChallenge(secret, c, nil), nxwamp.Dict{}
			}}
	}
	type login struct {
		details  nxwamp.Dict
		handlers map[string]client.AuthFunc
	}
	mk := func(d nxwamp.Dict, h map[string]client.AuthFunc) login { return login{d, h} }
	cases := []struct {
		name, url, realm string
		login            login
		mutate           func(*client.Config)
		wantAuthID       string // "" means refused
		wantRole         string
	}{
		{"ticket password websocket", ws, "realm1", mk(ticket("alice", "alice-pw")), nil, "alice", "browser"},
		{"ticket password rawsocket", raw, "realm1", mk(ticket("sensor-1", "sensor-1-pw")), nil, "sensor-1", "device"},
		{"ticket wrong password", ws, "realm1", mk(ticket("alice", "bob-pw")), nil, "", ""},
		{"ticket user of another realm", ws, "realm1", mk(ticket("ops", "ops-pw")), nil, "", ""},
		{"ticket jwt", ws, "realm1", mk(ticket("", good)), nil, "browser-7", "browser"},
		{"ticket jwt alg none", ws, "realm1", mk(ticket("", noneToken("x", "service"))), nil, "", ""},
		{"ticket jwt wrong key", raw, "realm1", mk(ticket("", rogueToken(t, f))), nil, "", ""},
		{"wampcra", ws, "realm1", mk(cra(f.craSecret)), nil, "sensor-1", "device"},
		{"wampcra wrong secret", raw, "realm1", mk(cra("guess")), nil, "", ""},
		{"cryptosign", ws, "realm1", mk(cryptosign(f.signKey)), nil, "sensor-1", "device"},
		{"cryptosign unknown key", raw, "realm1", mk(cryptosign(f.otherKey)), nil, "", ""},
		{"anonymous", ws, "realm1", login{}, nil, "anonymous-", "guest"},
		{"anonymous in a locked realm", ws, "locked", login{}, nil, "", ""},
		{"jwt in ?token=", ws + "?token=" + url.QueryEscape(good), "realm1", login{}, nil, "browser-7", "browser"},
		{"jwt in a cookie", ws, "realm1", login{}, func(c *client.Config) {
			jar, _ := cookiejar.New(nil)
			u, _ := url.Parse("http://" + httpAddr(f.r))
			jar.SetCookies(u, []*http.Cookie{{Name: "junction_token", Value: good}})
			c.WsCfg = transport.WebsocketConfig{Jar: jar}
		}, "browser-7", "browser"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := wampLogin(t, tc.url, tc.realm, tc.login.details, tc.login.handlers, tc.mutate)
			if tc.wantAuthID == "" {
				// The nexus client reports an ABORT after a CHALLENGE by its
				// message only; TestWAMPAbortReasons checks the URIs.
				if err == nil {
					t.Fatalf("logged in as %s (%s)", authidOf(c), roleOf(c))
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !strings.HasPrefix(authidOf(c), tc.wantAuthID) || roleOf(c) != tc.wantRole {
				t.Fatalf("logged in as %s (%s), want %s (%s)", authidOf(c), roleOf(c), tc.wantAuthID, tc.wantRole)
			}
		})
	}
}

func TestAuthTLSClientCertificates(t *testing.T) {
	f := newSecureFixture(t, withTLS)
	// WAMP: implicitly (anonymous HELLO over wss) and with the tls method.
	for _, tc := range []struct {
		name, url string
		details   nxwamp.Dict
		cert      bool
		want      string
	}{
		{"wss, anonymous HELLO", "wss://" + httpAddr(f.r) + "/ws", nil, true, "sensor-2"},
		{"tls RawSocket, tls method", "tcps://" + httpAddr(f.r), nxwamp.Dict{"authmethods": nxwamp.List{"tls"}}, true, "sensor-2"},
		{"tls method without a certificate", "tcps://" + httpAddr(f.r), nxwamp.Dict{"authmethods": nxwamp.List{"tls"}}, false, ""},
		{"no certificate: anonymous", "wss://" + httpAddr(f.r) + "/ws", nil, false, "anonymous-"},
	} {
		t.Run("wamp "+tc.name, func(t *testing.T) {
			c, err := wampLogin(t, tc.url, "realm1", tc.details, nil, func(c *client.Config) { c.TlsCfg = f.tlsConfig(tc.cert) })
			if tc.want == "" {
				if err == nil {
					t.Fatalf("logged in as %s", authidOf(c))
				}
				return
			}
			if err != nil || !strings.HasPrefix(authidOf(c), tc.want) {
				t.Fatalf("login: %v as %v, want %s", err, c, tc.want)
			}
		})
	}
	// MQTT: the certificate is the identity; its role's permissions apply.
	for _, u := range []string{"mqtts://" + mqttAddr(f.r), "mqtts://" + httpAddr(f.r), "wss://" + httpAddr(f.r) + "/ws"} {
		t.Run("mqtt "+u, func(t *testing.T) {
			code, c := mqttLogin(t, u, "sensor-2-"+strings.Split(u, ":")[0], "", "", func(cfg *autopaho.ClientConfig) { cfg.TlsCfg = f.tlsConfig(true) })
			if code != 0 {
				t.Fatalf("CONNACK %#x", code)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			own, err := c.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-2/temp", QoS: 1, Payload: []byte("1")})
			if err != nil || own.ReasonCode != 0 {
				t.Fatalf("own topic: %v %+v", err, own)
			}
			other, _ := c.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-1/temp", QoS: 1, Payload: []byte("1")})
			if other == nil || other.ReasonCode != 0x87 {
				t.Fatalf("another device's topic: %+v, want PUBACK 0x87", other)
			}
		})
	}
}

func TestWAMPAbortReasons(t *testing.T) {
	f := newSecureFixture(t, nil)
	abortOf := func(msgs ...string) []any {
		c := dialRawWAMP(t, f.r, false)
		for _, m := range msgs {
			c.send(m)
			reply := c.read()
			if reply[0] == float64(nxwamp.ABORT) {
				return reply
			}
		}
		t.Fatalf("no ABORT for %v", msgs)
		return nil
	}
	for _, tc := range []struct {
		name string
		msgs []string
	}{
		{"wrong ticket", []string{`[1,"realm1",{"authid":"alice","authmethods":["ticket"],"roles":{"caller":{}}}]`, `[5,"wrong",{}]`}},
		{"unknown user", []string{`[1,"realm1",{"authid":"mallory","authmethods":["ticket"],"roles":{"caller":{}}}]`, `[5,"x",{}]`}},
		{"no such method", []string{`[1,"realm1",{"authmethods":["scram"],"roles":{"caller":{}}}]`}},
	} {
		if m := abortOf(tc.msgs...); m[2] != string(nxwamp.ErrAuthenticationFailed) {
			t.Errorf("%s: %v, want ABORT wamp.error.authentication_failed", tc.name, m)
		}
	}
	if m := abortOf(`[1,"locked",{"roles":{"caller":{}}}]`); m[2] != string(nxwamp.ErrNotAuthorized) {
		t.Errorf("anonymous in a locked realm: %v, want ABORT wamp.error.not_authorized", m)
	}
	if m := abortOf(`[1,"nowhere",{"roles":{"caller":{}}}]`); m[2] != string(nxwamp.ErrNoSuchRealm) {
		t.Errorf("unknown realm: %v, want wamp.error.no_such_realm", m)
	}
}

func TestCryptosignReplayRefused(t *testing.T) {
	f := newSecureFixture(t, nil)
	var captured string
	details := nxwamp.Dict{"authid": "sensor-1", "authmethods": nxwamp.List{"cryptosign"}}
	sign := map[string]client.AuthFunc{"cryptosign": func(c *nxwamp.Challenge) (string, nxwamp.Dict) {
		ch, _ := hex.DecodeString(c.Extra["challenge"].(string))
		captured = hex.EncodeToString(append(ed25519.Sign(f.signKey, ch), ch...))
		return captured, nxwamp.Dict{}
	}}
	if _, err := wampLogin(t, wsURL(f.r), "realm1", details, sign, nil); err != nil {
		t.Fatalf("honest login: %v", err)
	}
	// An eavesdropper replays the captured AUTHENTICATE: nexus v3.3.0's own
	// cryptosign would accept it.
	replay := map[string]client.AuthFunc{"cryptosign": func(*nxwamp.Challenge) (string, nxwamp.Dict) { return captured, nxwamp.Dict{} }}
	if c, err := wampLogin(t, wsURL(f.r), "realm1", details, replay, nil); err == nil {
		t.Fatalf("replayed signature accepted: logged in as %s", authidOf(c))
	}
	// Nor is a bare signature over some other message.
	other := map[string]client.AuthFunc{"cryptosign": func(*nxwamp.Challenge) (string, nxwamp.Dict) {
		return hex.EncodeToString(ed25519.Sign(f.signKey, make([]byte, 32))), nxwamp.Dict{}
	}}
	if _, err := wampLogin(t, wsURL(f.r), "realm1", details, other, nil); err == nil {
		t.Fatal("signature over 32 zero bytes accepted")
	}
}

func TestJWTOnWAMPUpgradeHeader(t *testing.T) {
	f := newSecureFixture(t, nil)
	h := http.Header{"Authorization": {"Bearer " + f.token(t, "browser-8", "browser", "realm1", nil)}}
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}}
	ws, _, err := d.Dial(wsURL(f.r), h)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawWAMP{t: t, ws: ws}
	defer ws.Close()
	c.send(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	m := c.read()
	details, _ := m[2].(map[string]any)
	if m[0] != float64(nxwamp.WELCOME) || details["authid"] != "browser-8" || details["authrole"] != "browser" {
		t.Fatalf("got %v, want WELCOME for browser-8 (browser)", m)
	}
}

func TestLoginThrottledPerAddress(t *testing.T) {
	f := newSecureFixture(t, func(c *Config, _ *secureFixture) {
		c.Auth.Throttle = ThrottleConfig{MaxFailures: 5, Window: Duration(time.Minute), Block: Duration(time.Minute)}
	})
	addr := mqttAddr(f.r)
	// An attacker on 127.0.0.2 guesses passwords until it is blocked...
	for i := range 5 {
		if code := rawConnect(t, addr, "127.0.0.2", fmt.Sprintf("guess%d", i), "alice", fmt.Sprintf("guess-%d", i), 5); code != 0x86 {
			t.Fatalf("guess %d: CONNACK %#x, want 0x86", i, code)
		}
	}
	// ...after which even the right password from there is refused,
	if code := rawConnect(t, addr, "127.0.0.2", "right", "alice", "alice-pw", 5); code != 0x86 {
		t.Fatalf("blocked address with the right password: CONNACK %#x, want 0x86", code)
	}
	// including over WAMP,
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	dets, handlers := ticket("alice", "alice-pw")
	if _, err := wampLogin(t, wsURL(f.r), "realm1", dets, handlers, func(c *client.Config) {
		c.WsCfg = transport.WebsocketConfig{Dial: func(network, address string) (net.Conn, error) { return d.Dial(network, address) }}
	}); err == nil {
		t.Fatal("blocked address logged in over WAMP")
	}
	// while alice on 127.0.0.1 logs in as usual, on both protocols.
	if code := rawConnect(t, addr, "127.0.0.1", "alice", "alice", "alice-pw", 5); code != 0 {
		t.Fatalf("legitimate client: CONNACK %#x", code)
	}
	if _, err := wampLogin(t, wsURL(f.r), "realm1", dets, handlers, nil); err != nil {
		t.Fatalf("legitimate WAMP client: %v", err)
	}
	if v := metricValue(t, f.r, `junction_auth_failures_total{method="throttled",protocol="mqtt"}`); v < 1 {
		t.Fatalf("throttled logins not counted: %v", v)
	}
}

func TestReloadUsersWithoutDroppingConnections(t *testing.T) {
	f := newSecureFixture(t, nil)
	_, existing := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "existing", "alice", "alice-pw", nil)
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "newbie", "carol", "carol-pw", nil); code != 0x86 {
		t.Fatalf("carol before reload: CONNACK %#x", code)
	}
	cfg := f.r.cfg
	hash, err := authHash("carol-pw")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Users = append(append([]UserConfig{}, cfg.Auth.Users...), UserConfig{AuthID: "carol", Realm: "realm1", Role: "browser", Password: hash})
	if err := f.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "newbie2", "carol", "carol-pw", nil); code != 0 {
		t.Fatalf("carol after reload: CONNACK %#x", code)
	}
	existing.subscribe(t, "public/news", 1) // still connected, still allowed
	bad := cfg
	bad.Auth.Users = append(append([]UserConfig{}, cfg.Auth.Users...), UserConfig{AuthID: "dave", Realm: "realm1", Role: "nope"})
	if err := f.r.Reload(bad); err == nil || !errors.Is(err, ErrConfig) {
		t.Fatalf("reload with an unknown role: %v", err)
	}
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "newbie3", "carol", "carol-pw", nil); code != 0 {
		t.Fatalf("a failed reload must keep the previous users: CONNACK %#x", code)
	}
}

func TestDisclosureFollowsPermissions(t *testing.T) {
	f := newSecureFixture(t, nil)
	d, h := ticket("alice", "alice-pw")
	alice, err := wampLogin(t, wsURL(f.r), "realm1", d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan *nxwamp.Event, 2)
	if err := alice.SubscribeChan("public.", events, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	// backend's rule has disclose: true, so its identity is disclosed even
	// though it did not ask; alice's own publication is not.
	d, h = ticket("backend", "backend-pw")
	backend, err := wampLogin(t, wsURL(f.r), "realm1", d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Publish("public.news", nxwamp.Dict{"acknowledge": true}, nxwamp.List{1}, nil); err != nil {
		t.Fatal(err)
	}
	ev := recv(t, events, 5*time.Second, "event from backend")
	if got, _ := nxwamp.AsString(ev.Details["publisher_authid"]); got != "backend" {
		t.Fatalf("publisher_authid = %v, want backend (disclose: true)", ev.Details)
	}
	if err := alice.Publish("public.chat", nxwamp.Dict{"acknowledge": true, "exclude_me": false}, nxwamp.List{2}, nil); err != nil {
		t.Fatal(err)
	}
	ev = recv(t, events, 5*time.Second, "event from alice")
	if _, disclosed := ev.Details["publisher_authid"]; disclosed {
		t.Fatalf("alice's identity disclosed without asking: %v", ev.Details)
	}
}

func TestMQTTWillMustBeAllowed(t *testing.T) {
	f := newSecureFixture(t, nil)
	will := func(topic string) func(*autopaho.ClientConfig) {
		return func(c *autopaho.ClientConfig) {
			c.WillMessage = &paho.WillMessage{Topic: topic, Payload: []byte("gone"), QoS: 1}
		}
	}
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "w1", "sensor-1", "sensor-1-pw", will("devices/sensor-9/status")); code != 0x87 {
		t.Fatalf("will on another device's topic: CONNACK %#x, want 0x87", code)
	}
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "w2", "sensor-1", "sensor-1-pw", will("devices/sensor-1/status")); code != 0 {
		t.Fatalf("will on its own topic: CONNACK %#x", code)
	}
}

func TestMQTTSessionTakeoverOnlyBySameIdentity(t *testing.T) {
	f := newSecureFixture(t, nil)
	persistent := func(c *autopaho.ClientConfig) {
		c.CleanStartOnInitialConnection = false
		c.SessionExpiryInterval = 3600
	}
	code, first := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "shared-id", "sensor-1", "sensor-1-pw", persistent)
	if code != 0 {
		t.Fatalf("CONNACK %#x", code)
	}
	first.subscribe(t, "devices/sensor-1/cmd", 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = first.cm.Disconnect(ctx)
	cancel()
	// alice may not take over sensor-1's session and read its commands...
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "shared-id", "alice", "alice-pw", persistent); code != 0x87 {
		t.Fatalf("takeover by another identity: CONNACK %#x, want 0x87", code)
	}
	// ...sensor-1 may.
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "shared-id", "sensor-1", "sensor-1-pw", persistent); code != 0 {
		t.Fatalf("the session's own identity: CONNACK %#x", code)
	}
}

func TestMQTTRefusalsPerFilterAndQoS2(t *testing.T) {
	f := newSecureFixture(t, nil)
	_, c := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "mixed", "sensor-1", "sensor-1-pw", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// One SUBSCRIBE, three filters: the refused one gets 0x87 in its slot,
	// the others their QoS.
	ack, err := c.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "devices/sensor-1/cmd", QoS: 2},
		{Topic: "devices/+/temp", QoS: 1},
		{Topic: "public/news", QoS: 0},
	}})
	if ack == nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ack.Reasons) != fmt.Sprint([]byte{2, 0x87, 0}) {
		t.Fatalf("SUBACK %x, want 02 87 00", ack.Reasons)
	}
	// QoS 2 to a forbidden topic: PUBREC 0x87.
	resp, _ := c.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-9/temp", QoS: 2, Payload: []byte("x")})
	if resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("QoS 2 refused publish: %+v, want PUBREC 0x87", resp)
	}
	resp, err = c.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-1/temp", QoS: 2, Payload: []byte("x")})
	if err != nil || resp.ReasonCode != 0 {
		t.Fatalf("QoS 2 allowed publish: %v %+v", err, resp)
	}
}

func TestReloadNarrowsConnectedClients(t *testing.T) {
	f := newSecureFixture(t, nil)
	_, backend := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "backend", "backend", "backend-pw", nil)
	d, h := ticket("backend", "backend-pw")
	wbackend, err := wampLogin(t, wsURL(f.r), "realm1", d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if resp, _ := backend.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-1/cmd", QoS: 1}); resp == nil || resp.ReasonCode != 0 {
		t.Fatalf("before the reload: %+v", resp)
	}
	// The service role shrinks to public.* while backend stays connected.
	cfg := f.r.cfg
	cfg.Realms = append([]RealmConfig{}, cfg.Realms...)
	roles := append([]RoleConfig{}, fixtureRoles...)
	for i := range roles {
		if roles[i].Name == "service" {
			roles[i].Permissions = []PermissionConfig{{URI: "public.", Match: "prefix", Allow: []string{"publish", "subscribe"}}}
		}
	}
	cfg.Realms[0].Roles = roles
	if err := f.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if resp, _ := backend.cm.Publish(ctx, &paho.Publish{Topic: "devices/sensor-1/cmd", QoS: 1}); resp == nil || resp.ReasonCode != 0x87 {
		t.Fatalf("MQTT after the reload: %+v, want PUBACK 0x87", resp)
	}
	if resp, _ := backend.cm.Publish(ctx, &paho.Publish{Topic: "public/news", QoS: 1}); resp == nil || resp.ReasonCode != 0 {
		t.Fatalf("MQTT after the reload, still allowed: %+v", resp)
	}
	err = wbackend.Publish("devices.sensor-1.cmd", nxwamp.Dict{"acknowledge": true}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), string(nxwamp.ErrNotAuthorized)) {
		t.Fatalf("WAMP after the reload: %v, want not_authorized", err)
	}
}

func TestRefusedLoginsAreNotBadInput(t *testing.T) {
	f := newSecureFixture(t, nil)
	if code, _ := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "x", "alice", "wrong", nil); code != 0x86 {
		t.Fatalf("CONNACK %#x", code)
	}
	d, h := ticket("alice", "wrong")
	_, err := wampLogin(t, wsURL(f.r), "realm1", d, h, nil)
	if err == nil {
		t.Fatal("wrong ticket accepted")
	}
	// The client learns it failed, not why.
	if err.Error() != "bad credentials" {
		t.Fatalf("ABORT message %q tells the client more than that it failed", err)
	}
	waitFor(t, 5*time.Second, "auth failure metrics", func() bool {
		return metricValue(t, f.r, `junction_auth_failures_total{method="password",protocol="mqtt"}`) == 1 &&
			metricValue(t, f.r, `junction_auth_failures_total{method="ticket",protocol="wamp"}`) == 1
	})
	if v := metricValue(t, f.r, `junction_rejected_input_total{protocol="mqtt",reason="malformed"}`); v != 0 {
		t.Fatalf("a refused login was counted as malformed input (%v)", v)
	}
}
