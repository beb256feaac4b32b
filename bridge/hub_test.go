package bridge

import (
	"log/slog"
	"reflect"
	"sync"
	"testing"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/topic"
)

type fakeMQTT struct {
	mu        sync.Mutex
	subs      map[string]bool
	published []MQTTMessage
	retained  []MQTTMessage
}

func (f *fakeMQTT) HasSubscribers(topic string) bool { return f.subs[topic] }
func (f *fakeMQTT) Publish(m MQTTMessage) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.published = append(f.published, m)
	return nil
}
func (f *fakeMQTT) Retained(string) []MQTTMessage { return f.retained }
func (f *fakeMQTT) Retain(m MQTTMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.retained = append(f.retained, m)
}
func (f *fakeMQTT) Deliver(string, string, MQTTMessage) error {
	return nil
}

type fakeWAMP struct{ published []WAMPMessage }

func (f *fakeWAMP) Publish(m WAMPMessage) error { f.published = append(f.published, m); return nil }

type discloseAll bool

func (d discloseAll) Discloses(auth.Identity, auth.Action, string) bool { return bool(d) }
func (d discloseAll) Allowed(auth.Identity, auth.Action, string, topic.Match) bool {
	return true
}

type countMetrics struct{ bridged, failed map[string]int }

func (c *countMetrics) Bridged(d string)   { c.bridged[d]++ }
func (c *countMetrics) Unmapped(r string)  { c.failed[r]++ }
func (c *countMetrics) RPC(string, string) {}

func newTestHub(t *testing.T, rules []Rule, disclose bool) (*Hub, *fakeMQTT, *fakeWAMP, *countMetrics) {
	t.Helper()
	met := &countMetrics{map[string]int{}, map[string]int{}}
	h, err := New(Config{Realm: "realm1", Rules: rules, QoS: 1, Authority: discloseAll(disclose),
		Logger: slog.New(slog.DiscardHandler), Metrics: met})
	if err != nil {
		t.Fatal(err)
	}
	m, w := &fakeMQTT{subs: map[string]bool{}}, &fakeWAMP{}
	h.Connect(m, w)
	return h, m, w, met
}

func TestHubCarriesOnlyWhatTheOtherSideWants(t *testing.T) {
	h, m, w, met := newTestHub(t, []Rule{{MQTT: "cams/#", Payload: ModeRaw}, {MQTT: "j/#", Payload: ModeJSON}}, true)
	pub := auth.Identity{AuthID: "dev", Role: "device", ClientID: "c1"}

	publishMQTT(h, MQTTMessage{Topic: "a/b", MQTTPayload: MQTTPayload{Payload: []byte("1")}, Publisher: pub})
	if len(w.published) != 0 {
		t.Fatal("mapped with no WAMP interest")
	}
	h.Subscribed(topic.Pattern{URI: "a.", Match: topic.MatchPrefix})
	h.Subscribed(topic.Pattern{URI: "j.x"})
	publishMQTT(h, MQTTMessage{Topic: "a/b", MQTTPayload: MQTTPayload{Payload: []byte("1")}, Publisher: pub})
	publishMQTT(h, MQTTMessage{Topic: "z/b", MQTTPayload: MQTTPayload{Payload: []byte("1")}, Publisher: pub}) // no interest
	publishMQTT(h, MQTTMessage{Topic: "j/x", MQTTPayload: MQTTPayload{Payload: []byte("not json")}})          // json mode: refused
	want := []WAMPMessage{{URI: "a.b", WAMPPayload: WAMPPayload{Args: []any{int64(1)}},
		Disclose: &Disclosed{AuthID: "dev", AuthRole: "device", ClientID: "c1"}}}
	if !reflect.DeepEqual(w.published, want) {
		t.Errorf("WAMP got %+v, want %+v", w.published, want)
	}
	if met.bridged[MQTTToWAMP] != 1 || met.failed["payload"] != 1 {
		t.Errorf("metrics %v %v", met.bridged, met.failed)
	}
	h.Unsubscribed(topic.Pattern{URI: "a.", Match: topic.MatchPrefix})
	publishMQTT(h, MQTTMessage{Topic: "a/c", MQTTPayload: MQTTPayload{Payload: []byte("1")}})
	if len(w.published) != 1 {
		t.Error("mapped after the last WAMP subscriber left")
	}

	// WAMP → MQTT: only with an MQTT subscriber, or to be retained.
	publishWAMP(h, WAMPMessage{URI: "x.y", WAMPPayload: WAMPPayload{Args: []any{"on"}}})
	m.subs["x/y"] = true
	publishWAMP(h, WAMPMessage{URI: "x.y", WAMPPayload: WAMPPayload{Args: []any{"on"}}})
	publishWAMP(h, WAMPMessage{URI: "r.s", WAMPPayload: WAMPPayload{Args: []any{"kept"}}, Retain: true})
	publishWAMP(h, WAMPMessage{URI: "cams.1", WAMPPayload: WAMPPayload{Args: []any{int64(1)}}, Retain: true}) // raw: refused
	publishWAMP(h, WAMPMessage{URI: "wamp.session.on_join", Retain: true})
	h.cfg.MaxPacket = 32
	publishWAMP(h, WAMPMessage{URI: "x.y", WAMPPayload: WAMPPayload{Args: []any{"longer than eight"}}}) // too large
	if met.failed["too_large"] != 1 {
		t.Errorf("oversized payload: failures %v", met.failed)
	}
	var topics []string
	for _, p := range m.published {
		topics = append(topics, p.Topic+"="+string(p.Payload))
		if p.QoS != 1 {
			t.Errorf("%s published at QoS %d, want bridge.qos 1", p.Topic, p.QoS)
		}
	}
	if want := []string{"x/y=on", "r/s=kept"}; !reflect.DeepEqual(topics, want) {
		t.Errorf("MQTT got %v, want %v", topics, want)
	}
}

func TestHubRetainedAsWAMPEvents(t *testing.T) {
	h, m, _, _ := newTestHub(t, nil, false)
	m.retained = []MQTTMessage{
		{Topic: "home/t1", MQTTPayload: MQTTPayload{Payload: []byte("21")}},
		{Topic: "home/t1/x", MQTTPayload: MQTTPayload{Payload: []byte("deeper")}},
		{Topic: "homes/t", MQTTPayload: MQTTPayload{Payload: []byte("no")}},
	}
	got := h.Retained(topic.Pattern{URI: "home..", Match: topic.MatchWildcard})
	want := []RetainedEvent{{URI: "home.t1.x", WAMPPayload: WAMPPayload{Args: []any{"deeper"}}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Retained = %+v, want %+v", got, want)
	}
}

// publishMQTT and publishWAMP hand the hub a local client's publication,
// as the engines do.
func publishMQTT(h *Hub, m MQTTMessage) Route {
	r, _ := h.Publish(Publication{MQTT: &m})
	return r
}

func publishWAMP(h *Hub, m WAMPMessage) Route {
	r, _ := h.Publish(Publication{WAMP: &m, Realm: h.Realm()})
	return r
}
