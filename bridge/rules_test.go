package bridge

import (
	"errors"
	"testing"

	"github.com/junctionmq/junction/bridge/topic"
)

func TestMapperDefaultAndReserved(t *testing.T) {
	m, err := NewMapper(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic, uri string
		ok         bool
	}{
		{"com/acme/sensor/7/temp", "com.acme.sensor.7.temp", true},
		{"a.b/c d/", "a%2Eb.c%20d.%00", true},
		{"/lead", "%00.lead", true},
		{"$SYS/broker/load", "", false},
		{"$rpc/com/acme/x", "", false},
		{"wamp/session/on_join", "", false}, // would inject WAMP meta events
		{"wamp", "", false},
		{"wampish/x", "wampish.x", true},
	} {
		uri, mode, ok := m.ToWAMP(tc.topic)
		if ok != tc.ok || uri != tc.uri || ok && mode != ModeAuto {
			t.Errorf("ToWAMP(%q) = %q, %q, %v; want %q, auto, %v", tc.topic, uri, mode, ok, tc.uri, tc.ok)
		}
		if !tc.ok {
			continue
		}
		topic, _, ok := m.ToMQTT(tc.uri)
		if !ok || topic != tc.topic {
			t.Errorf("ToMQTT(%q) = %q, %v; want %q", tc.uri, topic, ok, tc.topic)
		}
	}
	for _, uri := range []string{"wamp.session.on_join", "a..b", "", "a b"} {
		if topic, _, ok := m.ToMQTT(uri); ok {
			t.Errorf("ToMQTT(%q) = %q, want not bridged", uri, topic)
		}
	}
}

