package wamp

import (
	"fmt"
	"log/slog"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// Bridge is the hub as the WAMP side sees it; *bridge.Hub implements it.
type Bridge interface {
	// Realm is the one WAMP realm bridged to MQTT.
	Realm() string
	Subscribed(topic.Pattern)
	Unsubscribed(topic.Pattern)
	Retained(topic.Pattern) []bridge.RetainedEvent
}

// Options of PUBLISH and SUBSCRIBE that the bridge reads.
const (
	optRetain      = "retain"       // PUBLISH: keep as the topic's retained event
	optGetRetained = "get_retained" // SUBSCRIBE: send the retained events first
)

// Hub is where every authorized publication goes, in every realm;
// *bridge.Hub implements it. The hub decides where it goes besides this
// router's WAMP subscribers (bridge/route.go).
type Hub interface {
	Publish(bridge.Publication) (bridge.Route, error)
}

// publication is an authorized PUBLISH in the hub's terms, with the facts
// the hub routes by: the options that address chosen sessions or make the
// payload opaque. The authorizer hands it over at the front door, where
// the message is known to be authorized and is still on its publisher's
// goroutine, so the hub keeps its order.
func publication(realm string, m *nxwamp.Publish) bridge.Publication {
	p := bridge.Publication{Realm: realm}
	for _, k := range []string{"eligible", "eligible_authid", "eligible_authrole"} {
		if _, ok := m.Options[k]; ok {
			p.Selective = true
		}
	}
	if _, ok := m.Options[nxwamp.OptPPTScheme]; ok {
		p.Passthru = true
	}
	retain, _ := m.Options[optRetain].(bool)
	ack, _ := m.Options[nxwamp.OptAcknowledge].(bool)
	p.WAMP = &bridge.WAMPMessage{
		URI:         string(m.Topic),
		WAMPPayload: bridge.WAMPPayload{Args: m.Arguments, Kwargs: m.ArgumentsKw},
		Retain:      retain,
		Acknowledge: ack,
	}
	return p
}

// subscriptionObserver tells the bridge of the bridged realm's WAMP
// subscriptions, from inside nexus' broker (see the nexus patch), and sends
// retained events to a subscriber that asks for them.
type subscriptionObserver struct {
	bridge Bridge
	log    *slog.Logger
}

func (o subscriptionObserver) Created(uri nxwamp.URI, match string) {
	o.bridge.Subscribed(topic.Pattern{URI: string(uri), Match: topic.Match(match)})
}

func (o subscriptionObserver) Subscribed(sess *nxwamp.Session, subID nxwamp.ID, uri nxwamp.URI, match string, opts nxwamp.Dict) []nxwamp.Message {
	p := topic.Pattern{URI: string(uri), Match: topic.Match(match)}
	if get, _ := opts[optGetRetained].(bool); !get || sess.IsLocal() {
		return nil
	}
	events := o.bridge.Retained(p)
	if len(events) == 0 {
		return nil
	}
	// nexus queues these right after SUBSCRIBED, as one batch (nexus patch
	// 13): nothing else the subscriber is sent comes between.
	msgs := make([]nxwamp.Message, 0, len(events))
	for _, ev := range events {
		details := nxwamp.Dict{"retained": true}
		if match != "" && match != nxwamp.MatchExact {
			details["topic"] = ev.URI
		}
		args, _ := wampBinary(ev.Args).(nxwamp.List)
		kwargs, _ := wampBinary(ev.Kwargs).(nxwamp.Dict)
		msgs = append(msgs, &nxwamp.Event{
			Subscription: subID,
			Publication:  nxwamp.GlobalID(),
			Details:      details,
			Arguments:    args,
			ArgumentsKw:  kwargs,
		})
	}
	o.log.Debug("sending retained events", "session", uint64(sess.ID), "uri", string(uri), "match", match, "events", len(events))
	return msgs
}

func (o subscriptionObserver) Deleted(uri nxwamp.URI, match string) {
	o.bridge.Unsubscribed(topic.Pattern{URI: string(uri), Match: topic.Match(match)})
}

// hubPublisher publishes the bridge's messages into the bridged realm
// through an in-process nexus client. One client for all of them keeps each
// publisher's messages in order: nexus handles a session's messages in turn.
type hubPublisher struct {
	client *client.Client
	realm  string
}

func newHubPublisher(nexus nxrouter.Router, realm string, log *slog.Logger) (*hubPublisher, error) {
	c, err := client.ConnectLocal(nexus, client.Config{
		Realm:        realm,
		HelloDetails: nxwamp.Dict{"authid": "junction-bridge"},
		Logger:       nexusLogger{log},
	})
	if err != nil {
		return nil, fmt.Errorf("bridge session in realm %s: %w", realm, err)
	}
	return &hubPublisher{client: c, realm: realm}, nil
}

// Publish implements bridge.WAMPEngine.
func (p *hubPublisher) Publish(m bridge.WAMPMessage) error {
	var opts nxwamp.Dict
	if d := m.Disclose; d != nil {
		opts = nxwamp.Dict{
			nxwamp.OptDiscloseMe: true,
			nxrouter.PublisherOverride: nxwamp.Dict{
				"publisher_authid":   d.AuthID,
				"publisher_authrole": d.AuthRole,
				"_client_id":         d.ClientID,
			},
		}
	}
	args, _ := wampBinary(m.Args).(nxwamp.List)
	kwargs, _ := wampBinary(m.Kwargs).(nxwamp.Dict)
	return p.client.Publish(m.URI, opts, args, kwargs)
}

func (p *hubPublisher) close() { _ = p.client.Close() }

// wampBinary returns v with every []byte inside it as serialize.BinaryData,
// which the JSON serializer writes as WAMP requires ("\u0000" + base64;
// nexus would write plain base64, a string to the subscriber) and msgpack
// and CBOR as binary. []any and map[string]any come back as wamp.List and
// wamp.Dict (nil stays nil).
func wampBinary(v any) any {
	switch x := v.(type) {
	case []byte:
		return serialize.BinaryData(x)
	case []any:
		if x == nil {
			return nxwamp.List(nil)
		}
		out := make(nxwamp.List, len(x))
		for i, e := range x {
			out[i] = wampBinary(e)
		}
		return out
	case nxwamp.List:
		return wampBinary([]any(x))
	case map[string]any:
		if x == nil {
			return nxwamp.Dict(nil)
		}
		out := make(nxwamp.Dict, len(x))
		for k, e := range x {
			out[k] = wampBinary(e)
		}
		return out
	case nxwamp.Dict:
		return wampBinary(map[string]any(x))
	}
	return v
}
