package federation

import (
	"slices"
	"strings"
	"sync"

	"github.com/junctionmq/junction/bridge/topic"
)

// index answers, for each local publish, which remote routers have a route
// matching it. Routers are numbered by slot (a small integer per remote
// incarnation, reused after it dies), so a lookup ORs slot bitsets and
// allocates nothing for up to 256 remote routers.
//
// The structures are updated in place under a write lock, which route
// changes take briefly (O(levels) per row); publishers share a read lock.
// Matching costs one map lookup per topic level, more where '+' or '#'
// routes branch, plus one lookup per distinct WAMP prefix length.
type index struct {
	mu     sync.RWMutex
	mqtt   tnode           // MQTT filters by level; topic.AnyLevel and topic.AnyLevels are wildcards
	wild   tnode           // WAMP wildcard patterns by component; topic.AnyComponent is the wildcard
	exact  map[string]refs // WAMP exact URIs
	prefix map[string]refs // WAMP prefixes
	plens  []int           // distinct prefix lengths, ascending
	plenN  map[int]int     // prefixes per length
	dests  []*dest         // by slot; nil: free
	free   []int           // free slots
	rows   int             // patterns held
	shares shareIndex      // $share rows, by group (share.go); not in mqtt
}

func newIndex() *index {
	return &index{exact: map[string]refs{}, prefix: map[string]refs{}, plenN: map[int]int{}}
}

// slotCount is how many of a router's rows share one pattern (an MQTT
// filter can arrive under several $share groups).
type slotCount struct{ slot, n int32 }

// refs are the routers referencing one pattern.
type refs []slotCount

func (r refs) add(slot int) refs {
	for i := range r {
		if r[i].slot == int32(slot) {
			r[i].n++
			return r
		}
	}
	return append(r, slotCount{int32(slot), 1})
}

func (r refs) remove(slot int) refs {
	for i := range r {
		if r[i].slot == int32(slot) {
			if r[i].n--; r[i].n == 0 {
				return slices.Delete(r, i, i+1)
			}
			return r
		}
	}
	return r
}

func (r refs) mark(out []uint64) {
	for _, sc := range r {
		out[sc.slot>>6] |= 1 << (sc.slot & 63)
	}
}

// tnode is a level of a topic trie. It is package topic's matching rules
// laid out for speed: a pattern's level that is the single-level wildcard
// (topic.AnyLevel, topic.AnyComponent) is the plus child and matches any one
// level (topic.ComponentMatches); any other is a kids entry and matches only
// itself. TestIndexRandom and FuzzIndexMatch hold the trie to
// topic.FilterMatches and topic.Pattern.Matches.
type tnode struct {
	kids map[string]*tnode
	plus *tnode // the single-level wildcard child
	here refs   // patterns ending at this level
	hash refs   // MQTT: patterns ending with topic.AnyLevels after this level
}

func (n *tnode) empty() bool {
	return len(n.kids) == 0 && n.plus == nil && len(n.here) == 0 && len(n.hash) == 0
}

// update adds (add true) or removes a pattern split by sep; wildcard is the
// single-level wildcard level, and mqtt makes topic.AnyLevels the
// multi-level one.
func (n *tnode) update(p string, sep byte, wildcard string, mqtt bool, slot int, add bool) {
	level, rest, more := cut(p, sep)
	if mqtt && level == topic.AnyLevels && !more {
		if add {
			n.hash = n.hash.add(slot)
		} else {
			n.hash = n.hash.remove(slot)
		}
		return
	}
	var child *tnode
	if level == wildcard {
		child = n.plus
		if child == nil {
			if !add {
				return
			}
			child = &tnode{}
			n.plus = child
		}
	} else {
		child = n.kids[level]
		if child == nil {
			if !add {
				return
			}
			child = &tnode{}
			if n.kids == nil {
				n.kids = map[string]*tnode{}
			}
			n.kids[level] = child
		}
	}
	if more {
		child.update(rest, sep, wildcard, mqtt, slot, add)
	} else if add {
		child.here = child.here.add(slot)
	} else {
		child.here = child.here.remove(slot)
	}
	if !add && child.empty() {
		if level == wildcard {
			n.plus = nil
		} else {
			delete(n.kids, level)
		}
	}
}

