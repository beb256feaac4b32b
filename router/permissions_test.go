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
)

// permissionRows is one permission table for both protocols: each row is
// tried by a WAMP client and by MQTT 5 and 3.1.1 clients of the same
// identity, in the equivalent form (MQTT a/+/c is WAMP wildcard a..c), and
// all must agree. Roles are the fixture's (secure_test.go). Calls and
// registrations are WAMP-only until MQTT clients get RPC.
var permissionRows = []struct {
	who, action string
	mqtt        string // topic or filter; "" when MQTT has no form for it yet
	uri, match  string
	allowed     bool
}{
	{"sensor-1", "publish", "devices/sensor-1/temp", "devices.sensor-1.temp", "exact", true},
	{"sensor-1", "publish", "devices/sensor-9/temp", "devices.sensor-9.temp", "exact", false},
	{"sensor-1", "publish", "public/chat", "public.chat", "exact", false},
	{"alice", "publish", "devices/sensor-1/temp", "devices.sensor-1.temp", "exact", false},
	{"alice", "publish", "devices/sensor-1/cmd", "devices.sensor-1.cmd", "exact", true},
	{"alice", "publish", "public/chat", "public.chat", "exact", true},
	{"guest", "publish", "public/chat", "public.chat", "exact", false},
	{"backend", "publish", "any/where/at/all", "any.where.at.all", "exact", true},

	{"guest", "subscribe", "public/news", "public.news", "exact", true},
	{"guest", "subscribe", "public/+", "public.", "wildcard", true},
	{"guest", "subscribe", "devices/+/temp", "devices..temp", "wildcard", false},
	{"sensor-1", "subscribe", "devices/sensor-1/+", "devices.sensor-1.", "wildcard", true},
	{"sensor-1", "subscribe", "devices/sensor-1/cmd", "devices.sensor-1.cmd", "exact", true},
	{"sensor-1", "subscribe", "devices/+/temp", "devices..temp", "wildcard", false},
	{"sensor-1", "subscribe", "devices/sensor-9/cmd", "devices.sensor-9.cmd", "exact", false},
	{"alice", "subscribe", "devices/+/temp", "devices..temp", "wildcard", true},
	{"alice", "subscribe", "#", "", "prefix", false},
	{"backend", "subscribe", "#", "", "prefix", true},

	{"sensor-1", "register", "", "com.acme.device.sensor-1.toggle", "exact", true},
	{"sensor-1", "register", "", "com.acme.device.sensor-9.toggle", "exact", false},
	{"alice", "register", "", "com.acme.x", "exact", false},
	{"alice", "call", "", "com.acme.device.sensor-1.toggle", "exact", true},
	{"guest", "call", "", "com.acme.device.sensor-1.toggle", "exact", false},
	{"sensor-1", "call", "", "com.acme.device.sensor-1.toggle", "exact", false},
}

var fixturePasswords = map[string]string{"sensor-1": "sensor-1-pw", "alice": "alice-pw", "backend": "backend-pw"}

// markerTopics are topics each identity may publish to, for markers.
var markerTopics = map[string]string{
	"guest": "public/guestbook", "sensor-1": "devices/sensor-1/marker", "alice": "public/marker", "backend": "marker/backend",
}

