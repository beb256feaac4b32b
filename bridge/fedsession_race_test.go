package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/federation"
)

// sessionTestLink is a link to routers "b" and "c" that records what the
// hub sends.
type sessionTestLink struct {
	mu    sync.Mutex
	sent  []sentTo
	more  chan struct{}   // signalled on each send
	gone  map[string]bool // routers Redis says have left
	moves []string        // MoveSession's destinations
}

type sentTo struct {
	node string
	m    sessionWire
}

func (l *sessionTestLink) AddRoute(federation.Route)      {}
func (l *sessionTestLink) RemoveRoute(federation.Route)   {}
func (l *sessionTestLink) Publish(federation.Message) int { return 0 }
func (l *sessionTestLink) Retain(string, []byte)          {}
func (l *sessionTestLink) ID() string                     { return "a" }
func (l *sessionTestLink) Nodes() []string                { return []string{"b", "c"} }
func (l *sessionTestLink) IsLive(string) bool             { return true }
func (l *sessionTestLink) NodeAlive(_ context.Context, node string) (bool, error) {
	return !l.gone[node], nil
}
func (l *sessionTestLink) HasRoute(string, federation.Route) bool { return false }
func (l *sessionTestLink) RouteVersion(string) int64              { return 0 }
func (l *sessionTestLink) RoutesWritten(context.Context) (int64, error) {
	return 0, nil
}
func (l *sessionTestLink) ClaimSession(context.Context, string) (string, string, error) {
	return "", "", nil
}
func (l *sessionTestLink) MoveSession(_ context.Context, _, to string) (bool, string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.moves = append(l.moves, to)
	return true, to, nil
}

func (l *sessionTestLink) SendTo(node string, body []byte, _ bool) bool {
	m, err := decodeSessionWire(body)
	if err != nil {
		panic(err)
	}
	l.mu.Lock()
	l.sent = append(l.sent, sentTo{node, m})
	l.mu.Unlock()
	select {
	case l.more <- struct{}{}:
	default:
	}
	return true
}

// waitSent waits until a message to node satisfies ok.
func (l *sessionTestLink) waitSent(t *testing.T, node, what string, ok func(sessionWire) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		l.mu.Lock()
		for _, s := range l.sent {
			if s.node == node && ok(s.m) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		select {
		case <-l.more: // buffered: a send after the look above is not missed
		case <-deadline:
			t.Fatalf("never sent to %s: %s", node, what)
		}
	}
}

// gatedSessions is an MQTT engine's session store, as mqtt.Server keeps
// it: an exported session stays, forwarding, until it ends or comes back.
// Its first export waits at a gate after it started and before it looks
// the session up, where mochi's export may be overtaken.
type gatedSessions struct {
	mu       sync.Mutex
	sessions map[string]MQTTSession
	moved    map[string]bool
	entered  chan struct{} // closed when the first export is at the gate
	gate     chan struct{}
	imported chan struct{} // closed at the first import
	once     sync.Once
}

func (g *gatedSessions) ExportSession(id string, clean bool) (MQTTSession, bool) {
	first := false
	g.once.Do(func() { first = true })
	if first && g.entered != nil {
		close(g.entered)
		<-g.gate
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[id]
	if !ok || g.moved[id] || clean {
		return MQTTSession{}, false
	}
	g.moved[id] = true
	return s, true
}

func (g *gatedSessions) EndForwarding(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.moved[id] {
		delete(g.moved, id)
		delete(g.sessions, id)
	}
}

func (g *gatedSessions) ImportSession(s MQTTSession) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.imported != nil && len(g.sessions) == 0 && len(g.moved) == 0 {
		defer close(g.imported)
	}
	delete(g.moved, s.ClientID) // an export still forwarding is taken over
	g.sessions[s.ClientID] = s
}

func (g *gatedSessions) DeliverSession(id string, _ MQTTInflight) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.sessions[id]; !ok {
		return errors.New("no session")
	}
	return nil
}

func (g *gatedSessions) PersistentSessions() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ids []string
	for id := range g.sessions {
		if !g.moved[id] {
			ids = append(ids, id)
		}
	}
	return ids
}

func (g *gatedSessions) forwarding(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.moved[id]
}

