package mqtt

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	mochiauth "github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/bridge"
)

// recordingSharer serves every group here and records what is handed on.
type recordingSharer struct {
	mu   sync.Mutex
	left []string // group|client|topic|payload
}

func (*recordingSharer) ShareMQTT(bridge.MQTTMessage) *bridge.Shares { return nil }

func (s *recordingSharer) ShareLeft(group, clientID string, m bridge.MQTTMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.left = append(s.left, group+"|"+clientID+"|"+m.Topic+"|"+string(m.Payload))
}

func (s *recordingSharer) handedOn() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.left...)
}

// leaveAfterPick runs after the share hook has picked a member: in the
// instant between the pick and mochi's delivery it ends that member's
// connection and runs the share hook's OnDisconnect as the member's own
// goroutine would (and, if gone, removes it from the server), the window
// in which a publisher and a leaving member used to lose a message
// between them.
type leaveAfterPick struct {
	mochi.HookBase
	srv   *mochi.Server
	share *shareHook
	gone  bool
}

func (h *leaveAfterPick) ID() string           { return "leave-after-pick" }
func (h *leaveAfterPick) Provides(b byte) bool { return b == mochi.OnSelectSubscribers }

func (h *leaveAfterPick) OnSelectSubscribers(subs *mochi.Subscribers, _ packets.Packet) *mochi.Subscribers {
	for id := range subs.SharedSelected {
		if cl, ok := h.srv.Clients.Get(id); ok {
			cl.Stop(errors.New("left"))
			h.share.OnDisconnect(cl, nil, !persistent(cl))
			if h.gone {
				h.srv.Clients.Delete(id)
			}
		}
	}
	return subs
}

const testGroup = "$share/g/t/#"

// shareServer is a mochi server with the share hook, a second hook that
// makes the picked member leave, and one member m-a of testGroup.
func shareServer(t *testing.T, persistentMember, gone bool) (*mochi.Server, *shareHook, *recordingSharer, *mochi.Client) {
	t.Helper()
	srv := mochi.New(&mochi.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	rec := &recordingSharer{}
	sh := &shareHook{sharer: rec, server: srv}
	for _, h := range []mochi.Hook{new(mochiauth.AllowHook), sh, &leaveAfterPick{srv: srv, share: sh, gone: gone}} {
		if err := srv.AddHook(h, nil); err != nil {
			t.Fatal(err)
		}
	}
	c1, c2 := net.Pipe()
	t.Cleanup(func() { c1.Close(); c2.Close() })
	cl := srv.NewClient(c1, "tcp", "m-a", false)
	cl.Properties.ProtocolVersion = 4
	cl.Properties.Clean = !persistentMember
	sub := packets.Subscription{Filter: testGroup, Qos: 1}
	cl.State.Subscriptions.Add(testGroup, sub)
	srv.Topics.Subscribe(cl.ID, sub)
	srv.Clients.Add(cl)
	return srv, sh, rec, cl
}

// A message picked for a member whose connection ends (and whose session
// is handed on) before mochi stores it goes to another member, once; a
// persistent member keeps it for its return.
func TestSharedMemberLeavingAsPicked(t *testing.T) {
	for _, tc := range []struct {
		name                     string
		persistent, gone         bool
		disconnectBeforeDelivery bool
		wantHanded               int
		wantKept                 int
	}{
		{name: "clean member closed after the pick", wantHanded: 1},
		{name: "clean member gone from the server after the pick", gone: true, wantHanded: 1},
		{name: "persistent member keeps it for its return", persistent: true, wantKept: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _, rec, cl := shareServer(t, tc.persistent, tc.gone)
			if err := srv.Publish("t/1", []byte("m1"), false, 1); err != nil {
				t.Fatal(err)
			}
			got := rec.handedOn()
			if len(got) != tc.wantHanded {
				t.Fatalf("handed on %d times (%v), want %d", len(got), got, tc.wantHanded)
			}
			if tc.wantHanded > 0 && got[0] != testGroup+"|m-a|t/1|m1" && got[0] != testGroup+"||t/1|m1" {
				t.Errorf("handed on %q", got[0])
			}
			if n := cl.State.Inflight.Len(); n != tc.wantKept {
				t.Errorf("member's inflight holds %d, want %d", n, tc.wantKept)
			}
		})
	}
}

