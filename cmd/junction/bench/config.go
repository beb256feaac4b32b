// Package bench is `junction bench`: a load generator for any MQTT broker
// (3.1.1 or 5, over TCP or WebSocket) and any WAMP router (WebSocket or
// RawSocket, JSON, msgpack or CBOR). It runs publishers and subscribers,
// RPC callers and callees, or idle connections, shows progress once a second
// and reports connects/s, messages/s, loss and latency percentiles computed
// from a send timestamp carried in every payload.
package bench

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Mode is what a run does.
type Mode string

const (
	ModePubSub Mode = "pubsub" // publishers and subscribers
	ModeRPC    Mode = "rpc"    // callers and callees
	ModeIdle   Mode = "idle"   // connections that connect and stay silent
)

// Config is one run.
type Config struct {
	Scenario string `json:"scenario,omitempty"`

	// URL is where publishers, callers and idle connections connect;
	// SubURL where subscribers and callees do ("": URL). Schemes: tcp://,
	// mqtt://, ws://, wss://, and for WAMP also tcp:// (RawSocket).
	URL    string `json:"url"`
	SubURL string `json:"sub_url,omitempty"`
	// Proto and SubProto are "mqtt" or "wamp" (SubProto "": Proto).
	Proto    string `json:"proto"`
	SubProto string `json:"sub_proto,omitempty"`

	MQTTVersion int    `json:"mqtt_version,omitempty"` // 4 (3.1.1) or 5
	Serializer  string `json:"serializer,omitempty"`   // WAMP: json, msgpack, cbor
	Realm       string `json:"realm,omitempty"`        // WAMP

	// Topic, in MQTT form (a/b/c); WAMP clients use it with "/" as "."
	// (a.b.c), as Junction's bridge maps it. RPC uses it as the procedure.
	Topic string `json:"topic"`

	Publishers  int `json:"publishers,omitempty"`
	Subscribers int `json:"subscribers,omitempty"`
	Callers     int `json:"callers,omitempty"`
	Callees     int `json:"callees,omitempty"`
	Idle        int `json:"idle,omitempty"`

	QoS  int `json:"qos"`
	Size int `json:"size"`
	// Rate is messages (or calls) per second per publisher (caller); 0: as
	// fast as Window allows.
	Rate float64 `json:"rate"`
	// Window bounds unpaced publishing end to end: a publisher waits while
	// more than Window of its messages are sent and not yet received by
	// every subscriber. 0: open loop.
	Window int `json:"window"`
	// Inflight is the QoS 1/2 publishes awaiting acknowledgement per MQTT
	// publisher, and the calls in flight per caller.
	Inflight int `json:"inflight"`

	// Warmup is sent before the measured messages and not counted: routes
	// settle (across a federation, a subscription reaches the other routers
	// through Redis) and connections warm up.
	Warmup   time.Duration `json:"warmup,omitempty"`
	Duration time.Duration `json:"duration"`
	Count    int           `json:"count,omitempty"` // per publisher (caller); 0: run for Duration
	// Drain is how long the run waits, after the last publish, for
	// messages still on their way: it ends when every expected message has
	// arrived or nothing has arrived for Drain.
	Drain          time.Duration `json:"drain"`
	Hold           time.Duration `json:"hold,omitempty"` // idle: how long connections stay open
	ConnectTimeout time.Duration `json:"connect_timeout"`
	// ConnectParallel is how many connections are opened at a time.
	ConnectParallel int    `json:"connect_parallel"`
	ClientPrefix    string `json:"client_prefix"`
}

// DefaultConfig is what the flags default to.
func DefaultConfig() Config {
	return Config{
		URL:             "tcp://127.0.0.1:1883",
		Proto:           "mqtt",
		MQTTVersion:     4,
		Serializer:      "json",
		Realm:           "realm1",
		Topic:           "bench/t",
		Publishers:      1,
		Subscribers:     1,
		Size:            100,
		Window:          1000,
		Inflight:        64,
		Duration:        10 * time.Second,
		Drain:           2 * time.Second,
		Hold:            5 * time.Second,
		ConnectTimeout:  10 * time.Second,
		ConnectParallel: 64,
		ClientPrefix:    "bench",
	}
}

