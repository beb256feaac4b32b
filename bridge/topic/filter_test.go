package topic

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestFilterMatches(t *testing.T) {
	for _, c := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/b/c", false},
		{"a/+", "a", false},
		{"a/+", "a/", true},
		{"+/+", "a/b", true},
		{"a/#", "a", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"#", "a/b", true},
		{"#", "$SYS/x", false},
		{"+/x", "$SYS/x", false},
		{"$SYS/#", "$SYS/x", true},
		{"a/+/c", "a//c", true},
		{"a/b/#", "a/b", true},
		{"a/b/#", "a", false},
		{"", "", true},
	} {
		if got := FilterMatches(c.filter, c.topic); got != c.want {
			t.Errorf("FilterMatches(%q, %q) = %v, want %v", c.filter, c.topic, got, c.want)
		}
	}
}

// naiveFilter is the MQTT matching rule, written plainly: the test's oracle.
func naiveFilter(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	f, tp := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true
		}
		if i >= len(tp) || l != "+" && l != tp[i] {
			return false
		}
	}
	return len(f) == len(tp) || len(f) == len(tp)+1 && f[len(f)-1] == "#"
}

// FilterMatches agrees with the plain rule on random filters and topics.
func TestFilterMatchesRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	levels := []string{"a", "b", "", "$x", "+", "#"}
	gen := func(wild bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if !wild && (parts[i] == "+" || parts[i] == "#") || i > 0 && parts[i] == "$x" || parts[i] == "#" && i != n-1 {
				parts[i] = "b"
			}
		}
		return strings.Join(parts, "/")
	}
	for range 20000 {
		f, topic := gen(true), gen(false)
		if f == "" || topic == "" {
			continue // "" is no filter, no topic
		}
		if got, want := FilterMatches(f, topic), naiveFilter(f, topic); got != want {
			t.Fatalf("FilterMatches(%q, %q) = %v, naive %v", f, topic, got, want)
		}
	}
}

func FuzzFilterMatches(f *testing.F) {
	for _, s := range [][2]string{{"a/+/c", "a/b/c"}, {"#", "$SYS/x"}, {"a/#", "a"}, {"+", ""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		if CheckFilter(filter) != nil || strings.HasPrefix(filter, "$share/") || strings.ContainsAny(topic, "+#") {
			return
		}
		if got, want := FilterMatches(filter, topic), naiveFilter(filter, topic); got != want {
			t.Fatalf("FilterMatches(%q, %q) = %v, naive %v", filter, topic, got, want)
		}
	})
}

func TestCheckFilter(t *testing.T) {
	for _, tc := range []struct {
		f  string
		ok bool
	}{
		{"a/b", true},
		{"a/+/c", true},
		{"a/#", true},
		{"#", true},
		{"+", true},
		{"/", true},
		{"$share/g/a/#", true},
		{"", false},
		{"a/#/b", false},
		{"a/b#", false},
		{"a+/b", false},
		{"$share/g/", false},
		{"$share//a", false},
		{"$share/g+/a", false},
		{"$share/g", false},
	} {
		err := CheckFilter(tc.f)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrFilter) {
			t.Errorf("CheckFilter(%q) = %v", tc.f, err)
		}
	}
}

func TestCutShare(t *testing.T) {
	for _, tc := range []struct {
		f, group, filter string
		ok               bool
	}{
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/g/", "g", "", true},
		{"$share/g", "", "", false},
		{"a/b", "", "", false},
		{"$shared/g/a", "", "", false},
	} {
		g, f, ok := CutShare(tc.f)
		if g != tc.group || f != tc.filter || ok != tc.ok {
			t.Errorf("CutShare(%q) = %q, %q, %v", tc.f, g, f, ok)
		}
	}
	if Unshared("$share/g/a/+") != "a/+" || Unshared("a/+") != "a/+" {
		t.Error("Unshared")
	}
}
