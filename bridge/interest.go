package bridge

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/junctionmq/junction/bridge/topic"
)

// interest is the set of WAMP subscription patterns of the bridged realm: the
// hub hands an MQTT message to WAMP only if one of them matches. nexus keeps
// the count of sessions per pattern and reports a pattern when its first
// subscriber arrives and when its last one leaves; so a set is enough here.
//
// Reads (one per MQTT publish) take no lock: writers, which come with
// SUBSCRIBE and UNSUBSCRIBE, replace an immutable snapshot.
type interest struct {
	mu   sync.Mutex // serializes writers
	snap atomic.Pointer[patternSet]
}

type patternSet struct {
	exact    map[string]struct{}
	prefix   []string
	wildcard [][]string // split patterns, for topic.MatchComponents
	size     int
}

func newInterest() *interest {
	i := &interest{}
	i.snap.Store(&patternSet{exact: map[string]struct{}{}})
	return i
}

// empty reports whether no WAMP client subscribes to anything.
func (i *interest) empty() bool { return i.snap.Load().size == 0 }

// match reports whether a subscription matches uri, as topic.Pattern's
// Matches says (nexus' semantics).
func (i *interest) match(uri string) bool {
	s := i.snap.Load()
	if s.size == 0 {
		return false
	}
	if _, ok := s.exact[uri]; ok {
		return true
	}
	for _, p := range s.prefix {
		if strings.HasPrefix(uri, p) {
			return true
		}
	}
	if len(s.wildcard) == 0 {
		return false
	}
	n := strings.Count(uri, ".") + 1
	for _, w := range s.wildcard {
		if len(w) == n && topic.MatchComponents(w, uri) {
			return true
		}
	}
	return false
}

// add records a pattern; adding one twice is harmless.
func (i *interest) add(p topic.Pattern) { i.update(p, true) }

// remove forgets a pattern.
func (i *interest) remove(p topic.Pattern) { i.update(p, false) }

func (i *interest) update(p topic.Pattern, add bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	old := i.snap.Load()
	n := &patternSet{exact: make(map[string]struct{}, len(old.exact)+1)}
	for k := range old.exact {
		n.exact[k] = struct{}{}
	}
	n.prefix = append(n.prefix, old.prefix...)
	n.wildcard = append(n.wildcard, old.wildcard...)
	switch p.Match {
	case topic.MatchPrefix:
		n.prefix = setSlice(n.prefix, p.URI, add, func(a, b string) bool { return a == b })
	case topic.MatchWildcard:
		n.wildcard = setSlice(n.wildcard, strings.Split(p.URI, "."), add, func(a, b []string) bool {
			return strings.Join(a, ".") == strings.Join(b, ".")
		})
	default:
		if add {
			n.exact[p.URI] = struct{}{}
		} else {
			delete(n.exact, p.URI)
		}
	}
	n.size = len(n.exact) + len(n.prefix) + len(n.wildcard)
	i.snap.Store(n)
}

func setSlice[T any](s []T, v T, add bool, eq func(a, b T) bool) []T {
	for k, x := range s {
		if eq(x, v) {
			if add {
				return s
			}
			return append(s[:k:k], s[k+1:]...)
		}
	}
	if add {
		s = append(s, v)
	}
	return s
}