// The member's disconnect and the publisher's report of an undelivered
// message race for the stored message: whichever deletes it hands it on.
func TestSharedHandOnOnce(t *testing.T) {
	for _, disconnectFirst := range []bool{true, false} {
		srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
		rec := &recordingSharer{}
		sh := &shareHook{sharer: rec, server: srv}
		cl := srv.NewClient(nil, "tcp", "m-a", false)
		cl.Properties.ProtocolVersion = 4
		cl.Properties.Clean = true
		cl.State.Subscriptions.Add(testGroup, packets.Subscription{Filter: testGroup, Qos: 1})
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/2", PacketID: 7, Payload: []byte("m2")}
		cl.State.Inflight.Set(pk)
		sel := packets.Subscription{Filter: testGroup, Qos: 1, ShareName: []string{testGroup}}
		if disconnectFirst {
			sh.OnDisconnect(cl, nil, true)
			sh.OnSharedUndelivered(cl, sel, pk)
		} else {
			sh.OnSharedUndelivered(cl, sel, pk)
			sh.OnDisconnect(cl, nil, true)
		}
		if got := rec.handedOn(); len(got) != 1 || got[0] != testGroup+"|m-a|t/2|m2" {
			t.Errorf("disconnect first %v: handed on %v, want once", disconnectFirst, got)
		}
	}
}

// A message stored for a clean member after its OnDisconnect hook collected
// the store, and deleted by mochi at the session's end (ClearInflights)
// before the publisher reported it undelivered, is handed on once, by the
// end. (Lost in a CI run of TestFederationSharedSubscriptions before.)
func TestSharedHandOnClearedAtSessionEnd(t *testing.T) {
	for _, tc := range []struct {
		name       string
		clean      bool
		expired    bool
		wantHanded []string
	}{
		{name: "clean session", clean: true, wantHanded: []string{testGroup + "|m-a|t/3|m3"}},
		{name: "expired message", clean: true, expired: true},
		{name: "persistent session keeps it", clean: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
			rec := &recordingSharer{}
			sh := &shareHook{sharer: rec, server: srv}
			if err := srv.AddHook(sh, nil); err != nil {
				t.Fatal(err)
			}
			c1, c2 := net.Pipe()
			t.Cleanup(func() { c1.Close(); c2.Close() })
			cl := srv.NewClient(c1, "tcp", "m-a", false)
			cl.Properties.ProtocolVersion = 5
			if !tc.clean {
				cl.Properties.Props.SessionExpiryInterval = 60
			}
			cl.State.Subscriptions.Add(testGroup, packets.Subscription{Filter: testGroup, Qos: 1})
			cl.Stop(errors.New("cut"))
			sh.OnDisconnect(cl, nil, tc.clean) // the store is empty yet

			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "t/3", PacketID: 9, Payload: []byte("m3"), ProtocolVersion: 5}
			if tc.expired {
				pk.Expiry = time.Now().Unix() - 10
			}
			cl.State.Inflight.Set(pk) // the publisher stores it
			cl.ClearInflights()       // mochi ends the session
			sel := packets.Subscription{Filter: testGroup, Qos: 1, ShareName: []string{testGroup}}
			sh.OnSharedUndelivered(cl, sel, pk) // the publisher finds it closed

			if got := rec.handedOn(); !slices.Equal(got, tc.wantHanded) {
				t.Errorf("handed on %q, want %q", got, tc.wantHanded)
			}
		})
	}
}

// scopingSharer picks this router for testGroup (as the hub does when the
// router still had members of it) and records what is handed on.
type scopingSharer struct{ recordingSharer }

func (*scopingSharer) ShareMQTT(bridge.MQTTMessage) *bridge.Shares {
	return bridge.NewShares(testGroup)
}

// A publication the hub gave this router to serve a group for, when the
// group's last member here has left before mochi looked up subscribers,
// goes to another member (mochi patch 22); one that a member here serves
// is not handed on.
func TestSharedGroupEmptiedAfterTheHubPicked(t *testing.T) {
	for _, tc := range []struct {
		name       string
		member     bool
		wantHanded []string
	}{
		{name: "no member left here", wantHanded: []string{testGroup + "||t/4|m4"}},
		{name: "a member here serves it", member: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
			rec := &scopingSharer{}
			sh := &shareHook{sharer: rec, server: srv, auth: &authHook{}, scoped: true}
			for _, h := range []mochi.Hook{new(mochiauth.AllowHook), sh} {
				if err := srv.AddHook(h, nil); err != nil {
					t.Fatal(err)
				}
			}
			newClient := func(id string) *mochi.Client {
				c1, c2 := net.Pipe()
				t.Cleanup(func() { c1.Close(); c2.Close() })
				go func() { _, _ = io.Copy(io.Discard, c2) }()
				cl := srv.NewClient(c1, "tcp", id, false)
				cl.Properties.ProtocolVersion = 5
				cl.State.Inflight.ResetReceiveQuota(10) // as CONNECT would
				srv.Clients.Add(cl)
				return cl
			}
			if tc.member {
				sub := packets.Subscription{Filter: testGroup}
				m := newClient("m-a")
				m.State.Subscriptions.Add(testGroup, sub)
				srv.Topics.Subscribe(m.ID, sub)
			}
			pub := newClient("pub")
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "t/4", Payload: []byte("m4")}
			if err := srv.InjectPacket(pub, pk); err != nil {
				t.Fatal(err)
			}
			if got := rec.handedOn(); !slices.Equal(got, tc.wantHanded) {
				t.Errorf("handed on %q, want %q", got, tc.wantHanded)
			}
		})
	}
}