// Mode is what the configuration asks for.
func (c Config) Mode() Mode {
	switch {
	case c.Idle > 0:
		return ModeIdle
	case c.Callers > 0 || c.Callees > 0:
		return ModeRPC
	}
	return ModePubSub
}

func (c Config) subURL() string {
	if c.SubURL != "" {
		return c.SubURL
	}
	return c.URL
}

func (c Config) subProto() string {
	if c.SubProto != "" {
		return c.SubProto
	}
	return c.Proto
}

// wampURI is the WAMP form of an MQTT-style topic.
func wampURI(topic string) string { return strings.ReplaceAll(topic, "/", ".") }

// Validate checks a configuration and names every problem.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkURL := func(flag, raw, proto string) {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			bad("--%s %q: want scheme://host:port[/path]", flag, raw)
			return
		}
		ok := map[string][]string{
			"mqtt": {"tcp", "mqtt", "ws", "wss", "ssl", "tls", "mqtts"},
			"wamp": {"ws", "wss", "tcp", "tcps"},
		}[proto]
		found := false
		for _, s := range ok {
			found = found || u.Scheme == s
		}
		if !found && ok != nil {
			bad("--%s %q: scheme %q is not one of %s for %s", flag, raw, u.Scheme, strings.Join(ok, ", "), proto)
		}
	}
	for _, p := range []struct{ flag, v string }{{"proto", c.Proto}, {"sub-proto", c.subProto()}} {
		if p.v != "mqtt" && p.v != "wamp" {
			bad("--%s %q: want mqtt or wamp", p.flag, p.v)
		}
	}
	checkURL("url", c.URL, c.Proto)
	if c.SubURL != "" {
		checkURL("sub-url", c.SubURL, c.subProto())
	}
	if c.MQTTVersion != 4 && c.MQTTVersion != 5 {
		bad("--mqtt-version %d: want 3 (3.1.1) or 5", c.MQTTVersion)
	}
	switch c.Serializer {
	case "json", "msgpack", "cbor":
	default:
		bad("--serializer %q: want json, msgpack or cbor", c.Serializer)
	}
	if c.QoS < 0 || c.QoS > 2 {
		bad("--qos %d: want 0, 1 or 2", c.QoS)
	}
	if c.Size < MinPayload {
		bad("--size %d: at least %d bytes (the timestamp)", c.Size, MinPayload)
	}
	if c.Topic == "" || strings.ContainsAny(c.Topic, "+#") {
		bad("--topic %q: want a topic name without wildcards", c.Topic)
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"publishers", c.Publishers}, {"subscribers", c.Subscribers}, {"callers", c.Callers},
		{"callees", c.Callees}, {"idle", c.Idle}, {"count", c.Count}, {"window", c.Window}} {
		if n.v < 0 {
			bad("--%s %d: must not be negative", n.flag, n.v)
		}
	}
	if c.Rate < 0 {
		bad("--rate %g: must not be negative", c.Rate)
	}
	if c.Inflight < 1 {
		bad("--inflight %d: at least 1", c.Inflight)
	}
	if c.ConnectParallel < 1 {
		bad("--connect-parallel %d: at least 1", c.ConnectParallel)
	}
	if c.Duration <= 0 && c.Count == 0 && c.Mode() != ModeIdle {
		bad("--duration %v with --count 0: the run would never end", c.Duration)
	}
	if c.Drain < 0 || c.Hold < 0 || c.Warmup < 0 || c.ConnectTimeout <= 0 {
		bad("--drain, --hold, --warmup must not be negative and --connect-timeout must be positive")
	}
	switch c.Mode() {
	case ModeIdle:
		if c.Callers > 0 || c.Callees > 0 {
			bad("--idle runs alone: drop --callers/--callees")
		}
	case ModeRPC:
		if c.Callers < 1 || c.Callees < 1 {
			bad("RPC needs --callers and --callees (at least 1 each), got %d and %d", c.Callers, c.Callees)
		}
	case ModePubSub:
		if c.Publishers < 1 || c.Subscribers < 1 {
			bad("pub/sub needs --publishers and --subscribers (at least 1 each), got %d and %d", c.Publishers, c.Subscribers)
		}
	}
	return errors.Join(errs...)
}
