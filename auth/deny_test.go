package auth

import (
	"fmt"
	"testing"

	"github.com/junctionmq/junction/bridge/topic"
)

// denyAuthority returns an Authority with realm "r" whose role "t" allows
// subscribe and publish everywhere and has the single deny rule of match m
// on uri for both.
func denyAuthority(t *testing.T, m topic.Match, uri string) *Authority {
	t.Helper()
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "", Match: topic.MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe}},
		{URI: uri, Match: m, Deny: []Action{ActionPublish, ActionSubscribe}},
	}}}}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

// TestDenyOverlap: a request is refused when any URI it can match is denied,
// for every kind of request against every kind of deny rule.
func TestDenyOverlap(t *testing.T) {
	const (
		ex = topic.MatchExact
		pr = topic.MatchPrefix
		wc = topic.MatchWildcard
	)
	tests := []struct {
		deny    topic.Match
		denyURI string
		match   topic.Match
		uri     string
		allowed bool
	}{
		// Exact deny.
		{ex, "devices.d1.admin", ex, "devices.d1.admin", false},
		{ex, "devices.d1.admin", ex, "devices.d1.temp", true},
		{ex, "devices.d1.admin", ex, "devices.d1.admin.x", true},
		{ex, "devices.d1.admin", ex, "devices.d1.admi", true},
		{ex, "devices.d1.admin", pr, "devices.", false},
		{ex, "devices.d1.admin", pr, "devices.d1.adm", false},
		{ex, "devices.d1.admin", pr, "", false},
		{ex, "devices.d1.admin", pr, "devices.d2.", true},
		{ex, "devices.d1.admin", pr, "devices.d1.admin.", true},
		{ex, "devices.d1.admin", wc, "devices..admin", false},
		{ex, "devices.d1.admin", wc, "devices.d1.", false},
		{ex, "devices.d1.admin", wc, "..", false},
		{ex, "devices.d1.admin", wc, "devices..temp", true},
		{ex, "devices.d1.admin", wc, "devices...", true},
		{ex, "devices.d1.admin", wc, "devices.", true},

		// Prefix deny.
		{pr, "devices.secret.", ex, "devices.secret.x", false},
		{pr, "devices.secret.", ex, "devices.secret", true},
		{pr, "devices.secret.", ex, "devices.secretive", true},
		{pr, "devices.secret.", pr, "devices.secret.x.", false}, // inside the denied subtree
		{pr, "devices.secret.", pr, "devices.", false},          // around it
		{pr, "devices.secret.", pr, "devices.sec", false},
		{pr, "devices.secret.", pr, "", false},
		{pr, "devices.secret.", pr, "devices.public.", true},
		{pr, "devices.secret.", pr, "devices.secretive", true},
		{pr, "devices.secret.", wc, "devices.secret.", false},
		{pr, "devices.secret.", wc, "devices..temp", false}, // devices.secret.temp
		{pr, "devices.secret.", wc, "...", false},
		{pr, "devices.secret.", wc, "devices.", true}, // two components: devices.secret has no dot after it
		{pr, "devices.secret.", wc, "devices.public.", true},
		{pr, "devices.secret.", wc, "..temp", false},
		{pr, "devices.secret.", wc, "x..temp", true},
		{pr, "devices.sec", wc, "devices.", false}, // devices.secret
		{pr, "devices.sec", wc, "devices..x", false},
		{pr, "devices.sec", wc, "devices.public.", true},
		{pr, "", ex, "anything", false},
		{pr, "", wc, "a..c", false},

		// Wildcard deny: everything under devices except devices/+/admin.
		{wc, "devices..admin", ex, "devices.d1.admin", false},
		{wc, "devices..admin", ex, "devices.d1.temp", true},
		{wc, "devices..admin", ex, "devices.d1.admin.x", true},
		{wc, "devices..admin", ex, "devices.admin", true},
		{wc, "devices..admin", pr, "devices.", false},
		{wc, "devices..admin", pr, "devices", false},
		{wc, "devices..admin", pr, "devices.d1.", false},
		{wc, "devices..admin", pr, "devices.d1.ad", false},
		{wc, "devices..admin", pr, "", false},
		{wc, "devices..admin", pr, "devices.d1.temp", true},
		{wc, "devices..admin", pr, "devices.d1.admin.", true}, // four components or more
		{wc, "devices..admin", pr, "other.", true},
		{wc, "devices..admin", wc, "devices..admin", false},
		{wc, "devices..admin", wc, "devices.d1.", false},
		{wc, "devices..admin", wc, "..", false},
		{wc, "devices..admin", wc, "devices..temp", true},
		{wc, "devices..admin", wc, "devices.", true},
		{wc, "devices..admin", wc, "devices...", true},
		{wc, "devices..admin", wc, "other..admin", true},
		{wc, "..admin", pr, "x.y.", false},
		{wc, "..admin", pr, "x.y.z.", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("deny %s %q, %s %q", tc.deny, tc.denyURI, tc.match, tc.uri), func(t *testing.T) {
			a := denyAuthority(t, tc.deny, tc.denyURI)
			id := Identity{AuthID: "u", Role: "t", Realm: "r", Method: "password"}
			action := ActionSubscribe
			if tc.match == topic.MatchExact {
				// An exact request is decided the same way for either action.
				if got := a.Allowed(id, ActionPublish, tc.uri, tc.match); got != tc.allowed {
					t.Errorf("publish: Allowed = %v, want %v", got, tc.allowed)
				}
			}
			if got := a.Allowed(id, action, tc.uri, tc.match); got != tc.allowed {
				t.Errorf("subscribe: Allowed = %v, want %v", got, tc.allowed)
			}
		})
	}
}