// TestSessionArrivingDuringAnExport: router b asks this router for a
// session that router c (draining) is handing here at the same moment.
// Whichever comes first, the session ends up with b, and what still reaches
// it here is forwarded to b. Before exports and imports were serialized,
// the import could land between the export's record and the engine's
// export: the engine exported the session just imported, the import then
// cleared the export's record, and every message for the session here was
// dropped ("message for a moved MQTT session not forwarded", router "";
// TestSessionsAcrossRouterProcesses/rolling_restart lost messages in CI).
func TestSessionArrivingDuringAnExport(t *testing.T) {
	h := testHub(t, 0)
	link := &sessionTestLink{more: make(chan struct{}, 1)}
	h.ConnectFederation(link)
	ms := &gatedSessions{sessions: map[string]MQTTSession{}, moved: map[string]bool{},
		entered: make(chan struct{}), gate: make(chan struct{}), imported: make(chan struct{})}
	h.ConnectSessions(ms)
	t.Cleanup(h.CloseSessions)

	h.sessionFromRouter("b", encodeSessionRequest(1, "dev", "dev", "realm1", false))
	select {
	case <-ms.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never exported")
	}
	in := MQTTSession{ClientID: "dev", Identity: auth.Identity{AuthID: "dev", Realm: "realm1"}, Version: 4,
		Subscriptions: []MQTTSubscription{{Filter: "inbox/dev/#", QoS: 1}}}
	arrived := make(chan struct{})
	go func() {
		defer close(arrived)
		h.sessionFromRouter("c", encodeSession(0, 7, &in))
	}()
	// Let the import overtake the export if it can; with the two
	// serialized it cannot, and this waits out the bound.
	select {
	case <-ms.imported:
	case <-time.After(300 * time.Millisecond):
	}
	close(ms.gate)
	<-arrived

	link.waitSent(t, "b", "the session", func(m sessionWire) bool {
		return m.op == sessionOpSession && m.req == 1 && m.session != nil && m.session.ClientID == "dev"
	})
	h.sess.mu.Lock()
	waiting := len(h.sess.arrived)
	h.sess.mu.Unlock()
	if waiting != 0 {
		t.Errorf("%d client ids still have requests waiting for their arrival", waiting)
	}
	if !ms.forwarding("dev") {
		t.Fatal("the engine does not forward the exported session")
	}
	h.ForwardMQTTSession("dev", MQTTInflight{Message: MQTTMessage{Topic: "inbox/dev/m", QoS: 1,
		MQTTPayload: MQTTPayload{Payload: []byte("after")}}})
	link.waitSent(t, "b", "the message that reached the exported session", func(m sessionWire) bool {
		return m.op == sessionOpForward && m.clientID == "dev" && string(m.inflight.Message.Payload) == "after"
	})
}

// TestHandOverSkipsARouterThatLeft: a draining router hands its sessions
// only to routers Redis says are alive now. Its own view, as of its last
// heartbeat, can still list a router that left a moment before (in a
// rolling restart, the one restarted just before); a session handed there
// was lost, and its client found no session on its next router (CI,
// TestSessionsAcrossRouterProcesses/single/rolling_restart: "session
// present false").
func TestHandOverSkipsARouterThatLeft(t *testing.T) {
	h := testHub(t, 0)
	h.sess.forwardMax = 50 * time.Millisecond // no barrier is answered here
	link := &sessionTestLink{more: make(chan struct{}, 1), gone: map[string]bool{"b": true}}
	h.ConnectFederation(link)
	ms := &gatedSessions{sessions: map[string]MQTTSession{}, moved: map[string]bool{}}
	for i := range 10 {
		id := fmt.Sprintf("dev-%d", i)
		ms.sessions[id] = MQTTSession{ClientID: id, Version: 4, Subscriptions: []MQTTSubscription{{Filter: "inbox/" + id, QoS: 1}}}
	}
	h.ConnectSessions(ms)
	t.Cleanup(h.CloseSessions)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h.HandOverMQTTSessions(ctx)

	link.mu.Lock()
	defer link.mu.Unlock()
	if len(link.moves) != 10 {
		t.Fatalf("%d sessions moved in Redis, want 10", len(link.moves))
	}
	for _, to := range link.moves {
		if to != "c" {
			t.Fatalf("a session's ownership moved to %q, a router that left", to)
		}
	}
	for _, s := range link.sent {
		if s.m.op == sessionOpSession && s.node != "c" {
			t.Fatalf("session %s sent to %s, a router that left", s.m.session.ClientID, s.node)
		}
	}
}
