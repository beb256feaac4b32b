package router

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"
)

func TestMetricsCountConnectionsAndTraffic(t *testing.T) {
	r := startRouter(t, nil)
	sub := connectV5(t, wsURL(r), "m-sub", nil)
	pub := connectV5(t, "mqtt://"+mqttAddr(r), "m-pub", nil)
	w1 := connectWAMP(t, wsURL(r), serialize.JSON)
	w2 := connectWAMP(t, "tcp://"+httpAddr(r), serialize.MSGPACK)

	for sample, want := range map[string]float64{
		`junction_connections{protocol="mqtt",transport="websocket"}`: 1,
		`junction_connections{protocol="mqtt",transport="tcp"}`:       1,
		`junction_connections{protocol="wamp",transport="websocket"}`: 1,
		`junction_connections{protocol="wamp",transport="rawsocket"}`: 1,
	} {
		if got := metricValue(t, r, sample); got != want {
			t.Errorf("%s = %v, want %v", sample, got, want)
		}
	}

	sub.subscribe(t, "m/t", 1)
	for range 5 {
		pub.publish(t, &paho.Publish{Topic: "m/t", QoS: 1, Payload: []byte("x")})
		recv(t, sub.msgs, 5*time.Second, "message")
	}
	events := make(chan *nxwamp.Event, 5)
	if err := w1.SubscribeChan("com.m", events, nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := w2.Publish("com.m", nxwamp.Dict{"acknowledge": true}, nxwamp.List{1}, nil); err != nil {
			t.Fatal(err)
		}
		recv(t, events, 5*time.Second, "event")
	}
	if got := metricValue(t, r, `junction_messages_received_total{protocol="mqtt"}`); got < 5 {
		t.Errorf("mqtt messages received = %v, want ≥ 5", got)
	}
	if got := metricValue(t, r, `junction_messages_sent_total{protocol="mqtt"}`); got < 5 {
		t.Errorf("mqtt messages sent = %v, want ≥ 5", got)
	}
	// WAMP counts every protocol message: HELLO, SUBSCRIBE, 5 PUBLISH ... in;
	// WELCOME, SUBSCRIBED, 5 PUBLISHED, 5 EVENT ... out.
	if got := metricValue(t, r, `junction_messages_received_total{protocol="wamp"}`); got < 8 {
		t.Errorf("wamp messages received = %v, want ≥ 8", got)
	}
	if got := metricValue(t, r, `junction_messages_sent_total{protocol="wamp"}`); got < 12 {
		t.Errorf("wamp messages sent = %v, want ≥ 12", got)
	}
	if got := metricValue(t, r, `junction_received_bytes_total{protocol="wamp"}`); got <= 0 {
		t.Errorf("wamp bytes received = %v", got)
	}
	if got := metricValue(t, r, `junction_mqtt_subscriptions`); got < 1 {
		t.Errorf("mqtt subscriptions = %v", got)
	}

	resp, err := http.Get("http://" + httpAddr(r) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, body)
	}
}

func TestWAMPKeepaliveDropsSilentClients(t *testing.T) {
	r := startRouter(t, func(c *Config) {
		c.WAMP.PingInterval = Duration(100 * time.Millisecond)
		c.Limits.WriteTimeout = Duration(100 * time.Millisecond)
	})
	// A live client answers pings (the nexus client reads all the time) and
	// stays well past the idle limit of 2 intervals + write timeout.
	live := connectWAMP(t, wsURL(r), serialize.JSON)

	// A silent one never reads, so never answers a ping.
	d := websocket.Dialer{Subprotocols: []string{"wamp.2.json"}}
	ws, _, err := d.Dial(wsURL(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	silent := &rawWAMP{t: t, ws: ws}
	silent.send(`[1,"realm1",{"roles":{"subscriber":{}}}]`)
	waitFor(t, 5*time.Second, "silent WAMP client to be dropped", func() bool {
		return metricValue(t, r, `junction_connections{protocol="wamp",transport="websocket"}`) == 1
	})
	res, err := live.Call(callCtx(t), "wamp.session.count", nil, anonymousRole, nil, nil)
	if err != nil {
		t.Fatalf("live client lost: %v", err)
	}
	if n, _ := nxwamp.AsInt64(res.Arguments[0]); n != 1 {
		t.Fatalf("sessions = %v, want only the live one", res.Arguments)
	}
}
