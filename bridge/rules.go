package bridge

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/junctionmq/junction/bridge/topic"
)

// Rule maps one subtree between the protocols. A rule names its subtree by
// an MQTT root topic, a WAMP root URI, or both:
//
//   - both: the subtree is re-rooted. MQTT "devices/#" with WAMP
//     "com.acme.devices." makes devices/7/temp com.acme.devices.7.temp, and
//     devices itself com.acme.devices. Below the roots the levels map by the
//     escaping rule of TopicToURI.
//   - one: the other root is its image under the default mapping; the rule
//     only chooses the payload mode or switches bridging off there.
//
// The most specific rule wins: the one with the most root levels on the side
// the message comes from.
type Rule struct {
	MQTT    string // "root/#" or "#"; "" when only WAMP is given
	WAMP    string // "root." or "" for every URI; when only MQTT is given, derived
	Payload Mode   // payload mode below the roots
	Off     bool   // messages below the roots are not bridged
}

// rule is a Rule with its roots split into levels and components.
type rule struct {
	mqtt    []string // root levels; empty for "#"
	wamp    []string // root components; empty for ""
	payload Mode
	off     bool
	// Which roots the rule gave; a rule that gave one is usable for
	// deriving others only once its other root is derived.
	givenMQTT, givenWAMP, derived bool
}

// Mapper maps topics and URIs by the rules and the default escaping, and
// refuses what must never cross: MQTT topics whose first level starts with
// '$' ($SYS, $share, $rpc) and WAMP URIs in the "wamp." meta namespace.
//
// A name is bridged only if it maps back to itself: under a rule that
// re-roots MQTT devices/# at com.acme.devices., WAMP devices.7 would become
// MQTT devices/7, which is com.acme.devices.7 in WAMP, so devices.7 is not
// bridged. Every bridged message has one name on each side.
type Mapper struct {
	byMQTT []rule // most root levels first
	byWAMP []rule // most root components first
}

// ErrRule is wrapped by NewMapper's errors.
var ErrRule = errors.New("invalid bridge rule")

// NewMapper checks the rules and returns their Mapper.
func NewMapper(rules []Rule) (*Mapper, error) {
	m := &Mapper{}
	seenMQTT, seenWAMP := map[string]bool{}, map[string]bool{}
	var partial []int // rules that name one side only
	for i, r := range rules {
		var cr rule
		switch r.Payload {
		case "", ModeAuto, ModeRaw, ModeJSON:
		default:
			return nil, fmt.Errorf("%w %d: payload %q is not auto, raw or json", ErrRule, i, r.Payload)
		}
		cr.payload, cr.off = r.Payload, r.Off
		if r.MQTT == "" && r.WAMP == "" {
			return nil, fmt.Errorf("%w %d: give mqtt, wamp or both", ErrRule, i)
		}
		if r.MQTT != "" {
			root, ok := strings.CutSuffix(r.MQTT, "#")
			if !ok || (root != "" && !strings.HasSuffix(root, "/")) || strings.ContainsAny(root, "+#") || strings.HasPrefix(root, "$") {
				return nil, fmt.Errorf("%w %d: mqtt %q must be a topic followed by /#, or #", ErrRule, i, r.MQTT)
			}
			root = strings.TrimSuffix(root, "/")
			if root != "" {
				cr.mqtt = strings.Split(root, "/")
			}
		}
		if r.WAMP != "" {
			root, ok := strings.CutSuffix(r.WAMP, ".")
			if !ok || root == "" || strings.ContainsAny(root, " \t\n#") || strings.Contains(root, "..") || strings.HasPrefix(root, ".") {
				return nil, fmt.Errorf("%w %d: wamp %q must be a URI followed by a dot", ErrRule, i, r.WAMP)
			}
			if root == "wamp" || strings.HasPrefix(root, "wamp.") {
				return nil, fmt.Errorf("%w %d: the wamp.* meta namespace is never bridged", ErrRule, i)
			}
			cr.wamp = strings.Split(root, ".")
		}
		cr.givenMQTT, cr.givenWAMP = r.MQTT != "", r.WAMP != ""
		if !cr.givenMQTT || !cr.givenWAMP {
			partial = append(partial, len(m.byMQTT))
		}
		m.byMQTT = append(m.byMQTT, cr)
	}
	// A rule that names one side takes the other from the rules above it
	// (devices/cams/# under a rule re-rooting devices/# is under
	// com.acme.devices.), else from the default mapping.
	sort.SliceStable(partial, func(i, j int) bool {
		a, b := &m.byMQTT[partial[i]], &m.byMQTT[partial[j]]
		return len(a.mqtt)+len(a.wamp) < len(b.mqtt)+len(b.wamp)
	})
	for _, k := range partial {
		cr := &m.byMQTT[k]
		if cr.givenMQTT {
			cr.wamp = splitNonEmpty(m.derive(strings.Join(cr.mqtt, "/"), true, k), ".")
		} else {
			cr.mqtt = splitNonEmpty(m.derive(strings.Join(cr.wamp, "."), false, k), "/")
		}
		cr.derived = true
	}
	for i := range m.byMQTT {
		cr := m.byMQTT[i]
		km, kw := strings.Join(cr.mqtt, "/"), strings.Join(cr.wamp, ".")
		if seenMQTT[km] || seenWAMP[kw] {
			return nil, fmt.Errorf("%w %d: another rule has the root %q / %q", ErrRule, i, km, kw)
		}
		seenMQTT[km], seenWAMP[kw] = true, true
	}
	m.byWAMP = append([]rule(nil), m.byMQTT...)
	sort.SliceStable(m.byMQTT, func(i, j int) bool { return len(m.byMQTT[i].mqtt) > len(m.byMQTT[j].mqtt) })
	sort.SliceStable(m.byWAMP, func(i, j int) bool { return len(m.byWAMP[i].wamp) > len(m.byWAMP[j].wamp) })
	return m, nil
}

