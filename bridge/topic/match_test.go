package topic

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseMatch(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Match
		err  bool
	}{
		{"exact", MatchExact, false},
		{"prefix", MatchPrefix, false},
		{"wildcard", MatchWildcard, false},
		{"", "", true},
		{"Exact", "", true},
		{"regex", "", true},
	} {
		got, err := ParseMatch(tc.in)
		if got != tc.want || (err != nil) != tc.err || err != nil && !errors.Is(err, ErrMatch) {
			t.Errorf("ParseMatch(%q) = %q, %v", tc.in, got, err)
		}
	}
	if Match("").OrExact() != MatchExact || MatchPrefix.OrExact() != MatchPrefix {
		t.Error("OrExact")
	}
}

func TestPatternMatches(t *testing.T) {
	for _, tc := range []struct {
		p    Pattern
		uri  string
		want bool
	}{
		{Pattern{"a.b", MatchExact}, "a.b", true},
		{Pattern{"a.b", ""}, "a.b", true},
		{Pattern{"a.b", MatchExact}, "a.b.c", false},
		{Pattern{"a.b", MatchPrefix}, "a.b", true},
		{Pattern{"a.b", MatchPrefix}, "a.bc", true},
		{Pattern{"a.b", MatchPrefix}, "a.b.c", true},
		{Pattern{"a.b", MatchPrefix}, "a", false},
		{Pattern{"", MatchPrefix}, "x", true},
		{Pattern{"a..c", MatchWildcard}, "a.x.c", true},
		{Pattern{"a..c", MatchWildcard}, "a..c", true},
		{Pattern{"a..c", MatchWildcard}, "a.c", false},
		{Pattern{"a..c", MatchWildcard}, "a.x.y.c", false},
		{Pattern{"a..c", MatchWildcard}, "a.x.d", false},
		{Pattern{"", MatchWildcard}, "x", true},
		{Pattern{"", MatchWildcard}, "x.y", false},
		{Pattern{".", MatchWildcard}, "x.y", true},
		{Pattern{"a.", MatchWildcard}, "a.b", true},
		{Pattern{"a.", MatchWildcard}, "b.b", false},
		{Pattern{"a.b", "regex"}, "a.b", false},
	} {
		if got := tc.p.Matches(tc.uri); got != tc.want {
			t.Errorf("%v.Matches(%q) = %v, want %v", tc.p, tc.uri, got, tc.want)
		}
	}
}

func TestMatchComponents(t *testing.T) {
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
		{nil, "", false},
	} {
		if got := MatchComponents(tc.pattern, tc.uri); got != tc.want {
			t.Errorf("MatchComponents(%q, %q) = %v, want %v", tc.pattern, tc.uri, got, tc.want)
		}
	}
}

// naiveWildcard is the wildcard rule, written plainly: the test's oracle.
func naiveWildcard(pattern, uri string) bool {
	p, u := strings.Split(pattern, "."), strings.Split(uri, ".")
	if len(p) != len(u) {
		return false
	}
	for i := range p {
		if p[i] != "" && p[i] != u[i] {
			return false
		}
	}
	return true
}

// randName joins 1 to 4 parts from parts by sep.
func randName(rng *rand.Rand, parts []string, sep string) string {
	n := 1 + rng.IntN(4)
	s := make([]string, n)
	for i := range s {
		s[i] = parts[rng.IntN(len(parts))]
	}
	return strings.Join(s, sep)
}

// Matches and MatchComponents agree with the plain rule on random wildcard
// patterns and URIs.
func TestWildcardRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	comps := []string{"a", "b", "", "ab"}
	for range 20000 {
		checkWildcard(t, randName(rng, comps, "."), randName(rng, comps, "."))
	}
}

// checkWildcard fails t unless both wildcard matchers agree with the plain
// rule on pattern p and URI u.
func checkWildcard(t *testing.T, p, u string) {
	t.Helper()
	want := naiveWildcard(p, u)
	if got := (Pattern{p, MatchWildcard}).Matches(u); got != want {
		t.Fatalf("Matches(%q, %q) = %v, want %v", p, u, got, want)
	}
	if got := MatchComponents(strings.Split(p, "."), u); got != want {
		t.Fatalf("MatchComponents(%q, %q) = %v, want %v", p, u, got, want)
	}
}

func FuzzWildcard(f *testing.F) {
	for _, s := range [][2]string{{"a..c", "a.b.c"}, {"", ""}, {".", "a."}, {"a.b", "a.b.c"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(checkWildcard)
}

func BenchmarkPatternMatches(b *testing.B) {
	ps := []Pattern{{"com.acme.devices.42.temp", MatchExact}, {"com.acme.", MatchPrefix}, {"com.acme..42.temp", MatchWildcard}}
	split := strings.Split(ps[2].URI, ".")
	uri := "com.acme.devices.42.temp"
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range ps {
			if !p.Matches(uri) {
				b.Fatal(p)
			}
		}
		if !MatchComponents(split, uri) {
			b.Fatal("split")
		}
	}
}
