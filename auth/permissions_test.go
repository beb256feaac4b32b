package auth

import (
	"fmt"
	"testing"
)

// oneRuleAuthority returns an Authority with realm "r" whose role "t" has
// the single rule p.
func oneRuleAuthority(t *testing.T, p Permission) *Authority {
	t.Helper()
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{p}}}}}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a
}

func TestAllowedCoverage(t *testing.T) {
	exact := func(uri string) Permission {
		return Permission{URI: uri, Match: MatchExact, Allow: []Action{ActionSubscribe}}
	}
	prefix := func(uri string) Permission {
		return Permission{URI: uri, Match: MatchPrefix, Allow: []Action{ActionSubscribe}}
	}
	wild := func(uri string) Permission {
		return Permission{URI: uri, Match: MatchWildcard, Allow: []Action{ActionSubscribe}}
	}

	tests := []struct {
		rule  Permission
		uri   string
		match Match
		want  bool
	}{
		// Exact requests.
		{exact("a.b.c"), "a.b.c", MatchExact, true},
		{exact("a.b.c"), "a.b", MatchExact, false},
		{exact("a.b.c"), "a.b.c.d", MatchExact, false},
		{exact("a.b.c"), "a.b.cd", MatchExact, false},
		{prefix("a.b"), "a.b", MatchExact, true},
		{prefix("a.b"), "a.bc", MatchExact, true},
		{prefix("a.b"), "a.b.c", MatchExact, true},
		{prefix("a.b."), "a.b", MatchExact, false},
		{prefix("a.b"), "a.c", MatchExact, false},
		{prefix("a.b"), "a", MatchExact, false},
		{prefix(""), "x", MatchExact, true},
		{prefix(""), "x.y.z", MatchExact, true},
		{wild("a..c"), "a.x.c", MatchExact, true},
		{wild("a..c"), "a.x.y.c", MatchExact, false},
		{wild("a..c"), "a.c", MatchExact, false},
		{wild("a..c"), "b.x.c", MatchExact, false},
		{wild("a..c"), "a.x.d", MatchExact, false},
		{wild("a..c"), "a.x.cc", MatchExact, false},
		{wild("a.."), "a.b.c", MatchExact, true},
		{wild("a.."), "a.b", MatchExact, false},
		{wild("..c"), "a.b.c", MatchExact, true},
		{wild(".."), "a.b.c", MatchExact, true},
		{wild(".."), "a.b.c.d", MatchExact, false},
		{wild(""), "x", MatchExact, true},
		{wild(""), "x.y", MatchExact, false},
		{wild("a."), "a.b", MatchExact, true},
		{wild("a."), "a", MatchExact, false},
		{wild("a.b.c"), "a.b.c", MatchExact, true},
		{wild("a.b.c"), "a.b.d", MatchExact, false},

		// Invalid requests are refused, even under a rule that allows all.
		{prefix(""), "", MatchExact, false},
		{prefix(""), "a..b", MatchExact, false},
		{prefix(""), ".a", MatchExact, false},
		{prefix(""), "a.", MatchExact, false},
		{prefix(""), "a.{authid}", MatchExact, false},
		{prefix(""), "a.}", MatchExact, false},
		{prefix(""), "a{", MatchPrefix, false},
		{prefix(""), "a.}.", MatchWildcard, false},
		{prefix(""), "a.b", Match("glob"), false},
		{prefix(""), "a.b", Match(""), false},
		{prefix(""), "a.\xff", MatchExact, false},

		// Prefix requests: only a prefix rule the request starts with.
		{prefix("a."), "a.b", MatchPrefix, true},
		{prefix("a."), "a.", MatchPrefix, true},
		{prefix("a."), "a", MatchPrefix, false}, // "a" also selects "ab"
		{prefix("a."), "", MatchPrefix, false},
		{prefix("a.b"), "a.bc", MatchPrefix, true},
		{prefix("a.b"), "a.b", MatchPrefix, true},
		{prefix("a.bc"), "a.b", MatchPrefix, false},
		{prefix(""), "", MatchPrefix, true},
		{prefix(""), "wamp.", MatchPrefix, true},
		{exact("a.b"), "a.b", MatchPrefix, false},
		{exact("a.b"), "a.b.c", MatchPrefix, false},
		{wild("a."), "a.", MatchPrefix, false},
		{wild(".."), "", MatchPrefix, false},
		{wild("a.b"), "a.b", MatchPrefix, false},

		// Wildcard requests without an empty component are exact.
		{exact("a.b.c"), "a.b.c", MatchWildcard, true},
		{prefix("a.b"), "a.b.c", MatchWildcard, true},
		{wild("a..c"), "a.b.c", MatchWildcard, true},
		{exact("a.b.c"), "a.b.d", MatchWildcard, false},

		// Wildcard requests against exact rules: never.
		{exact("a.b.c"), "a..c", MatchWildcard, false},
		{exact("a"), "", MatchWildcard, false},

		// Wildcard requests against prefix rules: the fixed start.
		{prefix("a."), "a..c", MatchWildcard, true},
		{prefix("a"), "a..c", MatchWildcard, true},
		{prefix(""), "a..c", MatchWildcard, true},
		{prefix("a.b"), "a..c", MatchWildcard, false},
		{prefix("a.."), "a..c", MatchWildcard, false},
		{prefix("a.b."), "a.b.", MatchWildcard, true},
		{prefix("a.b"), "a.b.", MatchWildcard, true},
		{prefix("a.b.c"), "a.b.", MatchWildcard, false},
		{prefix("a.b."), "a.b..", MatchWildcard, true},
		{prefix("a.b."), "a.b..d", MatchWildcard, true},
		{prefix("a.b.x"), "a.b..d", MatchWildcard, false},
		{prefix(""), "..c", MatchWildcard, true},
		{prefix("a"), "..c", MatchWildcard, false},
		{prefix("."), "..c", MatchWildcard, false},
		{prefix(""), "", MatchWildcard, true},
		{prefix("x"), "", MatchWildcard, false},

		// Wildcard requests against wildcard rules: per component.
		{wild("a..c"), "a..c", MatchWildcard, true},
		{wild("..c"), "a..c", MatchWildcard, true},
		{wild("a.."), "a..c", MatchWildcard, true},
		{wild(".."), "a..c", MatchWildcard, true},
		{wild("..."), "...", MatchWildcard, true},
		{wild(".."), "...", MatchWildcard, false},
		{wild("..."), "a..c", MatchWildcard, false}, // component count
		{wild("a..c.d"), "a..c", MatchWildcard, false},
		{wild("a.b.c"), "a..c", MatchWildcard, false}, // rule fixes what the request leaves open
		{wild("a..d"), "a..c", MatchWildcard, false},
		{wild("b..c"), "a..c", MatchWildcard, false},
		{wild(""), "", MatchWildcard, true},
		{wild("x"), "", MatchWildcard, false},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("rule %s %q / request %s %q", tc.rule.Match, tc.rule.URI, tc.match, tc.uri)
		t.Run(name, func(t *testing.T) {
			a := oneRuleAuthority(t, tc.rule)
			id := Identity{AuthID: "alice", Role: "t", Realm: "r", Method: "password"}
			if got := a.Allowed(id, ActionSubscribe, tc.uri, tc.match); got != tc.want {
				t.Errorf("Allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAllowedPlaceholders(t *testing.T) {
	rule := func(m Match, uri string) Permission {
		return Permission{URI: uri, Match: m, Allow: []Action{ActionPublish, ActionSubscribe}}
	}
	tests := []struct {
		name     string
		rule     Permission
		authid   string
		clientid string
		action   Action
		uri      string
		match    Match
		want     bool
	}{
		{"own prefix", rule(MatchPrefix, "devices.{authid}."), "dev1", "", ActionPublish, "devices.dev1.temp", MatchExact, true},
		{"other's prefix", rule(MatchPrefix, "devices.{authid}."), "dev1", "", ActionPublish, "devices.dev2.temp", MatchExact, false},
		{"own subtree subscribe", rule(MatchPrefix, "devices.{authid}."), "dev1", "", ActionSubscribe, "devices.dev1.", MatchPrefix, true},
		{"dotted authid", rule(MatchPrefix, "devices.{authid}."), "a.b", "", ActionPublish, "devices.a.b.temp", MatchExact, false},
		{"dotted authid prefix-less rule", rule(MatchPrefix, "devices.{authid}"), "dev1.x", "", ActionPublish, "devices.dev1.x", MatchExact, false},
		{"hash authid", rule(MatchPrefix, "devices.{authid}."), "#", "", ActionPublish, "devices.#.temp", MatchExact, false},
		{"plus authid", rule(MatchPrefix, "devices.{authid}."), "+", "", ActionPublish, "devices.+.temp", MatchExact, false},
		{"star authid", rule(MatchPrefix, "devices.{authid}."), "*", "", ActionPublish, "devices.*.temp", MatchExact, false},
		{"empty authid prefix", rule(MatchPrefix, "devices.{authid}"), "", "", ActionPublish, "devices.dev2", MatchExact, false},
		{"empty authid exact", rule(MatchExact, "{authid}inbox"), "", "", ActionPublish, "inbox", MatchExact, false},
		{"slash authid", rule(MatchPrefix, "devices.{authid}."), "a/b", "", ActionPublish, "devices.a/b.temp", MatchExact, false},
		{"percent authid", rule(MatchPrefix, "devices.{authid}."), "a%2Eb", "", ActionPublish, "devices.a%2Eb.temp", MatchExact, false},
		{"space authid", rule(MatchPrefix, "devices.{authid}."), "a b", "", ActionPublish, "devices.a b.temp", MatchExact, false},
		{"brace authid", rule(MatchPrefix, "devices.{authid}."), "{clientid}", "c1", ActionPublish, "devices.c1.temp", MatchExact, false},
		{"exact own", rule(MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.alice", MatchExact, true},
		{"exact other", rule(MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.bob", MatchExact, false},
		{"exact not a prefix", rule(MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.alice.x", MatchExact, false},
		{"twice in a rule", rule(MatchExact, "{authid}.to.{authid}"), "alice", "", ActionPublish, "alice.to.alice", MatchExact, true},
		{"twice in a rule, other", rule(MatchExact, "{authid}.to.{authid}"), "alice", "", ActionPublish, "alice.to.bob", MatchExact, false},
		{"wildcard rule own", rule(MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionPublish, "rooms.alice.7.msg", MatchExact, true},
		{"wildcard rule, wildcard request", rule(MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionSubscribe, "rooms.alice..msg", MatchWildcard, true},
		{"wildcard rule other", rule(MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionSubscribe, "rooms.bob..msg", MatchWildcard, false},
		{"wildcard rule dotted authid", rule(MatchWildcard, "rooms.{authid}..msg"), "a.b", "", ActionPublish, "rooms.a.b.msg", MatchExact, false},
		{"partial component", rule(MatchPrefix, "user-{authid}."), "alice", "", ActionPublish, "user-alice.x", MatchExact, true},
		{"clientid own", rule(MatchPrefix, "clients.{clientid}."), "alice", "c1", ActionPublish, "clients.c1.status", MatchExact, true},
		{"clientid other", rule(MatchPrefix, "clients.{clientid}."), "alice", "c1", ActionPublish, "clients.c2.status", MatchExact, false},
		{"clientid empty (WAMP)", rule(MatchPrefix, "clients.{clientid}"), "alice", "", ActionPublish, "clients.x", MatchExact, false},
		{"clientid dotted", rule(MatchPrefix, "clients.{clientid}."), "alice", "c.1", ActionPublish, "clients.c.1.x", MatchExact, false},
		{"clientid hash", rule(MatchPrefix, "clients.{clientid}"), "alice", "#", ActionPublish, "clients.#", MatchExact, false},
		{"both", rule(MatchExact, "x.{authid}.{clientid}"), "alice", "c1", ActionPublish, "x.alice.c1", MatchExact, true},
		{"both, bad clientid", rule(MatchExact, "x.{authid}.{clientid}"), "alice", "*", ActionPublish, "x.alice.*", MatchExact, false},
		{"both, bad authid", rule(MatchExact, "x.{authid}.{clientid}"), "+", "c1", ActionPublish, "x.+.c1", MatchExact, false},
		{"literal placeholder in request", rule(MatchPrefix, "devices.{authid}."), "alice", "", ActionPublish, "devices.{authid}.x", MatchExact, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := oneRuleAuthority(t, tc.rule)
			id := Identity{AuthID: tc.authid, ClientID: tc.clientid, Role: "t", Realm: "r", Method: "password"}
			if got := a.Allowed(id, tc.action, tc.uri, tc.match); got != tc.want {
				t.Errorf("Allowed(%q, %s %q) = %v, want %v", tc.authid, tc.match, tc.uri, got, tc.want)
			}
		})
	}
}

func TestAllowedEachAction(t *testing.T) {
	all := []Action{ActionPublish, ActionSubscribe, ActionCall, ActionRegister}
	for _, allowed := range all {
		for _, m := range []Match{MatchExact, MatchPrefix, MatchWildcard} {
			t.Run(fmt.Sprintf("%s/%s", allowed, m), func(t *testing.T) {
				a := oneRuleAuthority(t, Permission{URI: "a.b", Match: m, Allow: []Action{allowed}})
				id := Identity{AuthID: "alice", Role: "t", Realm: "r"}
				for _, asked := range all {
					if got, want := a.Allowed(id, asked, "a.b", MatchExact), asked == allowed; got != want {
						t.Errorf("Allowed(%s) = %v, want %v", asked, got, want)
					}
				}
				if a.Allowed(id, Action("delete"), "a.b", MatchExact) || a.Allowed(id, Action(""), "a.b", MatchExact) {
					t.Error("an unknown action was allowed")
				}
			})
		}
	}
}

func TestAllowedRolesAndRealms(t *testing.T) {
	cfg := Config{Realms: []Realm{
		{
			Name:          "r",
			AnonymousRole: "guest",
			Roles: []Role{
				{Name: "guest", Permissions: []Permission{{URI: "public.", Match: MatchPrefix, Allow: []Action{ActionSubscribe}}}},
				{Name: "admin", Permissions: []Permission{{URI: "", Match: MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe, ActionCall, ActionRegister}}}},
				{Name: "nothing"},
			},
		},
		{
			Name: "closed",
			Roles: []Role{
				{Name: "admin", Permissions: []Permission{{URI: "", Match: MatchPrefix, Allow: []Action{ActionSubscribe}}}},
			},
		},
	}}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	anon, err := a.Anonymous("r")
	if err != nil {
		t.Fatal(err)
	}
	anon.AuthID = "anon-1"
	tests := []struct {
		name  string
		id    Identity
		uri   string
		match Match
		want  bool
	}{
		{"anonymous in its role", anon, "public.", MatchPrefix, true},
		{"anonymous outside its role", anon, "private.x", MatchExact, false},
		{"anonymous with a forged role", Identity{AuthID: "x", Role: "admin", Realm: "r", Method: "anonymous"}, "private.x", MatchExact, false},
		{"anonymous where anonymous is off", Identity{AuthID: "x", Role: "admin", Realm: "closed", Method: "anonymous"}, "a", MatchExact, false},
		{"admin", Identity{AuthID: "root", Role: "admin", Realm: "r", Method: "password"}, "", MatchPrefix, true},
		{"role without rules", Identity{AuthID: "n", Role: "nothing", Realm: "r"}, "public.x", MatchExact, false},
		{"unknown role", Identity{AuthID: "n", Role: "ghost", Realm: "r"}, "public.x", MatchExact, false},
		{"empty role", Identity{AuthID: "n", Realm: "r"}, "public.x", MatchExact, false},
		{"unknown realm", Identity{AuthID: "root", Role: "admin", Realm: "nope"}, "a", MatchExact, false},
		{"empty realm", Identity{AuthID: "root", Role: "admin"}, "a", MatchExact, false},
		{"role of another realm", Identity{AuthID: "g", Role: "guest", Realm: "closed"}, "public.x", MatchExact, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := a.Allowed(tc.id, ActionSubscribe, tc.uri, tc.match); got != tc.want {
				t.Errorf("Allowed = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestAllowedSeveralRules(t *testing.T) {
	// One rule must cover the whole request: two prefix rules "a.b." and
	// "a.c." together cover the wildcard "a..x" only for b and c, so not at
	// all; the union is not computed.
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "a.b.", Match: MatchPrefix, Allow: []Action{ActionSubscribe}},
		{URI: "a.c.", Match: MatchPrefix, Allow: []Action{ActionSubscribe}},
		{URI: "x.y", Match: MatchExact, Allow: []Action{ActionCall}},
		{URI: "x.z", Match: MatchExact, Allow: []Action{ActionCall, ActionRegister}},
	}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{AuthID: "u", Role: "t", Realm: "r"}
	for _, tc := range []struct {
		action Action
		uri    string
		match  Match
		want   bool
	}{
		{ActionSubscribe, "a.b.1", MatchExact, true},
		{ActionSubscribe, "a.c.1", MatchExact, true},
		{ActionSubscribe, "a..x", MatchWildcard, false},
		{ActionSubscribe, "a.b..x", MatchWildcard, true},
		{ActionCall, "x.y", MatchExact, true},
		{ActionCall, "x.z", MatchExact, true},
		{ActionRegister, "x.y", MatchExact, false},
		{ActionRegister, "x.z", MatchExact, true},
		{ActionRegister, "x.", MatchPrefix, false},
	} {
		if got := a.Allowed(id, tc.action, tc.uri, tc.match); got != tc.want {
			t.Errorf("Allowed(%s %s %q) = %v, want %v", tc.action, tc.match, tc.uri, got, tc.want)
		}
	}
}

func TestDiscloses(t *testing.T) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "open.x", Match: MatchExact, Allow: []Action{ActionCall}},
		{URI: "audited.x", Match: MatchExact, Allow: []Action{ActionCall}},
		{URI: "audited.x", Match: MatchExact, Allow: []Action{ActionCall}, Disclose: true},
		{URI: "audit.", Match: MatchPrefix, Allow: []Action{ActionPublish}, Disclose: true},
		{URI: "rooms..msg", Match: MatchWildcard, Allow: []Action{ActionPublish}, Disclose: true},
		{URI: "own.{authid}", Match: MatchExact, Allow: []Action{ActionPublish}, Disclose: true},
	}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{AuthID: "alice", Role: "t", Realm: "r"}
	for _, tc := range []struct {
		id     Identity
		action Action
		uri    string
		want   bool
	}{
		{id, ActionCall, "open.x", false},
		{id, ActionCall, "audited.x", true},
		{id, ActionPublish, "audited.x", false},
		{id, ActionPublish, "audit.a.b", true},
		{id, ActionCall, "audit.a.b", false},
		{id, ActionPublish, "rooms.1.msg", true},
		{id, ActionPublish, "rooms.1.2.msg", false},
		{id, ActionPublish, "own.alice", true},
		{id, ActionPublish, "own.bob", false},
		{Identity{AuthID: "a.b", Role: "t", Realm: "r"}, ActionPublish, "own.a.b", false},
		{id, ActionPublish, "audit..x", false},
		{Identity{AuthID: "alice", Role: "t", Realm: "nope"}, ActionCall, "audited.x", false},
		{id, Action("x"), "audited.x", false},
	} {
		if got := a.Discloses(tc.id, tc.action, tc.uri); got != tc.want {
			t.Errorf("Discloses(%q, %s, %q) = %v, want %v", tc.id.AuthID, tc.action, tc.uri, got, tc.want)
		}
	}
}

func TestWildcardMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern []string
		uri     string
		want    bool
	}{
		{[]string{""}, "", true},
		{[]string{""}, "a", true},
		{[]string{"", ""}, ".", true},
		{[]string{"a"}, "a", true},
		{[]string{"a"}, "a.b", false},
		{[]string{"a", ""}, "a", false},
		{[]string{"a", "", "c"}, "a.b.c", true},
		{[]string{"a", "", "c"}, "a.b.c.", false},
	} {
		if got := wildcardMatches(tc.pattern, tc.uri); got != tc.want {
			t.Errorf("wildcardMatches(%q, %q) = %v, want %v", tc.pattern, tc.uri, got, tc.want)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "svc.status", Match: MatchExact, Allow: []Action{ActionPublish}},
		{URI: "rooms..msg", Match: MatchWildcard, Allow: []Action{ActionPublish}},
		{URI: "devices.{authid}.", Match: MatchPrefix, Allow: []Action{ActionPublish}},
	}}}}}})
	if err != nil {
		b.Fatal(err)
	}
	id := Identity{AuthID: "dev1", Role: "t", Realm: "r"}
	for _, bc := range []struct{ name, uri string }{
		{"exact rule", "svc.status"},
		{"wildcard rule", "rooms.7.msg"},
		{"placeholder rule", "devices.dev1.temp"},
		{"refused", "other.topic"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Allowed(id, ActionPublish, bc.uri, MatchExact)
			}
		})
	}
}