func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

// derive maps a root by the rules with both roots known (all but skip),
// ignoring whether they are off.
func (m *Mapper) derive(name string, fromMQTT bool, skip int) string {
	var best *rule
	for i := range m.byMQTT {
		r := &m.byMQTT[i]
		if i == skip || !(r.givenMQTT && r.givenWAMP || r.derived) {
			continue
		}
		root, sep := r.wamp, "."
		if fromMQTT {
			root, sep = r.mqtt, "/"
		}
		if under(name, root, sep) && (best == nil || len(root) > len(rootOf(best, fromMQTT))) {
			best = r
		}
	}
	if name == "" {
		return "" // the whole tree
	}
	if best == nil {
		if fromMQTT {
			return topic.TopicToURI(name)
		}
		return topic.URIToTopic(name)
	}
	if fromMQTT {
		rest := restAfter(name, best.mqtt, "/")
		if rest == "" && len(name) == len(strings.Join(best.mqtt, "/")) {
			return strings.Join(best.wamp, ".")
		}
		return strings.Trim(strings.Join(best.wamp, ".")+"."+topic.TopicToURI(rest), ".")
	}
	rest := restAfter(name, best.wamp, ".")
	if rest == "" && len(name) == len(strings.Join(best.wamp, ".")) {
		return strings.Join(best.mqtt, "/")
	}
	return strings.Trim(strings.Join(best.mqtt, "/")+"/"+topic.URIToTopic(rest), "/")
}

func rootOf(r *rule, mqtt bool) []string {
	if mqtt {
		return r.mqtt
	}
	return r.wamp
}

// ToWAMP maps an MQTT topic name to its URI and payload mode; ok is false
// when the topic is not bridged.
func (m *Mapper) ToWAMP(topic string) (uri string, mode Mode, ok bool) {
	uri, mode, ok = m.toWAMP(topic)
	if !ok {
		return "", "", false
	}
	if len(m.byMQTT) == 0 {
		return uri, mode, true // the default mapping alone is one-to-one (FuzzTopicRoundTrip)
	}
	if back, _, ok := m.toMQTT(uri); !ok || back != topic {
		return "", "", false
	}
	return uri, mode, true
}

// ToMQTT maps a URI to its MQTT topic name and payload mode; ok is false when
// the URI is not bridged.
func (m *Mapper) ToMQTT(uri string) (name string, mode Mode, ok bool) {
	name, mode, ok = m.toMQTT(uri)
	if !ok {
		return "", "", false
	}
	if len(m.byMQTT) == 0 {
		// One-to-one for names TopicToURI can produce; other URIs (an empty
		// component, white space) are not valid topics' images.
		if topic.PlainURI(uri) {
			return name, mode, true
		}
		if topic.TopicToURI(name) != uri {
			return "", "", false
		}
		return name, mode, true
	}
	if back, _, ok := m.toWAMP(name); !ok || back != uri {
		return "", "", false
	}
	return name, mode, true
}

