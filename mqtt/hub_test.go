package mqtt

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// recordingHub is the hub as the engine sees it: it records what it is
// handed and answers with the route and error it is told to.
type recordingHub struct {
	mu    sync.Mutex
	got   chan bridge.Publication
	route bridge.Route
	err   error
}

func (h *recordingHub) Publish(p bridge.Publication) (bridge.Route, error) {
	h.got <- p
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.route, h.err
}

func (h *recordingHub) answer(r bridge.Route, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.route, h.err = r, err
}

type nopMetrics struct{}

func (nopMetrics) Connected(string) func()     { return func() {} }
func (nopMetrics) Evicted(string)              {}
func (nopMetrics) Rejected(string)             {}
func (nopMetrics) AuthFailed(string)           {}
func (nopMetrics) Denied(string)               {}
func (nopMetrics) Ended(string, time.Duration) {}

// noRPC makes no RPC clients: the recording hub never calls.
type noRPC struct{}

func (noRPC) RPCClient(auth.Identity, bool) RPCClient { return nil }

// startEngine runs a Server with hub on a loopback listener and returns
// its address.
func startEngine(t *testing.T, hub Hub) string {
	t.Helper()
	a, err := auth.New(auth.Config{Realms: []auth.Realm{{
		Name: "realm1", AnonymousRole: "anyone",
		Roles: []auth.Role{{Name: "anyone", Permissions: []auth.Permission{{URI: "", Match: topic.MatchPrefix,
			Allow: []auth.Action{auth.ActionPublish, auth.ActionSubscribe, auth.ActionCall, auth.ActionRegister}}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{
		MaxMessageSize: 1 << 20, WriteQueue: 64, WriteBuffer: 1 << 20, WriteTimeout: 5 * time.Second,
		ConnectTimeout: 5 * time.Second, MaxSessionExpiry: time.Hour, MaxTopicAlias: 8,
		Logger: slog.New(slog.DiscardHandler), Metrics: nopMetrics{}, Authority: a, DefaultRealm: "realm1",
		Hub: hub, RPC: noRPC{},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.ServeConn(c, TransportTCP, auth.ConnInfo{Remote: c.RemoteAddr().String()})
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestEngineHandsEveryPublicationToTheHub: the engine decides nothing about
// where a publication goes. It hands the hub every authorized one, $rpc/
// and $SYS-looking topics alike, with its publisher; when the hub took it
// as a call, the publisher's PUBACK carries the hub's refusal as a reason
// code.
func TestEngineHandsEveryPublicationToTheHub(t *testing.T) {
	hub := &recordingHub{got: make(chan bridge.Publication, 16)}
	addr := startEngine(t, hub)
	u, _ := url.Parse("mqtt://" + addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		OnConnectionDown: func() bool { return false },
		ClientConfig:     paho.ClientConfig{ClientID: "pub1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cm.Disconnect(context.Background()) }()

	next := func() bridge.Publication {
		t.Helper()
		select {
		case p := <-hub.got:
			return p
		case <-ctx.Done():
			t.Fatal("the hub was handed nothing")
		}
		return bridge.Publication{}
	}
	for _, tc := range []struct {
		topic string
		qos   byte
	}{{"a/b", 1}, {"$rpc/com.acme.add", 1}, {"x", 0}} {
		if _, err := cm.Publish(ctx, &paho.Publish{Topic: tc.topic, QoS: tc.qos, Payload: []byte("1"),
			Properties: &paho.PublishProperties{ResponseTopic: "r/1", CorrelationData: []byte{7}}}); err != nil {
			t.Fatalf("publish %s: %v", tc.topic, err)
		}
		p := next()
		if p.MQTT == nil || p.MQTT.Topic != tc.topic || p.MQTT.QoS != tc.qos || string(p.MQTT.Payload) != "1" {
			t.Fatalf("hub got %+v, want %s at QoS %d", p.MQTT, tc.topic, tc.qos)
		}
		if p.MQTT.Publisher.ClientID != "pub1" || p.MQTT.ResponseTopic != "r/1" || len(p.MQTT.CorrelationData) != 1 {
			t.Fatalf("facts lost: publisher %+v, response topic %q, correlation %v", p.MQTT.Publisher, p.MQTT.ResponseTopic, p.MQTT.CorrelationData)
		}
		if p.Caller == nil {
			t.Fatal("no RPC caller attached with RPC on")
		}
	}

	// The hub took it as a call and refused it: 0x87 in the PUBACK.
	hub.answer(bridge.RouteRPC, bridge.ErrNotAuthorized)
	res, err := cm.Publish(ctx, &paho.Publish{Topic: "$rpc/com.acme.secret", QoS: 1, Payload: []byte("[]")})
	next()
	var reason byte
	if res != nil {
		reason = res.ReasonCode
	}
	if reason != 0x87 {
		t.Fatalf("PUBACK reason %#x (err %v), want 0x87", reason, err)
	}
}
