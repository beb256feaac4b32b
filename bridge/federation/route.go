package federation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/junctionmq/junction/bridge/topic"
)

// Route is a local interest: a router announces a route while it has at
// least one local subscriber to it, and every other router then sends it the
// messages the route matches.
type Route struct {
	Proto  string      // "mqtt", "wamp" or "rpc"
	Filter string      // an MQTT topic filter (a $share/<group>/ filter is a shared group, see share.go), a WAMP URI pattern, or an RPC row's text
	Match  topic.Match // WAMP: exact ("" is exact), prefix or wildcard; MQTT and RPC: ""
}

// Protocols of a Route. Its WAMP match policies are package topic's.
const (
	ProtoMQTT = "mqtt"
	ProtoWAMP = "wamp"
	// ProtoRPC routes are not matched against publications: they are
	// opaque rows (a procedure a router's callees serve) that the link only
	// replicates to every other router's RowWatcher.
	ProtoRPC = "rpc"
)

// patternKind is how a route row is matched.
type patternKind uint8

const (
	kindMQTT patternKind = iota + 1
	kindExact
	kindPrefix
	kindWildcard
	kindOpaque // an RPC row: replicated, never indexed
)

// pattern is a route row ready for the index.
type pattern struct {
	kind  patternKind
	text  string // MQTT: the filter, without any $share/<group>/; WAMP: the URI pattern
	share string // MQTT: the whole $share/<group>/<filter> of a shared subscription row (see share.go), else ""
}

var errRoute = errors.New("invalid route")

// row encodes a route as the member of a router's route set in Redis:
// "mqtt|<filter>" or "wamp|<match>|<uri>". It checks the route first.
func (r Route) row() (string, error) {
	switch r.Proto {
	case ProtoMQTT:
		if r.Match != "" {
			return "", fmt.Errorf("%w: MQTT route with match %q", errRoute, r.Match)
		}
		if err := topic.CheckFilter(r.Filter); err != nil {
			return "", fmt.Errorf("%w: %w", errRoute, err)
		}
		return "mqtt|" + r.Filter, nil
	case ProtoWAMP:
		m, err := topic.ParseMatch(string(r.Match.OrExact()))
		if err != nil {
			return "", fmt.Errorf("%w: WAMP match: %w", errRoute, err)
		}
		if r.Filter == "" {
			return "", fmt.Errorf("%w: empty WAMP URI", errRoute)
		}
		return "wamp|" + string(m) + "|" + r.Filter, nil
	case ProtoRPC:
		if r.Match != "" || r.Filter == "" {
			return "", fmt.Errorf("%w: RPC route %q with match %q", errRoute, r.Filter, r.Match)
		}
		return "rpc|" + r.Filter, nil
	default:
		return "", fmt.Errorf("%w: protocol %q", errRoute, r.Proto)
	}
}

// parseRow decodes a route row read from Redis.
func parseRow(row string) (pattern, error) {
	proto, rest, ok := strings.Cut(row, "|")
	if !ok {
		return pattern{}, fmt.Errorf("%w: row %q", errRoute, row)
	}
	switch proto {
	case ProtoMQTT:
		if err := topic.CheckFilter(rest); err != nil {
			return pattern{}, fmt.Errorf("%w: %w", errRoute, err)
		}
		return pattern{kind: kindMQTT, text: topic.Unshared(rest), share: sharedFilter(rest)}, nil
	case ProtoRPC:
		if rest == "" {
			break
		}
		return pattern{kind: kindOpaque, text: rest}, nil
	case ProtoWAMP:
		m, uri, ok := strings.Cut(rest, "|")
		if !ok || uri == "" {
			return pattern{}, fmt.Errorf("%w: row %q", errRoute, row)
		}
		switch topic.Match(m) {
		case topic.MatchExact:
			return pattern{kind: kindExact, text: uri}, nil
		case topic.MatchPrefix:
			return pattern{kind: kindPrefix, text: uri}, nil
		case topic.MatchWildcard:
			return pattern{kind: kindWildcard, text: uri}, nil
		}
	}
	return pattern{}, fmt.Errorf("%w: row %q", errRoute, row)
}