func (m *Mapper) toWAMP(name string) (string, Mode, bool) {
	// Wildcards are not topic names, and MQTT topics are UTF-8.
	if name == "" || topic.Reserved(name) || strings.ContainsAny(name, "+#") || !utf8.ValidString(name) {
		return "", "", false
	}
	var uri string
	mode := ModeAuto
	r := m.ruleForTopic(name)
	if r == nil {
		uri = topic.TopicToURI(name)
	} else {
		if r.off {
			return "", "", false
		}
		mode = r.payload
		rest := restAfter(name, r.mqtt, "/")
		switch {
		case len(r.wamp) == 0:
			uri = topic.TopicToURI(rest)
		case rest == "" && len(r.mqtt) > 0 && len(name) == len(strings.Join(r.mqtt, "/")):
			uri = strings.Join(r.wamp, ".")
		default:
			uri = strings.Join(r.wamp, ".") + "." + topic.TopicToURI(rest)
		}
	}
	if uri == "wamp" || strings.HasPrefix(uri, "wamp.") {
		return "", "", false
	}
	if mode == "" {
		mode = ModeAuto
	}
	return uri, mode, true
}

func (m *Mapper) toMQTT(uri string) (string, Mode, bool) {
	if uri == "" || uri == "wamp" || strings.HasPrefix(uri, "wamp.") || !utf8.ValidString(uri) {
		return "", "", false
	}
	var name string
	mode := ModeAuto
	r := m.ruleForURI(uri)
	if r == nil {
		name = topic.URIToTopic(uri) // plain URIs take its fast path
	} else {
		if r.off {
			return "", "", false
		}
		mode = r.payload
		rest := restAfter(uri, r.wamp, ".")
		switch {
		case len(r.mqtt) == 0:
			name = topic.URIToTopic(rest)
		case len(uri) == len(strings.Join(r.wamp, ".")):
			name = strings.Join(r.mqtt, "/")
		default:
			name = strings.Join(r.mqtt, "/") + "/" + topic.URIToTopic(rest)
		}
	}
	if name == "" || topic.Reserved(name) || strings.ContainsAny(name, "+#") { // %2B, %23 decode to wildcards
		return "", "", false
	}
	if mode == "" {
		mode = ModeAuto
	}
	return name, mode, true
}

// ruleForTopic returns the most specific rule whose MQTT root holds topic.
func (m *Mapper) ruleForTopic(topic string) *rule {
	for i := range m.byMQTT {
		if under(topic, m.byMQTT[i].mqtt, "/") {
			return &m.byMQTT[i]
		}
	}
	return nil
}

func (m *Mapper) ruleForURI(uri string) *rule {
	for i := range m.byWAMP {
		if under(uri, m.byWAMP[i].wamp, ".") {
			return &m.byWAMP[i]
		}
	}
	return nil
}

// under reports whether name is root or below it; an empty root holds
// everything.
func under(name string, root []string, sep string) bool {
	for i, part := range root {
		if !strings.HasPrefix(name, part) {
			return false
		}
		name = name[len(part):]
		if i < len(root)-1 || name != "" {
			if !strings.HasPrefix(name, sep) {
				return false
			}
			name = name[len(sep):]
		}
	}
	return true
}

// restAfter returns what follows root and its separator in name, which
// under(name, root, sep) holds.
func restAfter(name string, root []string, sep string) string {
	if len(root) == 0 {
		return name
	}
	n := len(strings.Join(root, sep))
	if len(name) <= n {
		return ""
	}
	return name[n+len(sep):]
}

// Subtrees returns, for a WAMP subscription pattern, an MQTT filter whose
// matches include the MQTT image of every URI the pattern can match, for
// reading retained messages; callers filter the results exactly. It is "#"
// unless a narrower filter is sure to be enough.
func (m *Mapper) Subtrees(p topic.Pattern) string {
	comps := strings.Split(p.URI, ".")
	switch p.Match {
	case topic.MatchExact, "":
		if t, _, ok := m.ToMQTT(p.URI); ok {
			return t
		}
		return ""
	case topic.MatchPrefix:
		comps = comps[:len(comps)-1] // the last component may be partial
	case topic.MatchWildcard:
		for i, c := range comps {
			if c == "" {
				comps = comps[:i]
				break
			}
		}
	}
	if len(comps) == 0 {
		return "#"
	}
	root := strings.Join(comps, ".")
	// A rule rooted at or below root sends part of the subtree elsewhere.
	for _, r := range m.byWAMP {
		if len(r.wamp) >= len(comps) && under(strings.Join(r.wamp, "."), comps, ".") {
			return "#"
		}
	}
	t, _, ok := m.toMQTT(root)
	if !ok {
		return "#"
	}
	return t + "/#"
}