func TestMapperRules(t *testing.T) {
	m, err := NewMapper([]Rule{
		{MQTT: "devices/#", WAMP: "com.acme.devices."},
		{MQTT: "devices/cams/#", Payload: ModeRaw},
		{WAMP: "com.acme.internal.", Off: true},
		{MQTT: "metrics/#", Payload: ModeJSON},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		topic, uri string
		mode       Mode
	}{
		{"devices/7/temp", "com.acme.devices.7.temp", ModeAuto},
		{"devices", "com.acme.devices", ModeAuto},
		{"devices/cams/1", "com.acme.devices.cams.1", ModeRaw},
		{"metrics/cpu", "metrics.cpu", ModeJSON},
		{"com/acme/other", "com.acme.other", ModeAuto},
	} {
		uri, mode, ok := m.ToWAMP(tc.topic)
		if !ok || uri != tc.uri || mode != tc.mode {
			t.Errorf("ToWAMP(%q) = %q, %q, %v; want %q, %q", tc.topic, uri, mode, ok, tc.uri, tc.mode)
		}
		topic, mode, ok := m.ToMQTT(tc.uri)
		if !ok || topic != tc.topic || mode != tc.mode {
			t.Errorf("ToMQTT(%q) = %q, %q, %v; want %q, %q", tc.uri, topic, mode, ok, tc.topic, tc.mode)
		}
	}
	// Names with no image of their own are not bridged, never misrouted.
	for _, uri := range []string{
		"devices.7",               // its image devices/7 belongs to com.acme.devices.7
		"com.acme.internal.x",     // off
		"com.acme.internal",       // off, the root itself
		"com.acme.devices.cams.x", // fine: under the raw rule
	} {
		topic, _, ok := m.ToMQTT(uri)
		if want := uri == "com.acme.devices.cams.x"; ok != want {
			t.Errorf("ToMQTT(%q) = %q, %v; want bridged %v", uri, topic, ok, want)
		}
	}
	if uri, _, ok := m.ToWAMP("com/acme/internal/x"); ok {
		t.Errorf("ToWAMP(com/acme/internal/x) = %q, want not bridged (off)", uri)
	}
}

func TestMapperRejectsBadRules(t *testing.T) {
	for _, r := range []Rule{
		{},
		{MQTT: "devices"},
		{MQTT: "devices/+/#"},
		{MQTT: "$SYS/#"},
		{WAMP: "com.acme"},
		{WAMP: "wamp.session."},
		{WAMP: "a..b."},
		{MQTT: "a/#", Payload: "xml"},
	} {
		if _, err := NewMapper([]Rule{r}); !errors.Is(err, ErrRule) {
			t.Errorf("NewMapper(%+v) = %v, want ErrRule", r, err)
		}
	}
	if _, err := NewMapper([]Rule{{MQTT: "a/#"}, {MQTT: "a/#", Off: true}}); !errors.Is(err, ErrRule) {
		t.Errorf("duplicate roots: %v, want ErrRule", err)
	}
}

func TestSubtrees(t *testing.T) {
	m, _ := NewMapper([]Rule{{MQTT: "devices/#", WAMP: "com.acme.devices."}})
	for _, tc := range []struct {
		p    topic.Pattern
		want string
	}{
		{topic.Pattern{URI: "a.b", Match: topic.MatchExact}, "a/b"},
		{topic.Pattern{URI: "a.b.", Match: topic.MatchPrefix}, "a/b/#"},
		{topic.Pattern{URI: "a.bc", Match: topic.MatchPrefix}, "a/#"},
		{topic.Pattern{URI: "", Match: topic.MatchPrefix}, "#"},
		{topic.Pattern{URI: "a..c", Match: topic.MatchWildcard}, "a/#"},
		{topic.Pattern{URI: "com.acme.", Match: topic.MatchPrefix}, "#"}, // a rule re-roots part of it
		{topic.Pattern{URI: "com.acme.devices.7.", Match: topic.MatchPrefix}, "devices/7/#"},
		{topic.Pattern{URI: "wamp.session.on_join", Match: topic.MatchExact}, ""},
	} {
		if got := m.Subtrees(tc.p); got != tc.want {
			t.Errorf("Subtrees(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestInterestMatchesAsNexus(t *testing.T) {
	i := newInterest()
	if !i.empty() || i.match("a") {
		t.Fatal("new interest not empty")
	}
	i.add(topic.Pattern{URI: "a.b", Match: topic.MatchExact})
	i.add(topic.Pattern{URI: "p.q", Match: topic.MatchPrefix}) // a string prefix, as nexus matches
	i.add(topic.Pattern{URI: "w..c", Match: topic.MatchWildcard})
	for uri, want := range map[string]bool{
		"a.b": true, "a.b.c": false, "a": false,
		"p.q": true, "p.q.r": true, "p.qr": true, "p": false,
		"w.x.c": true, "w.x.d": false, "w.x.y.c": false,
	} {
		if got := i.match(uri); got != want {
			t.Errorf("match(%q) = %v, want %v", uri, got, want)
		}
	}
	i.remove(topic.Pattern{URI: "p.q", Match: topic.MatchPrefix})
	i.remove(topic.Pattern{URI: "w..c", Match: topic.MatchWildcard})
	i.remove(topic.Pattern{URI: "a.b", Match: topic.MatchExact})
	if !i.empty() {
		t.Fatal("interest not empty after removing every pattern")
	}
}

// FuzzMapper: under rules, every bridged name has one image that maps back
// to it, reserved names never cross, and nothing panics.
func FuzzMapper(f *testing.F) {
	m, err := NewMapper([]Rule{
		{MQTT: "devices/#", WAMP: "com.acme.devices."},
		{MQTT: "devices/cams/#", Payload: ModeRaw},
		{WAMP: "com.acme.internal.", Off: true},
		{MQTT: "x/#", WAMP: "y.z."},
	})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"devices/7/t", "com.acme.devices.7", "a/b", "$SYS/x", "wamp.x", "/", "a.b", "y.z.w", "x", "devices"} {
		f.Add(s)
	}
	m0, _ := NewMapper(nil)
	f.Fuzz(func(t *testing.T, s string) {
		if uri, _, ok := m0.ToWAMP(s); ok {
			if back, _, ok := m0.ToMQTT(uri); !ok || back != s {
				t.Fatalf("no rules: topic %q -> %q -> %q, %v", s, uri, back, ok)
			}
		}
		if topic, _, ok := m0.ToMQTT(s); ok {
			if back, _, ok := m0.ToWAMP(topic); !ok || back != s {
				t.Fatalf("no rules: uri %q -> %q -> %q, %v", s, topic, back, ok)
			}
		}
		if uri, _, ok := m.ToWAMP(s); ok {
			if back, _, ok := m.ToMQTT(uri); !ok || back != s {
				t.Fatalf("topic %q -> %q -> %q, %v", s, uri, back, ok)
			}
			if uri == "wamp" || len(uri) >= 5 && uri[:5] == "wamp." || len(s) > 0 && s[0] == '$' {
				t.Fatalf("reserved %q crossed as %q", s, uri)
			}
		}
		if topic, _, ok := m.ToMQTT(s); ok {
			if back, _, ok := m.ToWAMP(topic); !ok || back != s {
				t.Fatalf("uri %q -> %q -> %q, %v", s, topic, back, ok)
			}
			if topic[0] == '$' {
				t.Fatalf("%q crossed into %q", s, topic)
			}
		}
		_ = m.Subtrees(topic.Pattern{URI: s, Match: topic.MatchPrefix})
		_ = m.Subtrees(topic.Pattern{URI: s, Match: topic.MatchWildcard})
	})
}
