package federation

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/junctionmq/junction/bridge/topic"
)

// matchSlots returns the slots the index matches for a message.
func matchSlots(x *index, topic, uri string) []int {
	set := make([]uint64, max(x.words(), 1))
	x.match(topic, uri, set)
	var out []int
	for s := 0; s < len(set)*64; s++ {
		if set[s/64]&(1<<(s%64)) != 0 {
			out = append(out, s)
		}
	}
	return out
}

func testIndex(t *testing.T, routes map[int][]Route) *index {
	t.Helper()
	x := newIndex()
	for slot := 0; slot < 8; slot++ {
		x.allocSlot(&dest{})
	}
	for slot, rs := range routes {
		for _, r := range rs {
			row, err := r.row()
			if err != nil {
				t.Fatalf("route %+v: %v", r, err)
			}
			p, err := parseRow(row)
			if err != nil {
				t.Fatalf("row %q: %v", row, err)
			}
			x.update(slot, p, true)
		}
	}
	return x
}

func mqtt(f string) Route      { return Route{Proto: ProtoMQTT, Filter: f} }
func wamp(m, uri string) Route { return Route{Proto: ProtoWAMP, Filter: uri, Match: topic.Match(m)} }

func TestIndexMatch(t *testing.T) {
	x := testIndex(t, map[int][]Route{
		0: {mqtt("a/b")},
		1: {mqtt("a/+")},
		2: {mqtt("a/#")},
		3: {mqtt("#")},
		4: {mqtt("+/b"), mqtt("$SYS/#")},
		5: {mqtt("$share/g/a/b/#"), mqtt("+")},
		6: {wamp("exact", "com.a.b"), wamp("prefix", "com.x")},
		7: {wamp("wildcard", "com..b"), wamp("", "com.q"), mqtt("a//b")},
	})
	for _, c := range []struct {
		topic, uri string
		want       []int
	}{
		{topic: "a/b", want: []int{0, 1, 2, 3, 4}}, // $share rows are not matched (share.go)
		{topic: "a", want: []int{2, 3, 5}},         // a/# matches its parent; + matches one level
		{topic: "a/c", want: []int{1, 2, 3}},
		{topic: "a/b/c", want: []int{2, 3}},
		{topic: "a/", want: []int{1, 2, 3}}, // an empty level
		{topic: "a//b", want: []int{2, 3, 7}},
		{topic: "$SYS/b", want: []int{4}}, // no leading wildcard matches $-topics
		{topic: "$SYS", want: []int{4}},
		{topic: "z/b", want: []int{3, 4}},
		{uri: "com.a.b", want: []int{6, 7}},
		{uri: "com.a.bc"},
		{uri: "com.x", want: []int{6}},
		{uri: "com.xy.z", want: []int{6}}, // prefix is a plain string prefix
		{uri: "com.q", want: []int{7}},
		{uri: "com.q.r"},
		{uri: "com..b", want: []int{7}},
		{uri: "com.z.z.b"},
		{topic: "a/b", uri: "com.x.1", want: []int{0, 1, 2, 3, 4, 6}},
		{},
	} {
		if got := matchSlots(x, c.topic, c.uri); !slices.Equal(got, c.want) {
			t.Errorf("topic %q uri %q: slots %v, want %v", c.topic, c.uri, got, c.want)
		}
	}
}

// A router can hold one filter under several $share groups: they are kept
// apart from the routing trie, each until its row goes.
func TestIndexRefcount(t *testing.T) {
	x := testIndex(t, map[int][]Route{0: {mqtt("$share/g1/a"), mqtt("$share/g2/a"), wamp("prefix", "p"), wamp("prefix", "pq")}})
	remove := func(r Route) {
		row, _ := r.row()
		p, _ := parseRow(row)
		x.update(0, p, false)
	}
	if got := matchSlots(x, "a", ""); got != nil || len(x.shares) != 2 {
		t.Fatalf("shared rows matched as routes: %v, groups %d", got, len(x.shares))
	}
	remove(mqtt("$share/g1/a"))
	if x.shares["$share/g1/a"] != nil || x.shares["$share/g2/a"] == nil {
		t.Fatalf("after removing one group: %v", x.shares)
	}
	remove(mqtt("$share/g2/a"))
	if len(x.shares) != 0 {
		t.Fatalf("after removing both groups: %v", x.shares)
	}
	remove(wamp("prefix", "p"))
	if got := matchSlots(x, "", "pq.z"); !slices.Equal(got, []int{0}) || !slices.Equal(x.plens, []int{2}) {
		t.Fatalf("after removing prefix p: %v, lengths %v", got, x.plens)
	}
	remove(wamp("prefix", "pq"))
	if x.rows != 0 || !x.mqtt.empty() || len(x.prefix) != 0 || len(x.plens) != 0 {
		t.Fatalf("index not empty: %+v", x)
	}
}

// routeMatches is what package topic says of a route and a publication
// (topic name, URI): the rules the index must follow.
func routeMatches(r Route, name, uri string) bool {
	switch r.Proto {
	case ProtoMQTT:
		return name != "" && topic.FilterMatches(topic.Unshared(r.Filter), name)
	case ProtoWAMP:
		return uri != "" && topic.Pattern{URI: r.Filter, Match: r.Match}.Matches(uri)
	}
	return false
}