func cut(s string, sep byte) (before, after string, found bool) {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// matchMQTT marks the routers whose filters match the topic's levels from
// byte pos (pos < 0: no level left). A topic.Reserved topic (reserved true)
// is not matched by a first-level wildcard.
func (n *tnode) matchMQTT(t string, pos int, first, reserved bool, out []uint64) {
	if pos < 0 {
		n.here.mark(out)
		n.hash.mark(out) // "a/#" matches "a"
		return
	}
	wild := !(first && reserved)
	if wild {
		n.hash.mark(out)
	}
	level, next := levelAt(t, pos, topic.LevelSep)
	if c := n.kids[level]; c != nil {
		c.matchMQTT(t, next, false, reserved, out)
	}
	if wild && n.plus != nil {
		n.plus.matchMQTT(t, next, false, reserved, out)
	}
}

// matchWildcard marks the routers whose WAMP wildcard patterns match the
// URI's components from byte pos.
func (n *tnode) matchWildcard(u string, pos int, out []uint64) {
	if pos < 0 {
		n.here.mark(out)
		return
	}
	level, next := levelAt(u, pos, topic.Sep)
	if c := n.kids[level]; c != nil {
		c.matchWildcard(u, next, out)
	}
	if n.plus != nil {
		n.plus.matchWildcard(u, next, out)
	}
}

// levelAt returns the level starting at pos and where the next one starts
// (-1: none).
func levelAt(s string, pos int, sep byte) (string, int) {
	if i := strings.IndexByte(s[pos:], sep); i >= 0 {
		return s[pos : pos+i], pos + i + 1
	}
	return s[pos:], -1
}

// update adds or removes one row of the router in slot. Callers hold mu.
func (x *index) update(slot int, p pattern, add bool) {
	switch p.kind {
	case kindOpaque:
		return // replicated only, never matched
	case kindMQTT:
		if p.share != "" {
			x.shares.update(slot, p, add)
			break
		}
		x.mqtt.update(p.text, topic.LevelSep, topic.AnyLevel, true, slot, add)
	case kindWildcard:
		x.wild.update(p.text, topic.Sep, topic.AnyComponent, false, slot, add)
	case kindExact:
		x.exact[p.text] = updateRefs(x.exact[p.text], slot, add)
		if len(x.exact[p.text]) == 0 {
			delete(x.exact, p.text)
		}
	case kindPrefix:
		before := len(x.prefix[p.text])
		x.prefix[p.text] = updateRefs(x.prefix[p.text], slot, add)
		after := len(x.prefix[p.text])
		if after == 0 {
			delete(x.prefix, p.text)
		}
		if before == 0 && after > 0 {
			x.addPrefixLen(len(p.text), 1)
		} else if before > 0 && after == 0 {
			x.addPrefixLen(len(p.text), -1)
		}
	}
	if add {
		x.rows++
	} else {
		x.rows--
	}
}

func updateRefs(r refs, slot int, add bool) refs {
	if add {
		return r.add(slot)
	}
	return r.remove(slot)
}

func (x *index) addPrefixLen(n, delta int) {
	x.plenN[n] += delta
	switch x.plenN[n] {
	case 0:
		delete(x.plenN, n)
		if i, ok := slices.BinarySearch(x.plens, n); ok {
			x.plens = slices.Delete(x.plens, i, i+1)
		}
	case 1:
		if delta > 0 {
			i, _ := slices.BinarySearch(x.plens, n)
			x.plens = slices.Insert(x.plens, i, n)
		}
	}
}

// match marks in out (one bit per slot, len(out)*64 >= len(dests)) every
// router with a route matching name (an MQTT topic, "" for none) or uri (a
// WAMP URI, "" for none). Callers hold mu for reading.
func (x *index) match(name, uri string, out []uint64) {
	if name != "" {
		x.mqtt.matchMQTT(name, 0, true, topic.Reserved(name), out)
	}
	if uri == "" {
		return
	}
	if r, ok := x.exact[uri]; ok {
		r.mark(out)
	}
	for _, n := range x.plens {
		if n > len(uri) {
			break
		}
		if r, ok := x.prefix[uri[:n]]; ok {
			r.mark(out)
		}
	}
	if !x.wild.empty() {
		x.wild.matchWildcard(uri, 0, out)
	}
}

// words is the bitset length match needs.
func (x *index) words() int { return (len(x.dests) + 63) / 64 }

// allocSlot returns a free slot for d. Callers hold mu.
func (x *index) allocSlot(d *dest) int {
	if n := len(x.free); n > 0 {
		s := x.free[n-1]
		x.free = x.free[:n-1]
		x.dests[s] = d
		return s
	}
	x.dests = append(x.dests, d)
	return len(x.dests) - 1
}

// freeSlot releases a slot whose rows are all removed. Callers hold mu.
func (x *index) freeSlot(s int) {
	x.dests[s] = nil
	x.free = append(x.free, s)
}
