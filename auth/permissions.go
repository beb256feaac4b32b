package auth

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/junctionmq/junction/bridge/topic"
)

// The placeholders a permission URI may contain.
const (
	placeholderAuthID   = "{authid}"
	placeholderClientID = "{clientid}"
)

// numActions is the number of actions.
const numActions = 4

// actionIndex returns a's index in compiledRole.byAction.
func actionIndex(a Action) (int, bool) {
	switch a {
	case ActionPublish:
		return 0, true
	case ActionSubscribe:
		return 1, true
	case ActionCall:
		return 2, true
	case ActionRegister:
		return 3, true
	}
	return 0, false
}

// compiledRole is a role's permissions sorted by action, ready for Allowed.
type compiledRole struct {
	name     string
	byAction [numActions]actionRules
}

// actionRules are the rules of one role that allow or deny one action.
type actionRules struct {
	// exact holds the exact rules without placeholders, URI to Disclose
	// (true if any such rule for the URI discloses): the common publish and
	// call case is one map lookup.
	exact map[string]bool
	// rules are all the others, in configuration order.
	rules []rule
	// discloses is whether any rule here has Disclose: most roles have none,
	// and then Discloses costs nothing per message.
	discloses bool

	// The rules that deny the action, which win over every allow: exact
	// ones without placeholders by URI, the others in configuration order.
	denyExact map[string]struct{}
	deny      []rule
}

// rule is one compiled permission rule.
type rule struct {
	match    topic.Match
	uri      string   // as configured, placeholders included
	comps    []string // uri split on '.', for wildcard rules without placeholders
	authID   bool     // uri contains {authid}
	clientID bool     // uri contains {clientid}
	disclose bool
}

// compileRole validates role's permissions and compiles them. path names the
// role in error messages.
func compileRole(role Role, path string) (*compiledRole, []string) {
	var problems []string
	cr := &compiledRole{name: role.Name}
	for i, p := range role.Permissions {
		ppath := fmt.Sprintf("%s.permissions[%d]", path, i)
		r, errs := compileRule(p, ppath)
		problems = append(problems, errs...)
		if len(errs) > 0 {
			continue
		}
		for j, a := range p.Allow {
			idx, ok := actionIndex(a)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s.allow[%d]: unknown action %q (want publish, subscribe, call or register)", ppath, j, a))
				continue
			}
			ar := &cr.byAction[idx]
			ar.discloses = ar.discloses || r.disclose
			if r.match == topic.MatchExact && !r.authID && !r.clientID {
				if ar.exact == nil {
					ar.exact = make(map[string]bool)
				}
				ar.exact[r.uri] = ar.exact[r.uri] || r.disclose
				continue
			}
			ar.rules = append(ar.rules, r)
		}
		for j, a := range p.Deny {
			idx, ok := actionIndex(a)
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s.deny[%d]: unknown action %q (want publish, subscribe, call or register)", ppath, j, a))
				continue
			case slices.Contains(p.Allow, a):
				problems = append(problems, fmt.Sprintf("%s.deny[%d]: %q is also in allow: a rule cannot allow and deny the same action", ppath, j, a))
				continue
			}
			ar := &cr.byAction[idx]
			if r.match == topic.MatchExact && !r.authID && !r.clientID {
				if ar.denyExact == nil {
					ar.denyExact = make(map[string]struct{})
				}
				ar.denyExact[r.uri] = struct{}{}
				continue
			}
			ar.deny = append(ar.deny, r)
		}
	}
	return cr, problems
}