// The index agrees with package topic's matchers on random routes and
// topics, while routes come and go.
func TestIndexRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	levels := []string{"a", "b", "", "$x"}
	randTopic := func(sep string, wild bool) string {
		n := 1 + rng.IntN(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = levels[rng.IntN(len(levels))]
			if i > 0 && parts[i] == "$x" {
				parts[i] = "x"
			}
			if wild && sep == "/" {
				switch rng.IntN(5) {
				case 0:
					parts[i] = "+"
				case 1:
					if i == n-1 {
						parts[i] = "#"
					}
				}
			}
		}
		return strings.Join(parts, sep)
	}
	type held struct {
		slot int
		r    Route
	}
	x := newIndex()
	for range 8 {
		x.allocSlot(&dest{})
	}
	var routes []held
	for round := 0; round < 300; round++ {
		if len(routes) > 0 && rng.IntN(3) == 0 {
			i := rng.IntN(len(routes))
			row, _ := routes[i].r.row()
			p, _ := parseRow(row)
			x.update(routes[i].slot, p, false)
			routes = slices.Delete(routes, i, i+1)
		} else {
			var r Route
			if rng.IntN(2) == 0 {
				r = mqtt(randTopic("/", true))
				if rng.IntN(4) == 0 {
					r.Filter = "$share/g/" + r.Filter
				}
			} else {
				r = wamp([]string{"exact", "prefix", "wildcard"}[rng.IntN(3)], randTopic(".", false))
				if r.Filter == "" {
					continue
				}
			}
			row, err := r.row()
			if err != nil {
				continue
			}
			p, _ := parseRow(row)
			h := held{rng.IntN(8), r}
			x.update(h.slot, p, true)
			routes = append(routes, h)
		}
		for range 20 {
			name, uri := randTopic("/", false), randTopic(".", false)
			var want []int
			for _, h := range routes {
				if strings.HasPrefix(h.r.Filter, "$share/") {
					continue // not a route (share.go)
				}
				if routeMatches(h.r, name, uri) {
					want = append(want, h.slot)
				}
			}
			slices.Sort(want)
			want = slices.Compact(want)
			if got := matchSlots(x, name, uri); !slices.Equal(got, want) {
				t.Fatalf("round %d: topic %q uri %q: slots %v, want %v; routes %v", round, name, uri, got, want, routes)
			}
		}
	}
}

func TestRouteRows(t *testing.T) {
	for _, c := range []struct {
		r   Route
		row string // "" if invalid
	}{
		{mqtt("a/+/#"), "mqtt|a/+/#"},
		{mqtt("$share/g/a"), "mqtt|$share/g/a"},
		{mqtt("a|b"), "mqtt|a|b"},
		{mqtt(""), ""},
		{mqtt("a/#/b"), ""},
		{mqtt("a+"), ""},
		{mqtt("$share/g"), ""},
		{mqtt("$share//a"), ""},
		{Route{Proto: ProtoMQTT, Filter: "a", Match: "prefix"}, ""},
		{wamp("", "com.a"), "wamp|exact|com.a"},
		{wamp("wildcard", "com..a"), "wamp|wildcard|com..a"},
		{wamp("fuzzy", "com"), ""},
		{wamp("prefix", ""), ""},
		{Route{Proto: "amqp", Filter: "x"}, ""},
	} {
		row, err := c.r.row()
		if c.row == "" {
			if err == nil {
				t.Errorf("%+v: row %q, want an error", c.r, row)
			}
			continue
		}
		if err != nil || row != c.row {
			t.Errorf("%+v: row %q (%v), want %q", c.r, row, err, c.row)
			continue
		}
		if _, err := parseRow(row); err != nil {
			t.Errorf("parseRow(%q): %v", row, err)
		}
	}
}

// FuzzIndexMatch holds the index to package topic's matchers: routes is one
// route a line ("m<filter>" MQTT, "e", "p" or "w" then a URI: WAMP exact,
// prefix, wildcard), spread over four routers; every third one is removed
// again; then a publication of name and uri must reach exactly the routers
// with a route that topic.FilterMatches or topic.Pattern.Matches accepts.
func FuzzIndexMatch(f *testing.F) {
	f.Add("ma/+/c\nm#\nwa..c\npa.\nea.b.c\nm$share/g/a/#", "a/b/c", "a.b.c")
	f.Add("m+/x\nm$SYS/#\nw.x", "$SYS/x", "$SYS.x")
	f.Add("ma/#\nw\npa\nea", "a", "a")
	f.Add("m+/+\nw.\nm/\nm+\nw..", "/", ".")
	f.Fuzz(func(t *testing.T, routes, name, uri string) {
		x := newIndex()
		for range 4 {
			x.allocSlot(&dest{})
		}
		type held struct {
			slot int
			r    Route
		}
		var hs []held
		for i, line := range strings.Split(routes, "\n") {
			if line == "" {
				continue
			}
			var r Route
			switch line[0] {
			case 'm':
				r = mqtt(line[1:])
			case 'e':
				r = wamp("exact", line[1:])
			case 'p':
				r = wamp("prefix", line[1:])
			case 'w':
				r = wamp("wildcard", line[1:])
			default:
				continue
			}
			row, err := r.row()
			if err != nil {
				continue
			}
			p, err := parseRow(row)
			if err != nil {
				t.Fatalf("row %q of %v does not parse: %v", row, r, err)
			}
			h := held{i % 4, r}
			x.update(h.slot, p, true)
			if i%3 == 2 {
				x.update(h.slot, p, false)
				continue
			}
			hs = append(hs, h)
		}
		var want []int
		for _, h := range hs {
			if !strings.HasPrefix(h.r.Filter, "$share/") && routeMatches(h.r, name, uri) {
				want = append(want, h.slot)
			}
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if got := matchSlots(x, name, uri); !slices.Equal(got, want) {
			t.Fatalf("topic %q uri %q: slots %v, want %v; routes %v", name, uri, got, want, hs)
		}
	})
}
