package mqtt

import (
	"errors"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/bridge"
)

// Hub is where every authorized publication goes; *bridge.Hub implements
// it. The hub decides where it goes besides this router's MQTT
// subscribers (bridge/route.go): a call, the other protocol, other routers.
type Hub interface {
	Publish(bridge.Publication) (bridge.Route, error)
}

// hubHook hands the hub every publication that passed authorization. It is
// added after the auth hook, whose refusals stop mochi's OnPublish chain, and
// runs on the publisher's goroutine before mochi acknowledges QoS 1 and 2:
// the PUBACK or PUBREC says the hub has the message. When the hub took it
// as a call or an answer, mochi delivers it to no subscriber, and an MQTT 5
// QoS 1/2 publisher learns a refusal from its reason code.
type hubHook struct {
	mochi.HookBase
	hub  Hub
	auth *authHook
	rpc  *rpcHook // nil without RPC
}

func (h *hubHook) ID() string           { return "junction-hub" }
func (h *hubHook) Provides(b byte) bool { return b == mochi.OnPublish }

func (h *hubHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline { // the hub's own publications, and nothing else, come inline
		return pk, nil
	}
	m := messageOf(cl, pk)
	if s := h.auth.session(cl); s != nil {
		m.Publisher = s.id
	}
	p := bridge.Publication{MQTT: &m}
	if h.rpc != nil {
		p.Caller = rpcCaller{h.rpc, cl}
	}
	route, err := h.hub.Publish(p)
	if route&bridge.RouteRPC == 0 {
		return pk, nil
	}
	return pk, h.rpc.answer(cl, pk, err)
}

// rpcCaller is a client's RPC state, made when it first calls.
type rpcCaller struct {
	h  *rpcHook
	cl *mochi.Client
}

func (c rpcCaller) Call(m bridge.MQTTMessage) error {
	rc := c.h.client(c.cl)
	if rc == nil {
		return bridge.ErrNoCaller
	}
	return rc.Call(m)
}

func (c rpcCaller) Reply(m bridge.MQTTMessage) error {
	rc := c.h.client(c.cl)
	if rc == nil {
		return bridge.ErrNoCaller
	}
	return rc.Reply(m)
}

func payloadOf(pk packets.Packet) bridge.MQTTPayload {
	p := bridge.MQTTPayload{Payload: pk.Payload, ContentType: pk.Properties.ContentType}
	if pk.Properties.PayloadFormatFlag {
		f := pk.Properties.PayloadFormat
		p.PayloadFormat = &f
	}
	return p
}

// HasSubscribers implements bridge.MQTTEngine with mochi's topic tree, which
// holds the subscriptions of offline persistent sessions too.
func (s *Server) HasSubscribers(topic string) bool {
	return s.mochi.Topics.HasSubscribers(topic) // a patch in mqtt/third_party/mochi
}

// Publish implements bridge.MQTTEngine: the message enters mochi as the
// inline client's, so mochi delivers it at min(QoS, each subscription's
// granted QoS), queues it for offline persistent sessions, checks each
// delivery against the subscriber's permissions, and retains it.
func (s *Server) Publish(m bridge.MQTTMessage) error {
	inline, ok := s.mochi.Clients.Get(mochi.InlineClientId)
	if !ok {
		return errors.New("mochi has no inline client")
	}
	pk := packetOf(m)
	pk.FixedHeader.Retain = m.Retain
	if m.Shares != nil {
		pk.Scope = m.Shares // the groups that serve it here (share.go)
	}
	if m.QoS > 0 {
		// Never used (mochi treats inline publishes as QoS 0 and delivers
		// at the subscription's QoS), but checked: required above QoS 0,
		// a protocol violation at QoS 0.
		pk.PacketID = 1
	}
	return s.mochi.InjectPacket(inline, pk)
}

// packetOf is the PUBLISH packet of m, with its MQTT 5 properties.
func packetOf(m bridge.MQTTMessage) packets.Packet {
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.QoS},
		TopicName:   m.Topic,
		Payload:     m.Payload,
		Properties: packets.Properties{
			ContentType:     m.ContentType,
			ResponseTopic:   m.ResponseTopic,
			CorrelationData: m.CorrelationData,
		},
	}
	if m.PayloadFormat != nil {
		pk.Properties.PayloadFormat = *m.PayloadFormat
		pk.Properties.PayloadFormatFlag = true
	}
	for _, u := range m.UserProperties {
		pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: u.Key, Val: u.Value})
	}
	return pk
}

// Retained implements bridge.MQTTEngine.
func (s *Server) Retained(filter string) []bridge.MQTTMessage {
	var out []bridge.MQTTMessage
	for _, pk := range s.mochi.Topics.Messages(filter) {
		out = append(out, bridge.MQTTMessage{
			Topic:       pk.TopicName,
			MQTTPayload: payloadOf(pk),
			QoS:         pk.FixedHeader.Qos,
			Retain:      true,
			V5:          true, // properties are empty when the publisher spoke 3.1.1
		})
	}
	return out
}

// Retain implements bridge.MQTTEngine: it sets or, with an empty payload,
// clears the retained message of m.Topic in mochi's store without
// delivering it (a change from the cluster-wide retained log).
func (s *Server) Retain(m bridge.MQTTMessage) {
	pk := packetOf(m)
	pk.FixedHeader.Retain = true
	pk.Created = time.Now().Unix()
	if s.cfg.MaxMessageExpiry > 0 {
		pk.Expiry = pk.Created + int64(s.cfg.MaxMessageExpiry/time.Second)
	}
	s.mochi.Topics.RetainMessage(pk)
	atomic.StoreInt64(&s.mochi.Info.Retained, int64(s.mochi.Topics.Retained.Len()))
}
