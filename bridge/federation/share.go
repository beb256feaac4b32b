package federation

import (
	"slices"
	"strings"

	"github.com/junctionmq/junction/bridge/topic"
)

// Shared subscriptions. A route row "mqtt|$share/<group>/<filter>" says that
// a router has members of that group (MQTT 5 identifies a group by its name
// and its filter together). Such rows are not interest in every publication
// the filter matches: each publication goes to one member of the group in
// the whole cluster, and the publishing router's Handler chooses which
// router serves it (SharedGroups tells it where the members are) and sends
// it there with SendTo. So shared rows are kept apart from the routing
// trie: Publish and Wants ignore them, and a router whose only interest in
// a topic is a shared group does not get its publications.

// SharedGroup is a shared subscription group of other routers that matches
// a topic.
type SharedGroup struct {
	Filter string   // "$share/<group>/<filter>", as subscribed
	Nodes  []string // the incarnations of the other live routers with members, sorted
}

// shareIndex holds the $share rows of the other routers, by group.
// Matching is linear in the number of distinct groups: there are few
// (groups are for load balancing consumers, not per device).
type shareIndex map[string]*shareGroup

type shareGroup struct {
	filter string // the filter without $share/<group>/
	refs   refs
}

// update adds or removes the row of the router in slot. Callers hold the
// index's lock.
func (s *shareIndex) update(slot int, p pattern, add bool) {
	if *s == nil {
		*s = shareIndex{}
	}
	g := (*s)[p.share]
	if g == nil {
		if !add {
			return
		}
		g = &shareGroup{filter: p.text}
		(*s)[p.share] = g
	}
	g.refs = updateRefs(g.refs, slot, add)
	if len(g.refs) == 0 {
		delete(*s, p.share)
	}
}

// SharedGroups returns the shared subscription groups of the other live
// routers whose filter matches the topic name, each with the routers that have
// members (nil when there are none). It takes the index's read lock and
// allocates only for what it returns.
func (l *Link) SharedGroups(name string) []SharedGroup {
	if name == "" || l.closed.Load() {
		return nil
	}
	x := l.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []SharedGroup
	for share, g := range x.shares {
		if !topic.FilterMatches(g.filter, name) {
			continue
		}
		sg := SharedGroup{Filter: share}
		for _, sc := range g.refs {
			if d := x.dests[sc.slot]; d != nil {
				sg.Nodes = append(sg.Nodes, d.inc)
			}
		}
		if len(sg.Nodes) > 0 {
			slices.Sort(sg.Nodes)
			out = append(out, sg)
		}
	}
	slices.SortFunc(out, func(a, b SharedGroup) int { return strings.Compare(a.Filter, b.Filter) })
	return out
}

// SharedMembers returns the other live routers with members of the shared
// group filter ("$share/<group>/<filter>"), sorted.
func (l *Link) SharedMembers(filter string) []string {
	x := l.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	g := x.shares[filter]
	if g == nil {
		return nil
	}
	var out []string
	for _, sc := range g.refs {
		if d := x.dests[sc.slot]; d != nil {
			out = append(out, d.inc)
		}
	}
	slices.Sort(out)
	return out
}

// sharedFilter is f if it is a $share/<group>/<filter> filter, else "".
func sharedFilter(f string) string {
	if strings.HasPrefix(f, "$share/") {
		return f
	}
	return ""
}

// Returner may be implemented by a Handler: when another router dies or
// leaves, it is given the reliable messages this router had queued for it
// and had no acknowledgement of (they are discarded from the spool), so
// that it may send them elsewhere: a shared subscription's delivery, for
// instance, can go to another member. Some of them may have reached the
// router before it died. Called from the goroutine of the NodeWatcher's
// calls, before NodeGone; the bodies are not to be modified.
type Returner interface {
	Returned(node string, bodies [][]byte)
}

// undelivered takes the reliable messages of a dest about to be discarded,
// if the Handler wants them. Callers hold tmu.
func (l *Link) undelivered(d *dest) [][]byte {
	if _, ok := l.h.(Returner); !ok {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([][]byte, 0, d.rel.len())
	for i := 0; i < d.rel.len(); i++ {
		out = append(out, d.rel.at(i).body)
	}
	return out
}

func (l *Link) returnUndelivered(node string, bodies [][]byte) {
	if r, ok := l.h.(Returner); ok {
		r.Returned(node, bodies)
	}
}