// A connection that takes a member's client id over with clean start ends
// the member's session: what the session held unacknowledged goes to
// another member of the group (MQTT 5, 4.8.2), once. mochi drops the
// session's subscriptions and store in the takeover and marks it taken
// over, so before, these messages were lost. A connection that continues
// the session (clean start off, a persistent session) gets them itself.
func TestSharedSessionEndedByCleanTakeover(t *testing.T) {
	for _, tc := range []struct {
		name             string
		oldPersistent    bool
		newClean         bool
		wantHanded       []string
		wantNewInflights int
	}{
		{name: "clean member, clean start", newClean: true, wantHanded: []string{testGroup + "|m-a|t/5|m5"}},
		{name: "clean 3.1.1 member, session not continued", newClean: false, wantHanded: []string{testGroup + "|m-a|t/5|m5"}},
		{name: "persistent member, clean start", oldPersistent: true, newClean: true, wantHanded: []string{testGroup + "|m-a|t/5|m5"}},
		{name: "persistent member, session continued", oldPersistent: true, newClean: false, wantNewInflights: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := mochi.New(&mochi.Options{Logger: slog.New(slog.DiscardHandler)})
			rec := &recordingSharer{}
			sh := &shareHook{sharer: rec, server: srv, auth: &authHook{}}
			for _, h := range []mochi.Hook{new(mochiauth.AllowHook), sh} {
				if err := srv.AddHook(h, nil); err != nil {
					t.Fatal(err)
				}
			}
			c1, c2 := net.Pipe()
			t.Cleanup(func() { c1.Close(); c2.Close() })
			old := srv.NewClient(c1, "tcp", "m-a", false)
			old.Properties.ProtocolVersion = 4 // mochi sends a 3.1.1 client no DISCONNECT: nothing reads c2
			old.Properties.Clean = !tc.oldPersistent
			sub := packets.Subscription{Filter: testGroup, Qos: 1}
			old.State.Subscriptions.Add(testGroup, sub)
			srv.Topics.Subscribe(old.ID, sub)
			srv.Clients.Add(old)
			old.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
				TopicName: "t/5", PacketID: 3, Payload: []byte("m5"), ProtocolVersion: 4}) // sent, not acknowledged

			s1, s2 := net.Pipe()
			t.Cleanup(func() { s1.Close(); s2.Close() })
			go func() { _ = srv.EstablishConnection("tcp", s1) }()
			var connect bytes.Buffer
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
				Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: tc.newClean, ClientIdentifier: "m-a", Keepalive: 60}}
			if err := pk.ConnectEncode(&connect); err != nil {
				t.Fatal(err)
			}
			_ = s2.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := s2.Write(connect.Bytes()); err != nil {
				t.Fatal(err)
			}
			connack := make([]byte, 4)
			if _, err := io.ReadFull(s2, connack); err != nil || connack[0] != 0x20 || connack[3] != 0 {
				t.Fatalf("CONNACK %x, %v", connack, err)
			}

			if got := rec.handedOn(); !slices.Equal(got, tc.wantHanded) {
				t.Errorf("handed on %q, want %q", got, tc.wantHanded)
			}
			cl, ok := srv.Clients.Get("m-a")
			if !ok || cl == old {
				t.Fatal("the new connection does not hold the client id")
			}
			if n := cl.State.Inflight.Len(); n != tc.wantNewInflights {
				t.Errorf("the new connection's session holds %d messages, want %d", n, tc.wantNewInflights)
			}
			// Forgotten once the new connection is established (its hook
			// runs after CONNACK is written).
			for deadline := time.Now().Add(5 * time.Second); ; {
				sh.mu.Lock()
				left := len(sh.discarded)
				sh.mu.Unlock()
				if left == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d discarded sessions still remembered after the takeover", left)
				}
				runtime.Gosched()
			}
		})
	}
}
