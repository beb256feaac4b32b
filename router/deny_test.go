package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"golang.org/x/crypto/bcrypt"
)

// fleetRole may use everything under devices. except devices.<any>.admin,
// and com.fleet. except com.fleet.<any>.admin: the deny rules of the
// issue's example, for both protocols.
var fleetRole = RoleConfig{Name: "fleet", Permissions: []PermissionConfig{
	{URI: "devices.", Match: "prefix", Allow: []string{"publish", "subscribe"}},
	{URI: "devices..admin", Match: "wildcard", Deny: []string{"publish", "subscribe"}},
	{URI: "com.fleet.", Match: "prefix", Allow: []string{"call", "register"}},
	{URI: "com.fleet..admin", Match: "wildcard", Deny: []string{"call", "register"}},
	{URI: "inbox.{authid}.private", Match: "exact", Deny: []string{"publish"}},
	{URI: "inbox.", Match: "prefix", Allow: []string{"publish"}},
}}

// newDenyFixture is the secure fixture with the fleet role and its user
// fleet-1 (password fleet-1-pw) in realm1.
func newDenyFixture(t *testing.T) *secureFixture {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte("fleet-1-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return newSecureFixture(t, func(c *Config, _ *secureFixture) {
		c.Bridge.Enabled = false
		c.Realms[0].Roles = append(append([]RoleConfig{}, fixtureRoles...), fleetRole)
		c.Auth.Users = append(c.Auth.Users, UserConfig{AuthID: "fleet-1", Realm: "realm1", Role: "fleet", Password: string(h)})
	})
}

func TestDenyRulesMQTT5(t *testing.T) {
	f := newDenyFixture(t)
	_, c := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "fleet-v5", "fleet-1", "fleet-1-pw", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Every filter that can match a denied topic gets 0x87 in its slot; the
	// neighbours are granted.
	ack, err := c.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "devices/#", QoS: 1},
		{Topic: "devices/+/+", QoS: 1},
		{Topic: "devices/d1/admin", QoS: 1},
		{Topic: "devices/+/admin", QoS: 1},
		{Topic: "$share/g/devices/#", QoS: 1},
		{Topic: "devices/+/temp", QoS: 1},
		{Topic: "devices/d1/admin/log", QoS: 1},
	}})
	if ack == nil {
		t.Fatal(err)
	}
	if want := []byte{0x87, 0x87, 0x87, 0x87, 0x87, 1, 1}; fmt.Sprint(ack.Reasons) != fmt.Sprint(want) {
		t.Fatalf("SUBACK %x, want %x", ack.Reasons, want)
	}

	// A denied topic: PUBACK 0x87; the neighbour is published, and arrives.
	for _, topic := range []string{"devices/d1/admin", "devices/d2/admin", "inbox/fleet-1/private"} {
		resp, _ := c.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")})
		if resp == nil || resp.ReasonCode != 0x87 {
			t.Errorf("publish %s: %+v, want PUBACK 0x87", topic, resp)
		}
	}
	for _, topic := range []string{"inbox/fleet-2/private", "devices/d1/admin/log"} {
		if resp, err := c.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("x")}); err != nil || resp.ReasonCode != 0 {
			t.Errorf("publish %s (allowed): %v %+v", topic, err, resp)
		}
	}
	c.publish(t, &paho.Publish{Topic: "devices/d1/temp", QoS: 1, Payload: []byte("21")})
	for {
		got := recv(t, c.msgs, 5*time.Second, "devices/d1/temp")
		if got.Topic == "devices/d1/temp" {
			break
		}
		if got.Topic != "devices/d1/admin/log" {
			t.Fatalf("got %s, want devices/d1/admin/log or devices/d1/temp", got.Topic)
		}
	}
}

func TestDenyRulesMQTT311(t *testing.T) {
	f := newDenyFixture(t)
	broker := "tcp://" + mqttAddr(f.r)
	// The watcher sees everything, to prove that a refused publish reaches
	// no one.
	watcher := connectV3(t, broker, "watch", func(o *mqtt3.ClientOptions) { o.SetUsername("backend").SetPassword("backend-pw") })
	all := subscribeV3(t, watcher, "#", 1)
	c := connectV3(t, broker, "fleet-v3", func(o *mqtt3.ClientOptions) { o.SetUsername("fleet-1").SetPassword("fleet-1-pw") })

	tok := c.Subscribe("devices/#", 1, func(mqtt3.Client, mqtt3.Message) {})
	waitToken(t, tok, "subscribe devices/#")
	if got := tok.(*mqtt3.SubscribeToken).Result()["devices/#"]; got != 0x80 {
		t.Errorf("subscribe devices/#: SUBACK %#x, want 0x80", got)
	}
	subscribeV3(t, c, "devices/+/temp", 1)

	// 3.1.1 has no refusal for a publish: it is acknowledged and dropped.
	waitToken(t, c.Publish("devices/d1/admin", 1, false, "refused"), "publish devices/d1/admin")
	waitToken(t, c.Publish("devices/d1/temp", 1, false, "marker"), "publish devices/d1/temp")
	for {
		m := recv(t, all, 5*time.Second, "the watcher")
		if m.topic == "devices/d1/admin" {
			t.Fatal("the denied publish was delivered")
		}
		if m.topic == "devices/d1/temp" {
			break
		}
	}
	if c.IsConnectionOpen() != true {
		t.Fatal("the 3.1.1 publisher was disconnected")
	}
}

