package federation

import (
	"errors"
	"fmt"
	"strings"
)

// Route is a local interest: a router announces a route while it has at
// least one local subscriber to it, and every other router then sends it the
// messages the route matches.
type Route struct {
	Proto  string // "mqtt", "wamp" or "rpc"
	Filter string // an MQTT topic filter (a $share/<group>/ filter is a shared group, see share.go), a WAMP URI pattern, or an RPC row's text
	Match  string // WAMP: "exact" ("" is exact), "prefix" or "wildcard"; MQTT and RPC: ""
}

// Protocols and WAMP match policies of a Route.
const (
	ProtoMQTT = "mqtt"
	ProtoWAMP = "wamp"
	// ProtoRPC routes are not matched against publications: they are
	// opaque rows (a procedure a router's callees serve) that the link only
	// replicates to every other router's RowWatcher.
	ProtoRPC      = "rpc"
	MatchExact    = "exact"
	MatchPrefix   = "prefix"
	MatchWildcard = "wildcard"
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
		if err := checkFilter(r.Filter); err != nil {
			return "", err
		}
		return "mqtt|" + r.Filter, nil
	case ProtoWAMP:
		m := r.Match
		if m == "" {
			m = MatchExact
		}
		if m != MatchExact && m != MatchPrefix && m != MatchWildcard {
			return "", fmt.Errorf("%w: WAMP match %q", errRoute, r.Match)
		}
		if r.Filter == "" {
			return "", fmt.Errorf("%w: empty WAMP URI", errRoute)
		}
		return "wamp|" + m + "|" + r.Filter, nil
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
		if err := checkFilter(rest); err != nil {
			return pattern{}, err
		}
		return pattern{kind: kindMQTT, text: shareless(rest), share: sharedFilter(rest)}, nil
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
		switch m {
		case MatchExact:
			return pattern{kind: kindExact, text: uri}, nil
		case MatchPrefix:
			return pattern{kind: kindPrefix, text: uri}, nil
		case MatchWildcard:
			return pattern{kind: kindWildcard, text: uri}, nil
		}
	}
	return pattern{}, fmt.Errorf("%w: row %q", errRoute, row)
}

// checkFilter checks an MQTT topic filter: '#' only as the whole last
// level, '+' only as a whole level, and a $share/<group>/ prefix followed by
// a filter.
func checkFilter(f string) error {
	if strings.HasPrefix(f, "$share/") {
		group, rest, ok := strings.Cut(f[len("$share/"):], "/")
		if !ok || group == "" || strings.ContainsAny(group, "+#") || rest == "" {
			return fmt.Errorf("%w: shared subscription filter %q", errRoute, f)
		}
		f = rest
	}
	if f == "" {
		return fmt.Errorf("%w: empty MQTT filter", errRoute)
	}
	for level, rest, more := "", f, true; more; {
		level, rest, more = strings.Cut(rest, "/")
		switch {
		case level == "#" && more:
			return fmt.Errorf("%w: '#' is not the last level of %q", errRoute, f)
		case len(level) > 1 && strings.ContainsAny(level, "+#"):
			return fmt.Errorf("%w: wildcard inside a level of %q", errRoute, f)
		}
	}
	return nil
}

// shareless strips a $share/<group>/ prefix from a valid filter.
func shareless(f string) string {
	if strings.HasPrefix(f, "$share/") {
		_, rest, _ := strings.Cut(f[len("$share/"):], "/")
		return rest
	}
	return f
}