// compileRule validates a permission's URI and match (not its actions).
func compileRule(p Permission, path string) (rule, []string) {
	var problems []string
	r := rule{
		match:    p.Match,
		uri:      p.URI,
		authID:   strings.Contains(p.URI, placeholderAuthID),
		clientID: strings.Contains(p.URI, placeholderClientID),
		disclose: p.Disclose,
	}
	if _, err := topic.ParseMatch(string(p.Match)); err != nil {
		problems = append(problems, fmt.Sprintf("%s.match: %v", path, err))
	}
	switch {
	case len(p.Allow) == 0 && len(p.Deny) == 0:
		problems = append(problems, fmt.Sprintf("%s: neither allow nor deny: a rule must allow or deny at least one of publish, subscribe, call, register", path))
	case len(p.Allow) == 0 && p.Disclose:
		problems = append(problems, fmt.Sprintf("%s.disclose: a rule that allows nothing discloses nothing (disclose is for allow rules)", path))
	}
	// With the placeholders replaced by a plain component, what is left must
	// be a URI pattern.
	plain := strings.NewReplacer(placeholderAuthID, "x", placeholderClientID, "x").Replace(p.URI)
	switch {
	case !utf8.ValidString(p.URI):
		problems = append(problems, fmt.Sprintf("%s.uri: %q is not valid UTF-8", path, p.URI))
	case strings.ContainsAny(plain, "{}"):
		problems = append(problems, fmt.Sprintf("%s.uri: %q: unknown placeholder (only {authid} and {clientid})", path, p.URI))
	case strings.ContainsRune(plain, '#'):
		problems = append(problems, fmt.Sprintf("%s.uri: %q: '#' is not a WAMP wildcard; use match prefix (\"a.\" for MQTT a/#) or wildcard (\"a..c\" for MQTT a/+/c)", path, p.URI))
	case strings.ContainsFunc(plain, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		problems = append(problems, fmt.Sprintf("%s.uri: %q contains white space or a control character", path, p.URI))
	case p.Match == topic.MatchExact && hasEmptyComponent(plain):
		problems = append(problems, fmt.Sprintf("%s.uri: %q: an exact rule cannot have an empty component (use match wildcard)", path, p.URI))
	}
	if p.Match == topic.MatchWildcard && !r.authID && !r.clientID {
		r.comps = strings.Split(p.URI, ".")
	}
	return r, problems
}

// hasEmptyComponent reports whether uri, split on '.', has an empty
// component (the empty URI is one empty component).
func hasEmptyComponent(uri string) bool {
	return uri == "" || uri[0] == '.' || uri[len(uri)-1] == '.' || strings.Contains(uri, "..")
}

// validPlaceholderValue reports whether v may replace a placeholder: not
// empty, and nothing that would let it reach beyond one component or alias
// another client's escaped name ('.', the MQTT and WAMP wildcard characters,
// '/', '%', braces, white space, control characters).
func validPlaceholderValue(v string) bool {
	if v == "" || !utf8.ValidString(v) {
		return false
	}
	for _, c := range v {
		if strings.ContainsRune(".#+*/%{}", c) || unicode.IsSpace(c) || unicode.IsControl(c) {
			return false
		}
	}
	return true
}

// resolve returns the rule's URI (and components, for a wildcard rule) with
// the placeholders replaced by id's values; ok is false if a placeholder's
// value is not valid, and then the rule matches nothing.
func (r *rule) resolve(id *Identity) (uri string, comps []string, ok bool) {
	if !r.authID && !r.clientID {
		return r.uri, r.comps, true
	}
	uri = r.uri
	if r.authID {
		if !validPlaceholderValue(id.AuthID) {
			return "", nil, false
		}
		uri = strings.ReplaceAll(uri, placeholderAuthID, id.AuthID)
	}
	if r.clientID {
		if !validPlaceholderValue(id.ClientID) {
			return "", nil, false
		}
		uri = strings.ReplaceAll(uri, placeholderClientID, id.ClientID)
	}
	if r.match == topic.MatchWildcard {
		comps = strings.Split(uri, ".")
	}
	return uri, comps, true
}

// request is what a client asks for, normalized for the coverage checks.
type request struct {
	match topic.Match
	uri   string
	// For a wildcard request: its components, and the fixed string every
	// URI it matches starts with (the components before the first empty
	// one, each followed by '.').
	comps []string
	fixed string
}

// newRequest validates and normalizes a request; ok is false if it must be
// refused.
func newRequest(uri string, match topic.Match) (request, bool) {
	if strings.ContainsAny(uri, "{}") || !utf8.ValidString(uri) {
		return request{}, false
	}
	switch match {
	case topic.MatchExact:
		if hasEmptyComponent(uri) {
			return request{}, false
		}
		return request{match: topic.MatchExact, uri: uri}, true
	case topic.MatchPrefix:
		return request{match: topic.MatchPrefix, uri: uri}, true
	case topic.MatchWildcard:
		if !hasEmptyComponent(uri) {
			// Matches exactly one URI.
			return request{match: topic.MatchExact, uri: uri}, true
		}
		comps := strings.Split(uri, ".")
		fixed := ""
		for i, c := range comps {
			if c == "" {
				if i > 0 {
					fixed = strings.Join(comps[:i], ".") + "."
				}
				break
			}
		}
		return request{match: topic.MatchWildcard, uri: uri, comps: comps, fixed: fixed}, true
	default:
		return request{}, false
	}
}

// covers reports whether a rule (resolved to uri and, for a wildcard rule,
// comps) allows every URI that q can match. An exact request is covered
// when the rule matches it (topic's matcher); a pattern request when every
// URI it matches does.
func covers(match topic.Match, uri string, comps []string, q *request) bool {
	switch q.match {
	case topic.MatchExact:
		switch match {
		case topic.MatchExact:
			return q.uri == uri
		case topic.MatchPrefix:
			return strings.HasPrefix(q.uri, uri)
		case topic.MatchWildcard:
			return topic.MatchComponents(comps, q.uri)
		}
	case topic.MatchPrefix:
		// Only a prefix rule can cover the infinite set of URIs with a given
		// prefix.
		return match == topic.MatchPrefix && strings.HasPrefix(q.uri, uri)
	case topic.MatchWildcard:
		switch match {
		case topic.MatchPrefix:
			return strings.HasPrefix(q.fixed, uri)
		case topic.MatchWildcard:
			// q's components taken as names (an empty one, q's wildcard,
			// only matched by the rule's wildcard): the per-component rule.
			if len(comps) != len(q.comps) {
				return false
			}
			for i, c := range comps {
				if !topic.ComponentMatches(c, q.comps[i]) {
					return false
				}
			}
			return true
		}
	}
	return false
}

// overlaps reports whether some URI that q can match is also matched by a
// rule (resolved to uri and, for a wildcard rule, comps): the test of a deny
// rule. It errs on the side of overlapping: a wildcard's empty component is
// taken to match any component, even an empty one, and a prefix to go on
// with anything.
func overlaps(match topic.Match, uri string, comps []string, q *request) bool {
	switch q.match {
	case topic.MatchExact:
		// One URI: the rule matches it or not.
		return covers(match, uri, comps, q)
	case topic.MatchPrefix:
		switch match {
		case topic.MatchExact:
			return strings.HasPrefix(uri, q.uri)
		case topic.MatchPrefix:
			return strings.HasPrefix(uri, q.uri) || strings.HasPrefix(q.uri, uri)
		case topic.MatchWildcard:
			return prefixOverlapsWildcard(q.uri, comps)
		}
	case topic.MatchWildcard:
		switch match {
		case topic.MatchExact:
			return topic.MatchComponents(q.comps, uri)
		case topic.MatchPrefix:
			return prefixOverlapsWildcard(uri, q.comps)
		case topic.MatchWildcard:
			if len(comps) != len(q.comps) {
				return false
			}
			for i, c := range comps {
				if c != topic.AnyComponent && q.comps[i] != topic.AnyComponent && c != q.comps[i] {
					return false
				}
			}
			return true
		}
	}
	return true // an unknown match: overlapping is the safe answer
}

// prefixOverlapsWildcard reports whether some URI that starts with p is
// matched by the wildcard pattern w (split on '.').
func prefixOverlapsWildcard(p string, w []string) bool {
	r := p // what the URI must still start with
	for i, c := range w {
		if r == "" {
			return true
		}
		last := i == len(w)-1
		if c == topic.AnyComponent {
			k := strings.IndexByte(r, '.')
			if k < 0 {
				return true // r ends inside this component, which may be anything
			}
			if last {
				return false // r goes on past the pattern's last component
			}
			r = r[k+1:]
			continue
		}
		if len(r) <= len(c) {
			return strings.HasPrefix(c, r)
		}
		if last || r[:len(c)] != c || r[len(c)] != '.' {
			return false
		}
		r = r[len(c)+1:]
	}
	return r == ""
}

// denied reports whether a deny rule of ar overlaps q for id. A deny rule
// whose placeholder has no valid value for id denies every request: it
// cannot say what it spares.
func (ar *actionRules) denied(id *Identity, q *request) bool {
	if len(ar.denyExact) > 0 {
		if q.match == topic.MatchExact {
			if _, ok := ar.denyExact[q.uri]; ok {
				return true
			}
		} else {
			for uri := range ar.denyExact {
				if overlaps(topic.MatchExact, uri, nil, q) {
					return true
				}
			}
		}
	}
	for i := range ar.deny {
		r := &ar.deny[i]
		ruri, comps, ok := r.resolve(id)
		if !ok || overlaps(r.match, ruri, comps, q) {
			return true
		}
	}
	return false
}

// Allowed reports whether id may perform action on what uri and match
// select: for publish and call an exact URI, for subscribe and register a
// pattern with WAMP's match semantics (see topic.Match).
//
// It is allowed only if a single rule of id's role that allows action covers
// every URI the request can match:
//   - an exact request u is covered by an exact rule equal to u, a prefix
//     rule u starts with, a wildcard rule u matches;
//   - a prefix request p only by a prefix rule that p starts with;
//   - a wildcard request w (w without an empty component is an exact
//     request) by a wildcard rule with as many components, each empty or
//     equal to w's non-empty one, or by a prefix rule that w's components
//     before its first empty one, joined and followed by '.', start with
//     ("a..c" is covered by prefix "a." and "a", not by "a.b").
//
// A deny rule wins: the request is refused if any URI it can match is
// matched by a rule of id's role that denies action, whatever the allow
// rules say. So a subscription to the prefix "devices." is refused under a
// deny of the wildcard "devices..admin", while "devices..temp" is not:
//   - an exact request u is refused by a deny rule that matches u;
//   - a prefix request p by an exact rule that starts with p, a prefix rule
//     that starts with p or that p starts with, a wildcard rule that some
//     URI starting with p matches;
//   - a wildcard request w by an exact rule w matches, a prefix rule that
//     some URI w matches starts with, a wildcard rule with as many
//     components where each pair is equal or one of the two is empty.
//
// {authid} and {clientid} in a rule are replaced by id.AuthID and
// id.ClientID; a value that is empty or contains '.', '#', '+', '*', '/',
// '%', a brace, white space or a control character matches no allow rule,
// and makes a deny rule refuse every request of its action. A
// request URI with a brace, or an exact one with an empty component, is
// refused. Anonymous identities (Method "anonymous") have their realm's
// current anonymous role. An unknown realm, role or action is refused.
func (a *Authority) Allowed(id Identity, action Action, uri string, match topic.Match) bool {
	q, ok := newRequest(uri, match)
	if !ok {
		return false
	}
	ar := a.rulesFor(&id, action)
	if ar == nil {
		return false
	}
	if (len(ar.denyExact) > 0 || len(ar.deny) > 0) && ar.denied(&id, &q) {
		return false
	}
	if q.match == topic.MatchExact {
		if _, ok := ar.exact[q.uri]; ok {
			return true
		}
	}
	for i := range ar.rules {
		r := &ar.rules[i]
		ruri, comps, ok := r.resolve(&id)
		if ok && covers(r.match, ruri, comps, &q) {
			return true
		}
	}
	return false
}

// Discloses reports whether a rule of id's role that allows action on the
// exact uri asks for the identity of the caller or publisher to be
// disclosed.
func (a *Authority) Discloses(id Identity, action Action, uri string) bool {
	ar := a.rulesFor(&id, action)
	if ar == nil || !ar.discloses {
		return false
	}
	q, ok := newRequest(uri, topic.MatchExact)
	if !ok {
		return false
	}
	if ar.exact[q.uri] {
		return true
	}
	for i := range ar.rules {
		r := &ar.rules[i]
		if !r.disclose {
			continue
		}
		ruri, comps, ok := r.resolve(&id)
		if ok && covers(r.match, ruri, comps, &q) {
			return true
		}
	}
	return false
}

// rulesFor returns the rules of id's role for action in the current
// configuration, or nil if there are none.
func (a *Authority) rulesFor(id *Identity, action Action) *actionRules {
	idx, ok := actionIndex(action)
	if !ok {
		return nil
	}
	s := a.state.Load()
	realm, ok := s.realms[id.Realm]
	if !ok {
		return nil
	}
	roleName := id.Role
	if id.Method == methodAnonymous {
		roleName = realm.anonymousRole
	}
	role, ok := realm.roles[roleName]
	if !ok || roleName == "" {
		return nil
	}
	return &role.byAction[idx]
}
