package topic

import (
	"errors"
	"fmt"
	"strings"
)

// Match is a match policy: how a Pattern's URI selects URIs, as WAMP's
// SUBSCRIBE and REGISTER "match" option names it.
type Match string

// The three WAMP match policies.
const (
	// MatchExact selects the one URI equal to the pattern.
	MatchExact Match = "exact"
	// MatchPrefix selects every URI the pattern is a plain string prefix
	// of: "a.b" selects "a.b", "a.bc" and "a.b.c".
	MatchPrefix Match = "prefix"
	// MatchWildcard selects every URI with as many components as the
	// pattern, each equal to the pattern's where that one is not empty:
	// "a..c" selects "a.x.c", not "a.c" nor "a.x.y.c".
	MatchWildcard Match = "wildcard"
)

// ErrMatch is wrapped by ParseMatch's errors, which read
// `"glob" is not exact, prefix or wildcard`.
var ErrMatch = errors.New("is not exact, prefix or wildcard")

// ParseMatch returns the policy s names: "exact", "prefix" or "wildcard".
// The empty string is refused: where a WAMP message may leave the policy
// out, use OrExact instead, which reads that as exact.
func ParseMatch(s string) (Match, error) {
	switch m := Match(s); m {
	case MatchExact, MatchPrefix, MatchWildcard:
		return m, nil
	}
	return "", fmt.Errorf("%q %w", s, ErrMatch)
}

// OrExact returns m, or MatchExact if m is empty: a WAMP SUBSCRIBE or
// REGISTER without a match option means exact.
func (m Match) OrExact() Match {
	if m == "" {
		return MatchExact
	}
	return m
}

// Pattern is a URI with a match policy: a WAMP subscription or
// registration, a permission's URIs, a route of another router. The empty
// Match is exact.
type Pattern struct {
	URI   string
	Match Match
}

// Matches reports whether the pattern selects uri, as nexus matches: exact
// is equality, prefix a plain string prefix, wildcard component by
// component (see ComponentMatches). An unknown Match selects nothing.
func (p Pattern) Matches(uri string) bool {
	switch p.Match {
	case MatchExact, "":
		return uri == p.URI
	case MatchPrefix:
		return strings.HasPrefix(uri, p.URI)
	case MatchWildcard:
		return wildcardMatches(p.URI, uri)
	}
	return false
}

// Sep separates the components of a URI.
const Sep = '.'

// AnyComponent is the component of a wildcard pattern that matches any one
// component: the empty one.
const AnyComponent = ""

// ComponentMatches is the per-component rule of a wildcard pattern: the
// pattern's component c matches the URI's component u if it is
// AnyComponent or equal to u. Everything that matches wildcard patterns
// component by component (a split pattern, a trie) follows it.
func ComponentMatches(c, u string) bool { return c == AnyComponent || c == u }

// wildcardMatches matches a wildcard pattern without splitting either
// string.
func wildcardMatches(pattern, uri string) bool {
	for {
		c, prest, pmore := strings.Cut(pattern, ".")
		u, urest, umore := strings.Cut(uri, ".")
		if pmore != umore || !ComponentMatches(c, u) {
			return false
		}
		if !pmore {
			return true
		}
		pattern, uri = prest, urest
	}
}

// MatchComponents reports whether a wildcard pattern already split into
// components (strings.Split(pattern, ".")) matches uri: what
// Pattern{pattern, MatchWildcard}.Matches(uri) says, for callers that match
// one compiled pattern against many URIs. It allocates nothing.
func MatchComponents(pattern []string, uri string) bool {
	if len(pattern) == 0 {
		return false // no split pattern is empty
	}
	last := len(pattern) - 1
	for i, c := range pattern {
		u, rest, more := strings.Cut(uri, ".")
		// Every pattern component but the last is followed by a '.'; the
		// last takes the rest of the URI.
		if more != (i < last) || !ComponentMatches(c, u) {
			return false
		}
		uri = rest
	}
	return true
}
