package wamp

import (
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gammazero/nexus/v3/client"

	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/topic"
)

// chanFrames is an in-memory transport: the test writes frames into in and
// reads the router's frames from out.
type chanFrames struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
}

func newChanFrames() *chanFrames {
	return &chanFrames{in: make(chan []byte, 4), out: make(chan []byte, 64), closed: make(chan struct{})}
}

func (f *chanFrames) ReadFrame(time.Time) ([]byte, error) {
	select {
	case b := <-f.in:
		return b, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *chanFrames) WriteFrame(b []byte, _ time.Time) error {
	select {
	case f.out <- b:
		return nil
	case <-f.closed:
		return net.ErrClosed
	}
}

func (f *chanFrames) WritePing(time.Time) error { return nil }
func (f *chanFrames) Shutdown(time.Time)        { _ = f.Close() }
func (f *chanFrames) Close() error {
	select {
	case <-f.closed:
	default:
		close(f.closed)
	}
	return nil
}

type nopMetrics struct{}

func (nopMetrics) Connected(string) func()     { return func() {} }
func (nopMetrics) Received(int)                {}
func (nopMetrics) Sent(int)                    {}
func (nopMetrics) Dropped()                    {}
func (nopMetrics) Evicted()                    {}
func (nopMetrics) Rejected(string)             {}
func (nopMetrics) AuthFailed(string)           {}
func (nopMetrics) Denied(string)               {}
func (nopMetrics) Ended(string, time.Duration) {}

// openAuthority lets anyone do anything in realm1, as the default config does.
func openAuthority(tb testing.TB) *auth.Authority {
	tb.Helper()
	a, err := auth.New(auth.Config{Realms: []auth.Realm{{
		Name:          "realm1",
		AnonymousRole: "anonymous",
		Roles: []auth.Role{{Name: "anonymous", Permissions: []auth.Permission{{
			URI: "", Match: topic.MatchPrefix,
			Allow: []auth.Action{auth.ActionPublish, auth.ActionSubscribe, auth.ActionCall, auth.ActionRegister},
		}}}},
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func newTestServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(Config{
		Authority:      openAuthority(tb),
		Realms:         []Realm{{Name: "realm1"}},
		MaxMessageSize: 1 << 20,
		QueueSize:      64,
		WriteTimeout:   time.Second,
		ConnectTimeout: time.Second,
		Logger:         slog.New(slog.DiscardHandler),
		Metrics:        nopMetrics{},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

var serializers = []serialize.Serializer{
	&serialize.JSONSerializer{}, &serialize.MessagePackSerializer{}, &serialize.CBORSerializer{},
}

// FuzzGuard sends one arbitrary frame, after a proper HELLO, through the
// guarded peer into a live nexus router with pattern subscribers, then
// checks that the router still answers. A panic in any goroutine, nexus'
// included, fails the fuzz run.
func FuzzGuard(f *testing.F) {
	seeds := []string{
		`[16,1,{"acknowledge":true,"ppt_scheme":"x_a","ppt_serializer":1},"com.t",["x"]]`,
		`[16,1,{"ppt_scheme":1},"com.t"]`,
		`[48,2,{"ppt_scheme":"x_a","ppt_keyid":[]},"com.p",[1]]`,
		`[70,3,{"ppt_cipher":2}]`,
		`[8,68,3,{"ppt_scheme":{}},"wamp.error.x"]`,
		`[16]`, `[16,1,{},"com.t",[1,2],{"a":[{}]}]`, `[32,1,{"match":"wildcard"},"a..b"]`,
		`[32,1,{"match":"prefix"},""]`, `[64,1,{"invoke":"roundrobin"},"com.p"]`, `[64,1,{"invoke":"roundroZin"},"com.p"]`, `[49,1,{"mode":"kill"}]`,
		`[6,{},"wamp.close.goodbye_and_out"]`, `[1,"realm1",{}]`, `[34,1,0]`, `[66,1,99]`, `[]`, `[[[[[[[[[[1]]]]]]]]]]`,
	}
	for _, s := range seeds {
		f.Add(byte(0), []byte(s))
	}
	s := newTestServer(f)
	// Pattern subscribers, so that fuzzed publishes reach the event path.
	watcher, err := client.ConnectLocal(s.Nexus(), client.Config{Realm: "realm1", Logger: nexusLogger{slog.New(slog.DiscardHandler)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = watcher.Close() })
	for _, sub := range []struct{ topic, match string }{{"com", "prefix"}, {"com..t", "wildcard"}, {"", "prefix"}} {
		if err := watcher.Subscribe(sub.topic, func(*nxwamp.Event) {}, nxwamp.Dict{"match": sub.match}); err != nil {
			f.Fatal(err)
		}
	}

	f.Fuzz(func(t *testing.T, which byte, frame []byte) {
		ser := serializers[int(which)%len(serializers)]
		fr := newChanFrames()
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.serve(fr, ser, "fuzz", "fuzz", &net.TCPAddr{}, auth.ConnInfo{})
		}()
		defer func() { _ = fr.Close(); <-done }()

		send := func(m nxwamp.Message) {
			b, err := ser.Serialize(m)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case fr.in <- b:
			case <-fr.closed:
			}
		}
		// expect waits for a message of the wanted type; false if the
		// session ended first.
		expect := func(want nxwamp.MessageType) bool {
			timeout := time.After(5 * time.Second)
			for {
				select {
				case b := <-fr.out:
					m, err := ser.Deserialize(b)
					if err != nil {
						t.Fatalf("router sent undecodable frame: %v", err)
					}
					if m.MessageType() == want {
						return true
					}
				case <-fr.closed:
					return false
				case <-timeout:
					t.Fatalf("router unresponsive waiting for %v", want)
				}
			}
		}
		send(&nxwamp.Hello{Realm: "realm1", Details: nxwamp.Dict{"roles": nxwamp.Dict{
			"publisher": nxwamp.Dict{}, "subscriber": nxwamp.Dict{}, "caller": nxwamp.Dict{}, "callee": nxwamp.Dict{},
		}}})
		if !expect(nxwamp.WELCOME) {
			t.Fatal("no WELCOME")
		}
		select {
		case fr.in <- frame:
		case <-fr.closed:
			return
		}
		// Whatever the frame did, the router must still answer this session
		// or have ended it.
		send(&nxwamp.Publish{Request: 1 << 40, Options: nxwamp.Dict{"acknowledge": true}, Topic: "com.fuzz.t"})
		expect(nxwamp.PUBLISHED)
	})
}

func TestCheckMessage(t *testing.T) {
	cases := []struct {
		name    string
		msg     nxwamp.Message
		wantErr bool
		answer  bool // refused with an ERROR rather than ABORT
	}{
		{"plain publish", &nxwamp.Publish{Request: 1, Topic: "a"}, false, false},
		{"ppt strings", &nxwamp.Publish{Request: 1, Topic: "a", Options: nxwamp.Dict{"ppt_scheme": "x", "ppt_serializer": "cbor"}}, false, false},
		{"ppt_serializer int", &nxwamp.Publish{Request: 1, Topic: "a", Options: nxwamp.Dict{"ppt_serializer": 1}}, true, true},
		{"call ppt_cipher", &nxwamp.Call{Request: 1, Procedure: "p", Options: nxwamp.Dict{"ppt_cipher": 1.5}}, true, true},
		{"yield ppt_keyid", &nxwamp.Yield{Request: 1, Options: nxwamp.Dict{"ppt_keyid": []any{}}}, true, false},
		{"error ppt_scheme", &nxwamp.Error{Request: 1, Details: nxwamp.Dict{"ppt_scheme": 0}}, true, false},
		{"publish without topic", &nxwamp.Publish{Request: 1}, true, false},
		{"subscribe without request", &nxwamp.Subscribe{Topic: "a"}, true, false},
		{"subscribe to everything", &nxwamp.Subscribe{Request: 1, Options: nxwamp.Dict{"match": "prefix"}}, false, false},
		{"exact subscribe without topic", &nxwamp.Subscribe{Request: 1}, true, false},
		{"unsubscribe without id", &nxwamp.Unsubscribe{Request: 1}, true, false},
		{"hello without realm", &nxwamp.Hello{}, true, false},
		{"goodbye", &nxwamp.Goodbye{Reason: "wamp.close.normal"}, false, false},
	}
	for _, tc := range cases {
		err := checkMessage(tc.msg)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if err != nil && (errorReply(tc.msg, err) != nil) != tc.answer {
			t.Errorf("%s: answered with ERROR = %v, want %v", tc.name, errorReply(tc.msg, err) != nil, tc.answer)
		}
	}
}
