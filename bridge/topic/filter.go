package topic

import (
	"errors"
	"fmt"
	"strings"
)

// The separator and the wildcards of MQTT topic filters.
const (
	// LevelSep separates the levels of an MQTT topic or filter.
	LevelSep = '/'
	// AnyLevel is the filter level that matches any one level.
	AnyLevel = "+"
	// AnyLevels, as a filter's last level, matches the rest of the topic,
	// the level before it included: "a/#" matches "a", "a/b" and "a/b/c".
	AnyLevels = "#"
)

// sharePrefix starts a shared subscription's filter.
const sharePrefix = "$share/"

// Reserved reports whether an MQTT topic is reserved for the server
// ($SYS/..., $rpc/...): its first level starts with '$'. A filter's leading
// wildcard does not match it, and the hub never carries it to WAMP.
func Reserved(topic string) bool { return topic != "" && topic[0] == '$' }

// FilterMatches reports whether the MQTT filter (without any
// $share/<group>/) matches the topic name, by MQTT rules: AnyLevel matches
// one level, AnyLevels the rest ("a/#" matches "a"), and no leading wildcard
// matches a Reserved topic.
func FilterMatches(filter, topic string) bool {
	if Reserved(topic) && filter != "" && (filter[0] == AnyLevel[0] || filter[0] == AnyLevels[0]) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == AnyLevels {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != AnyLevel && f != t {
			return false
		}
		if !fmore || !tmore {
			return !fmore && !tmore || fmore && frest == AnyLevels
		}
		filter, topic = frest, trest
	}
}

// CutShare splits a shared subscription's filter "$share/<group>/<filter>"
// into group and filter; ok is false if f does not start with "$share/" or
// has no '/' after the group. Group and filter may be empty (CheckFilter
// refuses that).
func CutShare(f string) (group, filter string, ok bool) {
	rest, ok := strings.CutPrefix(f, sharePrefix)
	if !ok {
		return "", "", false
	}
	if group, filter, ok = strings.Cut(rest, "/"); !ok {
		return "", "", false
	}
	return group, filter, true
}

// Unshared returns f without its "$share/<group>/", if it has one.
func Unshared(f string) string {
	if _, filter, ok := CutShare(f); ok {
		return filter
	}
	return f
}

// ErrFilter is wrapped by CheckFilter's errors.
var ErrFilter = errors.New("invalid MQTT topic filter")

// CheckFilter checks an MQTT topic filter: not empty, AnyLevels only as the
// whole last level, AnyLevel only as a whole level, and a $share/<group>/
// prefix followed by a group without wildcards and a filter.
func CheckFilter(f string) error {
	if strings.HasPrefix(f, sharePrefix) {
		group, rest, ok := CutShare(f)
		if !ok || group == "" || strings.ContainsAny(group, "+#") || rest == "" {
			return fmt.Errorf("%w: shared subscription filter %q", ErrFilter, f)
		}
		f = rest
	}
	if f == "" {
		return fmt.Errorf("%w: empty", ErrFilter)
	}
	for level, rest, more := "", f, true; more; {
		level, rest, more = strings.Cut(rest, "/")
		switch {
		case level == AnyLevels && more:
			return fmt.Errorf("%w: '#' is not the last level of %q", ErrFilter, f)
		case len(level) > 1 && strings.ContainsAny(level, "+#"):
			return fmt.Errorf("%w: wildcard inside a level of %q", ErrFilter, f)
		}
	}
	return nil
}