// TestDenyRulesMQTTDelivery: a subscription made before a deny rule is
// added no longer delivers what it denies (mochi asks for every delivery).
func TestDenyRulesMQTTDelivery(t *testing.T) {
	f := newDenyFixture(t)
	_, sub := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "sub", "alice", "alice-pw", nil) // browser: subscribe devices.
	sub.subscribe(t, "devices/+/+", 1)
	_, pub := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "pub", "backend", "backend-pw", nil)

	cfg := f.r.cfg
	cfg.Realms = append([]RealmConfig{}, cfg.Realms...)
	roles := append([]RoleConfig{}, cfg.Realms[0].Roles...)
	for i := range roles {
		if roles[i].Name == "browser" {
			roles[i].Permissions = append(append([]PermissionConfig{}, roles[i].Permissions...),
				PermissionConfig{URI: "devices..admin", Match: "wildcard", Deny: []string{"subscribe"}})
		}
	}
	cfg.Realms[0].Roles = roles
	if err := f.r.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	pub.publish(t, &paho.Publish{Topic: "devices/d1/admin", QoS: 1, Payload: []byte("no")})
	pub.publish(t, &paho.Publish{Topic: "devices/d1/temp", QoS: 1, Payload: []byte("yes")})
	if got := recv(t, sub.msgs, 5*time.Second, "a delivery"); got.Topic != "devices/d1/temp" {
		t.Fatalf("delivered %s first, want devices/d1/temp (devices/d1/admin is denied)", got.Topic)
	}
}

func TestDenyRulesWAMP(t *testing.T) {
	f := newDenyFixture(t)
	d, h := ticket("fleet-1", "fleet-1-pw")
	c, err := wampLogin(t, wsURL(f.r), "realm1", d, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	notAuthorized := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed, want wamp.error.not_authorized", what)
			return
		}
		if u := rpcErrorURI(err); u != nxwamp.ErrNotAuthorized && !strings.Contains(err.Error(), string(nxwamp.ErrNotAuthorized)) {
			t.Errorf("%s: %v, want wamp.error.not_authorized", what, err)
		}
	}
	noop := func(*nxwamp.Event) {}
	for _, s := range []struct{ uri, match string }{
		{"devices.", "prefix"}, {"devices..admin", "wildcard"}, {"devices.d1.admin", "exact"}, {"devices..", "wildcard"}, {"", "prefix"},
	} {
		notAuthorized("subscribe "+s.match+" "+s.uri, c.Subscribe(s.uri, noop, nxwamp.Dict{"match": s.match}))
	}
	events := make(chan *nxwamp.Event, 10)
	if err := c.SubscribeChan("devices..temp", events, nxwamp.Dict{"match": "wildcard"}); err != nil {
		t.Fatalf("subscribe devices..temp: %v", err)
	}
	ack := nxwamp.Dict{"acknowledge": true, "exclude_me": false}
	notAuthorized("publish devices.d1.admin", c.Publish("devices.d1.admin", ack, nil, nil))
	notAuthorized("publish inbox.fleet-1.private", c.Publish("inbox.fleet-1.private", ack, nil, nil))
	if err := c.Publish("devices.d1.temp", ack, nxwamp.List{21}, nil); err != nil {
		t.Fatalf("publish devices.d1.temp: %v", err)
	}
	if ev := recv(t, events, 5*time.Second, "devices.d1.temp"); ev.Details["topic"] != "devices.d1.temp" {
		t.Fatalf("event %v", ev.Details)
	}

	echo := func(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
		return client.InvokeResult{Args: nxwamp.List{"ok"}}
	}
	notAuthorized("register com.fleet.d1.admin", c.Register("com.fleet.d1.admin", echo, nil))
	notAuthorized("register prefix com.fleet.", c.Register("com.fleet.", echo, nxwamp.Dict{"match": "prefix"}))
	if err := c.Register("com.fleet.d1.status", echo, nil); err != nil {
		t.Fatalf("register com.fleet.d1.status: %v", err)
	}
	// The call to a denied procedure is refused before anyone is asked:
	// backend (service) registers it.
	bd, bh := ticket("backend", "backend-pw")
	backend, err := wampLogin(t, wsURL(f.r), "realm1", bd, bh, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := backend.Register("com.fleet.d1.admin", echo, nil); err != nil {
		t.Fatal(err)
	}
	_, err = c.Call(callCtx(t), "com.fleet.d1.admin", nil, nil, nil, nil)
	notAuthorized("call com.fleet.d1.admin", err)
	res, err := c.Call(callCtx(t), "com.fleet.d1.status", nil, nil, nil, nil)
	if err != nil || len(res.Arguments) != 1 || res.Arguments[0] != "ok" {
		t.Fatalf("call com.fleet.d1.status: %v %v", res, err)
	}
}
