package wamp

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

type recordingHub struct{ got chan bridge.Publication }

func (h recordingHub) Publish(p bridge.Publication) (bridge.Route, error) {
	h.got <- p
	return 0, nil
}

// TestEngineHandsEveryPublicationToTheHub: the WAMP side hands the hub
// every authorized PUBLISH of every realm, with the facts the hub routes by
// (its realm, options addressing chosen sessions, payload passthru); it
// decides nothing about where it goes, and hands over nothing refused.
func TestEngineHandsEveryPublicationToTheHub(t *testing.T) {
	perm := func(uri string) auth.Permission {
		return auth.Permission{URI: uri, Match: topic.MatchPrefix, Allow: []auth.Action{auth.ActionPublish}}
	}
	a, err := auth.New(auth.Config{Realms: []auth.Realm{
		{Name: "realm1", AnonymousRole: "anyone", Roles: []auth.Role{{Name: "anyone", Permissions: []auth.Permission{perm("a.")}}}},
		{Name: "realm2", AnonymousRole: "anyone", Roles: []auth.Role{{Name: "anyone", Permissions: []auth.Permission{perm("")}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	hub := recordingHub{got: make(chan bridge.Publication, 16)}
	s, err := New(Config{
		Realms: []Realm{{Name: "realm1"}, {Name: "realm2"}}, MaxMessageSize: 1 << 20, QueueSize: 64,
		WriteTimeout: 5 * time.Second, ConnectTimeout: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler), Metrics: nopMetrics{}, Authority: a, Hub: hub,
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
			go func() { defer wg.Done(); s.ServeRawSocket(c, auth.ConnInfo{Remote: c.RemoteAddr().String()}) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); s.Close(); wg.Wait() })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	join := func(realm string) *client.Client {
		c, err := client.ConnectNet(ctx, "tcp://"+ln.Addr().String(), client.Config{Realm: realm, Logger: nexusLogger{slog.New(slog.DiscardHandler)}})
		if err != nil {
			t.Fatalf("join %s: %v", realm, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	c1, c2 := join("realm1"), join("realm2")
	ack := nxwamp.Dict{nxwamp.OptAcknowledge: true}
	with := func(k string, v any) nxwamp.Dict { return nxwamp.Dict{nxwamp.OptAcknowledge: true, k: v} }

	tests := []struct {
		name string
		c    *client.Client
		uri  string
		opts nxwamp.Dict
		want bridge.Publication
	}{
		{"bridged realm", c1, "a.b", ack, bridge.Publication{Realm: "realm1"}},
		{"retained", c1, "a.r", with("retain", true), bridge.Publication{Realm: "realm1"}},
		{"another realm", c2, "x.y", ack, bridge.Publication{Realm: "realm2"}},
		{"to chosen sessions", c1, "a.c", with("eligible", nxwamp.List{int64(1)}), bridge.Publication{Realm: "realm1", Selective: true}},
	}
	for _, tc := range tests {
		if err := tc.c.Publish(tc.uri, tc.opts, nxwamp.List{int64(1)}, nil); err != nil {
			t.Fatalf("%s: publish: %v", tc.name, err)
		}
		select {
		case p := <-hub.got:
			if p.WAMP == nil || p.WAMP.URI != tc.uri || p.Realm != tc.want.Realm || p.Selective != tc.want.Selective || p.Passthru {
				t.Fatalf("%s: hub got %+v (message %+v)", tc.name, p, p.WAMP)
			}
			if !p.WAMP.Acknowledge || p.WAMP.Retain != (tc.name == "retained") {
				t.Fatalf("%s: acknowledge %v retain %v", tc.name, p.WAMP.Acknowledge, p.WAMP.Retain)
			}
		case <-ctx.Done():
			t.Fatalf("%s: the hub was handed nothing", tc.name)
		}
	}
	// Refused by the authorizer: the hub never sees it.
	if err := c1.Publish("z.secret", ack, nil, nil); err == nil {
		t.Fatal("publish to z.secret allowed")
	}
	select {
	case p := <-hub.got:
		t.Fatalf("hub was handed a refused publication: %+v", p.WAMP)
	default:
	}
}
