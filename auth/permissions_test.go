package auth

import (
	"fmt"
	"testing"

	"github.com/junctionmq/junction/bridge/topic"
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
		return Permission{URI: uri, Match: topic.MatchExact, Allow: []Action{ActionSubscribe}}
	}
	prefix := func(uri string) Permission {
		return Permission{URI: uri, Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}}
	}
	wild := func(uri string) Permission {
		return Permission{URI: uri, Match: topic.MatchWildcard, Allow: []Action{ActionSubscribe}}
	}

	tests := []struct {
		rule  Permission
		uri   string
		match topic.Match
		want  bool
	}{
		// Exact requests.
		{exact("a.b.c"), "a.b.c", topic.MatchExact, true},
		{exact("a.b.c"), "a.b", topic.MatchExact, false},
		{exact("a.b.c"), "a.b.c.d", topic.MatchExact, false},
		{exact("a.b.c"), "a.b.cd", topic.MatchExact, false},
		{prefix("a.b"), "a.b", topic.MatchExact, true},
		{prefix("a.b"), "a.bc", topic.MatchExact, true},
		{prefix("a.b"), "a.b.c", topic.MatchExact, true},
		{prefix("a.b."), "a.b", topic.MatchExact, false},
		{prefix("a.b"), "a.c", topic.MatchExact, false},
		{prefix("a.b"), "a", topic.MatchExact, false},
		{prefix(""), "x", topic.MatchExact, true},
		{prefix(""), "x.y.z", topic.MatchExact, true},
		{wild("a..c"), "a.x.c", topic.MatchExact, true},
		{wild("a..c"), "a.x.y.c", topic.MatchExact, false},
		{wild("a..c"), "a.c", topic.MatchExact, false},
		{wild("a..c"), "b.x.c", topic.MatchExact, false},
		{wild("a..c"), "a.x.d", topic.MatchExact, false},
		{wild("a..c"), "a.x.cc", topic.MatchExact, false},
		{wild("a.."), "a.b.c", topic.MatchExact, true},
		{wild("a.."), "a.b", topic.MatchExact, false},
		{wild("..c"), "a.b.c", topic.MatchExact, true},
		{wild(".."), "a.b.c", topic.MatchExact, true},
		{wild(".."), "a.b.c.d", topic.MatchExact, false},
		{wild(""), "x", topic.MatchExact, true},
		{wild(""), "x.y", topic.MatchExact, false},
		{wild("a."), "a.b", topic.MatchExact, true},
		{wild("a."), "a", topic.MatchExact, false},
		{wild("a.b.c"), "a.b.c", topic.MatchExact, true},
		{wild("a.b.c"), "a.b.d", topic.MatchExact, false},

		// Invalid requests are refused, even under a rule that allows all.
		{prefix(""), "", topic.MatchExact, false},
		{prefix(""), "a..b", topic.MatchExact, false},
		{prefix(""), ".a", topic.MatchExact, false},
		{prefix(""), "a.", topic.MatchExact, false},
		{prefix(""), "a.{authid}", topic.MatchExact, false},
		{prefix(""), "a.}", topic.MatchExact, false},
		{prefix(""), "a{", topic.MatchPrefix, false},
		{prefix(""), "a.}.", topic.MatchWildcard, false},
		{prefix(""), "a.b", topic.Match("glob"), false},
		{prefix(""), "a.b", topic.Match(""), false},
		{prefix(""), "a.\xff", topic.MatchExact, false},

		// Prefix requests: only a prefix rule the request starts with.
		{prefix("a."), "a.b", topic.MatchPrefix, true},
		{prefix("a."), "a.", topic.MatchPrefix, true},
		{prefix("a."), "a", topic.MatchPrefix, false}, // "a" also selects "ab"
		{prefix("a."), "", topic.MatchPrefix, false},
		{prefix("a.b"), "a.bc", topic.MatchPrefix, true},
		{prefix("a.b"), "a.b", topic.MatchPrefix, true},
		{prefix("a.bc"), "a.b", topic.MatchPrefix, false},
		{prefix(""), "", topic.MatchPrefix, true},
		{prefix(""), "wamp.", topic.MatchPrefix, true},
		{exact("a.b"), "a.b", topic.MatchPrefix, false},
		{exact("a.b"), "a.b.c", topic.MatchPrefix, false},
		{wild("a."), "a.", topic.MatchPrefix, false},
		{wild(".."), "", topic.MatchPrefix, false},
		{wild("a.b"), "a.b", topic.MatchPrefix, false},

		// Wildcard requests without an empty component are exact.
		{exact("a.b.c"), "a.b.c", topic.MatchWildcard, true},
		{prefix("a.b"), "a.b.c", topic.MatchWildcard, true},
		{wild("a..c"), "a.b.c", topic.MatchWildcard, true},
		{exact("a.b.c"), "a.b.d", topic.MatchWildcard, false},

		// Wildcard requests against exact rules: never.
		{exact("a.b.c"), "a..c", topic.MatchWildcard, false},
		{exact("a"), "", topic.MatchWildcard, false},

		// Wildcard requests against prefix rules: the fixed start.
		{prefix("a."), "a..c", topic.MatchWildcard, true},
		{prefix("a"), "a..c", topic.MatchWildcard, true},
		{prefix(""), "a..c", topic.MatchWildcard, true},
		{prefix("a.b"), "a..c", topic.MatchWildcard, false},
		{prefix("a.."), "a..c", topic.MatchWildcard, false},
		{prefix("a.b."), "a.b.", topic.MatchWildcard, true},
		{prefix("a.b"), "a.b.", topic.MatchWildcard, true},
		{prefix("a.b.c"), "a.b.", topic.MatchWildcard, false},
		{prefix("a.b."), "a.b..", topic.MatchWildcard, true},
		{prefix("a.b."), "a.b..d", topic.MatchWildcard, true},
		{prefix("a.b.x"), "a.b..d", topic.MatchWildcard, false},
		{prefix(""), "..c", topic.MatchWildcard, true},
		{prefix("a"), "..c", topic.MatchWildcard, false},
		{prefix("."), "..c", topic.MatchWildcard, false},
		{prefix(""), "", topic.MatchWildcard, true},
		{prefix("x"), "", topic.MatchWildcard, false},

		// Wildcard requests against wildcard rules: per component.
		{wild("a..c"), "a..c", topic.MatchWildcard, true},
		{wild("..c"), "a..c", topic.MatchWildcard, true},
		{wild("a.."), "a..c", topic.MatchWildcard, true},
		{wild(".."), "a..c", topic.MatchWildcard, true},
		{wild("..."), "...", topic.MatchWildcard, true},
		{wild(".."), "...", topic.MatchWildcard, false},
		{wild("..."), "a..c", topic.MatchWildcard, false}, // component count
		{wild("a..c.d"), "a..c", topic.MatchWildcard, false},
		{wild("a.b.c"), "a..c", topic.MatchWildcard, false}, // rule fixes what the request leaves open
		{wild("a..d"), "a..c", topic.MatchWildcard, false},
		{wild("b..c"), "a..c", topic.MatchWildcard, false},
		{wild(""), "", topic.MatchWildcard, true},
		{wild("x"), "", topic.MatchWildcard, false},
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
	rule := func(m topic.Match, uri string) Permission {
		return Permission{URI: uri, Match: m, Allow: []Action{ActionPublish, ActionSubscribe}}
	}
	tests := []struct {
		name     string
		rule     Permission
		authid   string
		clientid string
		action   Action
		uri      string
		match    topic.Match
		want     bool
	}{
		{"own prefix", rule(topic.MatchPrefix, "devices.{authid}."), "dev1", "", ActionPublish, "devices.dev1.temp", topic.MatchExact, true},
		{"other's prefix", rule(topic.MatchPrefix, "devices.{authid}."), "dev1", "", ActionPublish, "devices.dev2.temp", topic.MatchExact, false},
		{"own subtree subscribe", rule(topic.MatchPrefix, "devices.{authid}."), "dev1", "", ActionSubscribe, "devices.dev1.", topic.MatchPrefix, true},
		{"dotted authid", rule(topic.MatchPrefix, "devices.{authid}."), "a.b", "", ActionPublish, "devices.a.b.temp", topic.MatchExact, false},
		{"dotted authid prefix-less rule", rule(topic.MatchPrefix, "devices.{authid}"), "dev1.x", "", ActionPublish, "devices.dev1.x", topic.MatchExact, false},
		{"hash authid", rule(topic.MatchPrefix, "devices.{authid}."), "#", "", ActionPublish, "devices.#.temp", topic.MatchExact, false},
		{"plus authid", rule(topic.MatchPrefix, "devices.{authid}."), "+", "", ActionPublish, "devices.+.temp", topic.MatchExact, false},
		{"star authid", rule(topic.MatchPrefix, "devices.{authid}."), "*", "", ActionPublish, "devices.*.temp", topic.MatchExact, false},
		{"empty authid prefix", rule(topic.MatchPrefix, "devices.{authid}"), "", "", ActionPublish, "devices.dev2", topic.MatchExact, false},
		{"empty authid exact", rule(topic.MatchExact, "{authid}inbox"), "", "", ActionPublish, "inbox", topic.MatchExact, false},
		{"slash authid", rule(topic.MatchPrefix, "devices.{authid}."), "a/b", "", ActionPublish, "devices.a/b.temp", topic.MatchExact, false},
		{"percent authid", rule(topic.MatchPrefix, "devices.{authid}."), "a%2Eb", "", ActionPublish, "devices.a%2Eb.temp", topic.MatchExact, false},
		{"space authid", rule(topic.MatchPrefix, "devices.{authid}."), "a b", "", ActionPublish, "devices.a b.temp", topic.MatchExact, false},
		{"brace authid", rule(topic.MatchPrefix, "devices.{authid}."), "{clientid}", "c1", ActionPublish, "devices.c1.temp", topic.MatchExact, false},
		{"exact own", rule(topic.MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.alice", topic.MatchExact, true},
		{"exact other", rule(topic.MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.bob", topic.MatchExact, false},
		{"exact not a prefix", rule(topic.MatchExact, "inbox.{authid}"), "alice", "", ActionPublish, "inbox.alice.x", topic.MatchExact, false},
		{"twice in a rule", rule(topic.MatchExact, "{authid}.to.{authid}"), "alice", "", ActionPublish, "alice.to.alice", topic.MatchExact, true},
		{"twice in a rule, other", rule(topic.MatchExact, "{authid}.to.{authid}"), "alice", "", ActionPublish, "alice.to.bob", topic.MatchExact, false},
		{"wildcard rule own", rule(topic.MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionPublish, "rooms.alice.7.msg", topic.MatchExact, true},
		{"wildcard rule, wildcard request", rule(topic.MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionSubscribe, "rooms.alice..msg", topic.MatchWildcard, true},
		{"wildcard rule other", rule(topic.MatchWildcard, "rooms.{authid}..msg"), "alice", "", ActionSubscribe, "rooms.bob..msg", topic.MatchWildcard, false},
		{"wildcard rule dotted authid", rule(topic.MatchWildcard, "rooms.{authid}..msg"), "a.b", "", ActionPublish, "rooms.a.b.msg", topic.MatchExact, false},
		{"partial component", rule(topic.MatchPrefix, "user-{authid}."), "alice", "", ActionPublish, "user-alice.x", topic.MatchExact, true},
		{"clientid own", rule(topic.MatchPrefix, "clients.{clientid}."), "alice", "c1", ActionPublish, "clients.c1.status", topic.MatchExact, true},
		{"clientid other", rule(topic.MatchPrefix, "clients.{clientid}."), "alice", "c1", ActionPublish, "clients.c2.status", topic.MatchExact, false},
		{"clientid empty (WAMP)", rule(topic.MatchPrefix, "clients.{clientid}"), "alice", "", ActionPublish, "clients.x", topic.MatchExact, false},
		{"clientid dotted", rule(topic.MatchPrefix, "clients.{clientid}."), "alice", "c.1", ActionPublish, "clients.c.1.x", topic.MatchExact, false},
		{"clientid hash", rule(topic.MatchPrefix, "clients.{clientid}"), "alice", "#", ActionPublish, "clients.#", topic.MatchExact, false},
		{"both", rule(topic.MatchExact, "x.{authid}.{clientid}"), "alice", "c1", ActionPublish, "x.alice.c1", topic.MatchExact, true},
		{"both, bad clientid", rule(topic.MatchExact, "x.{authid}.{clientid}"), "alice", "*", ActionPublish, "x.alice.*", topic.MatchExact, false},
		{"both, bad authid", rule(topic.MatchExact, "x.{authid}.{clientid}"), "+", "c1", ActionPublish, "x.+.c1", topic.MatchExact, false},
		{"literal placeholder in request", rule(topic.MatchPrefix, "devices.{authid}."), "alice", "", ActionPublish, "devices.{authid}.x", topic.MatchExact, false},
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
		for _, m := range []topic.Match{topic.MatchExact, topic.MatchPrefix, topic.MatchWildcard} {
			t.Run(fmt.Sprintf("%s/%s", allowed, m), func(t *testing.T) {
				a := oneRuleAuthority(t, Permission{URI: "a.b", Match: m, Allow: []Action{allowed}})
				id := Identity{AuthID: "alice", Role: "t", Realm: "r"}
				for _, asked := range all {
					if got, want := a.Allowed(id, asked, "a.b", topic.MatchExact), asked == allowed; got != want {
						t.Errorf("Allowed(%s) = %v, want %v", asked, got, want)
					}
				}
				if a.Allowed(id, Action("delete"), "a.b", topic.MatchExact) || a.Allowed(id, Action(""), "a.b", topic.MatchExact) {
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
				{Name: "guest", Permissions: []Permission{{URI: "public.", Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}}}},
				{Name: "admin", Permissions: []Permission{{URI: "", Match: topic.MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe, ActionCall, ActionRegister}}}},
				{Name: "nothing"},
			},
		},
		{
			Name: "closed",
			Roles: []Role{
				{Name: "admin", Permissions: []Permission{{URI: "", Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}}}},
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
		match topic.Match
		want  bool
	}{
		{"anonymous in its role", anon, "public.", topic.MatchPrefix, true},
		{"anonymous outside its role", anon, "private.x", topic.MatchExact, false},
		{"anonymous with a forged role", Identity{AuthID: "x", Role: "admin", Realm: "r", Method: "anonymous"}, "private.x", topic.MatchExact, false},
		{"anonymous where anonymous is off", Identity{AuthID: "x", Role: "admin", Realm: "closed", Method: "anonymous"}, "a", topic.MatchExact, false},
		{"admin", Identity{AuthID: "root", Role: "admin", Realm: "r", Method: "password"}, "", topic.MatchPrefix, true},
		{"role without rules", Identity{AuthID: "n", Role: "nothing", Realm: "r"}, "public.x", topic.MatchExact, false},
		{"unknown role", Identity{AuthID: "n", Role: "ghost", Realm: "r"}, "public.x", topic.MatchExact, false},
		{"empty role", Identity{AuthID: "n", Realm: "r"}, "public.x", topic.MatchExact, false},
		{"unknown realm", Identity{AuthID: "root", Role: "admin", Realm: "nope"}, "a", topic.MatchExact, false},
		{"empty realm", Identity{AuthID: "root", Role: "admin"}, "a", topic.MatchExact, false},
		{"role of another realm", Identity{AuthID: "g", Role: "guest", Realm: "closed"}, "public.x", topic.MatchExact, false},
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
		{URI: "a.b.", Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}},
		{URI: "a.c.", Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}},
		{URI: "x.y", Match: topic.MatchExact, Allow: []Action{ActionCall}},
		{URI: "x.z", Match: topic.MatchExact, Allow: []Action{ActionCall, ActionRegister}},
	}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{AuthID: "u", Role: "t", Realm: "r"}
	for _, tc := range []struct {
		action Action
		uri    string
		match  topic.Match
		want   bool
	}{
		{ActionSubscribe, "a.b.1", topic.MatchExact, true},
		{ActionSubscribe, "a.c.1", topic.MatchExact, true},
		{ActionSubscribe, "a..x", topic.MatchWildcard, false},
		{ActionSubscribe, "a.b..x", topic.MatchWildcard, true},
		{ActionCall, "x.y", topic.MatchExact, true},
		{ActionCall, "x.z", topic.MatchExact, true},
		{ActionRegister, "x.y", topic.MatchExact, false},
		{ActionRegister, "x.z", topic.MatchExact, true},
		{ActionRegister, "x.", topic.MatchPrefix, false},
	} {
		if got := a.Allowed(id, tc.action, tc.uri, tc.match); got != tc.want {
			t.Errorf("Allowed(%s %s %q) = %v, want %v", tc.action, tc.match, tc.uri, got, tc.want)
		}
	}
}

func TestDiscloses(t *testing.T) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "open.x", Match: topic.MatchExact, Allow: []Action{ActionCall}},
		{URI: "audited.x", Match: topic.MatchExact, Allow: []Action{ActionCall}},
		{URI: "audited.x", Match: topic.MatchExact, Allow: []Action{ActionCall}, Disclose: true},
		{URI: "audit.", Match: topic.MatchPrefix, Allow: []Action{ActionPublish}, Disclose: true},
		{URI: "rooms..msg", Match: topic.MatchWildcard, Allow: []Action{ActionPublish}, Disclose: true},
		{URI: "own.{authid}", Match: topic.MatchExact, Allow: []Action{ActionPublish}, Disclose: true},
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

func BenchmarkAllowed(b *testing.B) {
	a, err := New(Config{Realms: []Realm{{Name: "r", Roles: []Role{{Name: "t", Permissions: []Permission{
		{URI: "svc.status", Match: topic.MatchExact, Allow: []Action{ActionPublish}},
		{URI: "rooms..msg", Match: topic.MatchWildcard, Allow: []Action{ActionPublish}},
		{URI: "devices.{authid}.", Match: topic.MatchPrefix, Allow: []Action{ActionPublish}},
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
				a.Allowed(id, ActionPublish, bc.uri, topic.MatchExact)
			}
		})
	}
}