func TestPermissionTableAgreesAcrossProtocols(t *testing.T) {
	// The bridge is off: each protocol's refusals are checked on their own
	// here (TestBridgeAuthorization covers them across the bridge).
	f := newSecureFixture(t, func(c *Config, _ *secureFixture) { c.Bridge.Enabled = false })
	ctx := func() context.Context {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		t.Cleanup(cancel)
		return c
	}

	// Watchers see everything published in each protocol, to prove that
	// refused publishes reach no one.
	_, mqttWatch := mqttLogin(t, "mqtt://"+mqttAddr(f.r), "watch", "backend", "backend-pw", nil)
	mqttWatch.subscribe(t, "#", 1)
	dets, h := ticket("backend", "backend-pw")
	wampWatch, err := wampLogin(t, wsURL(f.r), "realm1", dets, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	wampEvents := make(chan *nxwamp.Event, 100)
	if err := wampWatch.SubscribeChan("", wampEvents, nxwamp.Dict{"match": "prefix"}); err != nil {
		t.Fatal(err)
	}
	marker := 0
	// mqttDelivered reports whether topic reached the watcher before a marker
	// that the same client publishes right after it. The marker must come
	// from the same client: mochi acknowledges a QoS 1 publish before it fans
	// it out, so another client's marker could overtake it, while one
	// connection's publishes are fanned out in order.
	mqttDelivered := func(publish func(topic, payload string), who, topic string) bool {
		marker++
		payload := fmt.Sprintf("marker-%d", marker)
		publish(markerTopics[who], payload)
		seen := false
		for {
			got := recv(t, mqttWatch.msgs, 5*time.Second, "MQTT watcher")
			if got.Topic == markerTopics[who] && string(got.Payload) == payload {
				return seen
			}
			seen = seen || got.Topic == topic
		}
	}
	// WAMP needs no such care: one broker goroutine handles the realm's
	// publications in order.
	wampDelivered := func(uri string) bool {
		marker++
		m := fmt.Sprintf("marker.%d", marker)
		if err := wampWatch.Publish(m, nxwamp.Dict{"acknowledge": true, "exclude_me": false}, nil, nil); err != nil {
			t.Fatal(err)
		}
		seen := false
		for {
			ev := recv(t, wampEvents, 5*time.Second, "WAMP watcher")
			topic, _ := nxwamp.AsString(ev.Details["topic"])
			if topic == m {
				return seen
			}
			seen = seen || topic == uri
		}
	}

	wampClients := map[string]*client.Client{}
	v5Clients := map[string]*v5Client{}
	v3Clients := map[string]mqtt3.Client{}
	for _, who := range []string{"guest", "sensor-1", "alice", "backend"} {
		var d nxwamp.Dict
		var handlers map[string]client.AuthFunc
		if who != "guest" {
			d, handlers = ticket(who, fixturePasswords[who])
		}
		c, err := wampLogin(t, wsURL(f.r), "realm1", d, handlers, nil)
		if err != nil {
			t.Fatalf("%s: WAMP login: %v", who, err)
		}
		wampClients[who] = c
		user, pw := who, fixturePasswords[who]
		if who == "guest" {
			user = ""
		}
		code, c5 := mqttLogin(t, "mqtt://"+mqttAddr(f.r), who+"-v5", user, pw, nil)
		if code != 0 {
			t.Fatalf("%s: MQTT 5 login: %#x", who, code)
		}
		v5Clients[who] = c5
		v3Clients[who] = connectV3(t, "tcp://"+mqttAddr(f.r), who+"-v3", func(o *mqtt3.ClientOptions) {
			if user != "" {
				o.SetUsername(user).SetPassword(pw)
			}
		})
	}

	for _, row := range permissionRows {
		name := fmt.Sprintf("%s %s %s(%s)", row.who, row.action, row.uri, row.match)
		t.Run(name, func(t *testing.T) {
			// WAMP.
			w := wampClients[row.who]
			var werr error
			switch row.action {
			case "publish":
				werr = w.Publish(row.uri, nxwamp.Dict{"acknowledge": true}, nxwamp.List{"x"}, nil)
				if got := wampDelivered(row.uri); got != row.allowed {
					t.Errorf("WAMP: publication delivered = %v, want %v", got, row.allowed)
				}
			case "subscribe":
				werr = w.Subscribe(row.uri, func(*nxwamp.Event) {}, nxwamp.Dict{"match": row.match})
				if werr == nil {
					_ = w.Unsubscribe(row.uri)
				}
			case "register":
				werr = w.Register(row.uri, func(context.Context, *nxwamp.Invocation) client.InvokeResult { return client.InvokeResult{} }, nxwamp.Dict{"match": row.match})
				if werr == nil {
					_ = w.Unregister(row.uri)
				}
			case "call":
				_, werr = w.Call(ctx(), row.uri, nil, nil, nil, nil)
				if rpcErrorURI(werr) == nxwamp.ErrNoSuchProcedure {
					werr = nil // allowed, only nobody serves it
				}
			}
			wampDenied := werr != nil && strings.Contains(werr.Error(), string(nxwamp.ErrNotAuthorized))
			if werr != nil && !wampDenied {
				t.Fatalf("WAMP: unexpected error %v", werr)
			}
			if wampDenied == row.allowed {
				t.Errorf("WAMP: allowed = %v, want %v (%v)", !wampDenied, row.allowed, werr)
			}
			if row.mqtt == "" {
				return
			}

			// MQTT 5.
			c5 := v5Clients[row.who]
			switch row.action {
			case "publish":
				resp, err := c5.cm.Publish(ctx(), &paho.Publish{Topic: row.mqtt, QoS: 1, Payload: []byte("x")})
				if err != nil && resp == nil {
					t.Fatalf("MQTT 5 publish: %v", err)
				}
				if want := map[bool]byte{true: 0, false: 0x87}[row.allowed]; resp.ReasonCode != want {
					t.Errorf("MQTT 5: PUBACK %#x, want %#x", resp.ReasonCode, want)
				}
				pub5 := func(topic, payload string) {
					if r, err := c5.cm.Publish(ctx(), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)}); err != nil || r.ReasonCode != 0 {
						t.Fatalf("MQTT 5 marker: %v %+v", err, r)
					}
				}
				if got := mqttDelivered(pub5, row.who, row.mqtt); got != row.allowed {
					t.Errorf("MQTT 5: publication delivered = %v, want %v", got, row.allowed)
				}
			case "subscribe":
				ack, err := c5.cm.Subscribe(ctx(), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: row.mqtt, QoS: 1}}})
				if err != nil && ack == nil {
					t.Fatalf("MQTT 5 subscribe: %v", err)
				}
				if want := map[bool]byte{true: 1, false: 0x87}[row.allowed]; ack.Reasons[0] != want {
					t.Errorf("MQTT 5: SUBACK %#x, want %#x", ack.Reasons[0], want)
				}
				_, _ = c5.cm.Unsubscribe(ctx(), &paho.Unsubscribe{Topics: []string{row.mqtt}})
			}

			// MQTT 3.1.1.
			c3 := v3Clients[row.who]
			switch row.action {
			case "publish":
				// Acknowledged either way (mochi would disconnect a refused
				// 3.1.1 publisher); delivered only when allowed.
				waitToken(t, c3.Publish(row.mqtt, 1, false, "x"), "MQTT 3.1.1 publish")
				pub3 := func(topic, payload string) { waitToken(t, c3.Publish(topic, 1, false, payload), "MQTT 3.1.1 marker") }
				if got := mqttDelivered(pub3, row.who, row.mqtt); got != row.allowed {
					t.Errorf("MQTT 3.1.1: publication delivered = %v, want %v", got, row.allowed)
				}
			case "subscribe":
				tok := c3.Subscribe(row.mqtt, 1, func(mqtt3.Client, mqtt3.Message) {})
				waitToken(t, tok, "MQTT 3.1.1 subscribe")
				granted := tok.(*mqtt3.SubscribeToken).Result()[row.mqtt]
				if want := map[bool]byte{true: 1, false: 0x80}[row.allowed]; granted != want {
					t.Errorf("MQTT 3.1.1: SUBACK %#x, want %#x", granted, want)
				}
				waitToken(t, c3.Unsubscribe(row.mqtt), "MQTT 3.1.1 unsubscribe")
			}
		})
	}
}
