package bridge

import (
	"testing"

	"github.com/junctionmq/junction/bridge/topic"
)

// TestClassify is the routing decision as a table: what kind of traffic a
// publication is, from its facts and the configuration's policy.
func TestClassify(t *testing.T) {
	mqttMsg := func(topic string) *MQTTMessage { return &MQTTMessage{Topic: topic} }
	wampMsg := &WAMPMessage{URI: "a.b"}
	on := policy{realm: "realm1", pubsub: true, rpc: true}
	noRPC := policy{realm: "realm1", pubsub: true}
	tests := []struct {
		name string
		pol  policy
		p    Publication
		want class
	}{
		{"MQTT publication", on, Publication{MQTT: mqttMsg("a/b")}, classMQTT},
		{"MQTT $SYS stays", on, Publication{MQTT: mqttMsg("$SYS/broker/uptime")}, classLocal},
		{"MQTT call", on, Publication{MQTT: mqttMsg("$rpc/com.acme.add")}, classRPC},
		{"MQTT callee's answer", on, Publication{MQTT: mqttMsg("$rpc-reply/7")}, classRPC},
		{"$rpc/ is a topic without RPC", noRPC, Publication{MQTT: mqttMsg("$rpc/com.acme.add")}, classMQTT},
		{"WAMP in the bridged realm", on, Publication{WAMP: wampMsg, Realm: "realm1"}, classWAMP},
		{"WAMP in another realm", on, Publication{WAMP: wampMsg, Realm: "realm2"}, classRealmWAMP},
		{"WAMP to chosen sessions stays", on, Publication{WAMP: wampMsg, Realm: "realm1", Selective: true}, classLocal},
		{"WAMP passthru stays", on, Publication{WAMP: wampMsg, Realm: "realm2", Passthru: true}, classLocal},
		{"nothing", on, Publication{}, classLocal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.pol.classify(&tc.p); got != tc.want {
				t.Fatalf("classify = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestPublishRoutes: what Publish reports it did, by configuration.
func TestPublishRoutes(t *testing.T) {
	h, mq, _, _ := newTestHub(t, nil, false)
	h.Subscribed(topic.Pattern{URI: "a.b"})
	if r := publishMQTT(h, MQTTMessage{Topic: "a/b", MQTTPayload: MQTTPayload{Payload: []byte("1")}}); r != RouteOther {
		t.Fatalf("MQTT publication with a WAMP subscriber: route %b, want other protocol", r)
	}
	if r := publishMQTT(h, MQTTMessage{Topic: "z/z", MQTTPayload: MQTTPayload{Payload: []byte("1")}}); r != 0 {
		t.Fatalf("MQTT publication nobody in WAMP wants: route %b, want none", r)
	}
	if r, _ := h.Publish(Publication{MQTT: &MQTTMessage{Topic: "$rpc/x"}}); r&RouteRPC != 0 {
		t.Fatalf("$rpc/ without RPC is a topic: route %b", r)
	}
	h.policy.rpc = true // rpc.enabled
	if r, err := h.Publish(Publication{MQTT: &MQTTMessage{Topic: "$rpc/x"}}); r != RouteRPC || err != ErrNoCaller {
		t.Fatalf("call without a caller: %b, %v", r, err)
	}
	mq.subs["x/y"] = true
	if r := publishWAMP(h, WAMPMessage{URI: "x.y", WAMPPayload: WAMPPayload{Args: []any{"on"}}}); r != RouteOther {
		t.Fatalf("WAMP publication with an MQTT subscriber: route %b", r)
	}
	if r, _ := h.Publish(Publication{WAMP: &WAMPMessage{URI: "x.y"}, Realm: h.Realm(), Selective: true}); r != 0 {
		t.Fatalf("WAMP publication to chosen sessions: route %b, want none", r)
	}
}