// TestDenyOverlapAgreesWithURIs checks overlaps against brute force: a
// request is refused exactly when some URI of a small universe that the
// request matches is matched by the deny rule.
func TestDenyOverlapAgreesWithURIs(t *testing.T) {
	comps := []string{"a", "b", "ab"}
	var universe []string
	var build func(prefix string, depth int)
	build = func(prefix string, depth int) {
		for _, c := range comps {
			u := c
			if prefix != "" {
				u = prefix + "." + c
			}
			universe = append(universe, u)
			if depth > 1 {
				build(u, depth-1)
			}
		}
	}
	build("", 4)
	var patterns []topic.Pattern
	for _, u := range []string{"a", "a.b", "a.ab.b", "b.a.a.b"} {
		patterns = append(patterns, topic.Pattern{URI: u, Match: topic.MatchExact})
	}
	for _, u := range []string{"", "a", "a.", "a.a", "a.b.", "b.a"} {
		patterns = append(patterns, topic.Pattern{URI: u, Match: topic.MatchPrefix})
	}
	for _, u := range []string{"a.", ".b", "..", "a..b", ".a.", "...b", "a.b."} {
		patterns = append(patterns, topic.Pattern{URI: u, Match: topic.MatchWildcard})
	}
	id := Identity{AuthID: "u", Role: "t", Realm: "r", Method: "password"}
	for _, deny := range patterns {
		a := denyAuthority(t, deny.Match, deny.URI)
		for _, req := range patterns {
			want := true
			for _, u := range universe {
				if req.Matches(u) && deny.Matches(u) {
					want = false
					break
				}
			}
			if got := a.Allowed(id, ActionSubscribe, req.URI, req.Match); got != want {
				t.Errorf("deny %s %q, subscribe %s %q: Allowed = %v, want %v", deny.Match, deny.URI, req.Match, req.URI, got, want)
			}
		}
	}
}

// TestDenyPlaceholders: {authid} and {clientid} work in deny rules, and a
// value that cannot fill one refuses every request of the action.
func TestDenyPlaceholders(t *testing.T) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "devices.", Match: topic.MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe}},
		{URI: "devices.{authid}.cmd", Match: topic.MatchExact, Deny: []Action{ActionPublish}},
		{URI: "devices.{clientid}.", Match: topic.MatchPrefix, Deny: []Action{ActionSubscribe}},
	}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		authid, clientid string
		action           Action
		uri              string
		match            topic.Match
		allowed          bool
	}{
		{"d1", "c1", ActionPublish, "devices.d1.cmd", topic.MatchExact, false},
		{"d1", "c1", ActionPublish, "devices.d2.cmd", topic.MatchExact, true},
		{"d1", "c1", ActionPublish, "devices.d1.temp", topic.MatchExact, true},
		{"d1", "c1", ActionSubscribe, "devices.c1.x", topic.MatchExact, false},
		{"d1", "c1", ActionSubscribe, "devices..x", topic.MatchWildcard, false},
		{"d1", "c1", ActionSubscribe, "devices.c2.", topic.MatchPrefix, true},
		{"d1", "", ActionSubscribe, "devices.c2.x", topic.MatchExact, false}, // no client id (WAMP): the deny cannot be placed
		{"a.b", "c1", ActionPublish, "devices.a.x", topic.MatchExact, false},
		{"+", "c1", ActionPublish, "devices.x.temp", topic.MatchExact, false},
	}
	for _, tc := range tests {
		id := Identity{AuthID: tc.authid, ClientID: tc.clientid, Role: "t", Realm: "r", Method: "password"}
		if got := a.Allowed(id, tc.action, tc.uri, tc.match); got != tc.allowed {
			t.Errorf("authid %q clientid %q %s %s %q: Allowed = %v, want %v", tc.authid, tc.clientid, tc.action, tc.match, tc.uri, got, tc.allowed)
		}
	}
}

// TestDenyOnlyItsActions: a deny of one action leaves the others, and a
// role whose only rule denies allows nothing.
func TestDenyOnlyItsActions(t *testing.T) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{
		{Name: "t", Permissions: []Permission{
			{URI: "", Match: topic.MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe, ActionCall, ActionRegister}},
			{URI: "svc.admin.", Match: topic.MatchPrefix, Deny: []Action{ActionCall}},
		}},
		{Name: "d", Permissions: []Permission{{URI: "x", Match: topic.MatchExact, Deny: []Action{ActionPublish}}}},
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{AuthID: "u", Role: "t", Realm: "r", Method: "password"}
	if a.Allowed(id, ActionCall, "svc.admin.reset", topic.MatchExact) {
		t.Error("call svc.admin.reset allowed")
	}
	if !a.Allowed(id, ActionCall, "svc.user.get", topic.MatchExact) {
		t.Error("call svc.user.get refused")
	}
	for _, act := range []Action{ActionPublish, ActionSubscribe, ActionRegister} {
		if !a.Allowed(id, act, "svc.admin.reset", topic.MatchExact) {
			t.Errorf("%s svc.admin.reset refused by a deny of call", act)
		}
	}
	if a.Allowed(Identity{AuthID: "u", Role: "d", Realm: "r", Method: "password"}, ActionPublish, "y", topic.MatchExact) {
		t.Error("a deny-only role allowed something")
	}
}
