package topic

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The canonical form of a topic is a WAMP URI: MQTT levels become URI
// components. A level that is not a valid loose-URI component is escaped, one
// reversible rule for every case, never a silent drop:
//
//   - '%', '.', '#' and white space are written %XX (the UTF-8 bytes in hex);
//   - an empty level (a/b//c, a leading or trailing '/') is written %00,
//     which cannot stand for a real level: MQTT topics never contain U+0000.
//
// So MQTT "a/b.c/ d" is WAMP "a.b%2Ec.%20d" and MQTT "/a/" is "%00.a.%00".
// In the other direction, '/' and '+' inside a WAMP component are escaped
// (%2F, %2B) so that they stay one MQTT level, and %XX is decoded.

// TopicToURI maps an MQTT topic name to its canonical URI.
func TopicToURI(topic string) string {
	if plainTopic(topic) {
		return strings.ReplaceAll(topic, "/", ".") // the common case, one allocation
	}
	levels := strings.Split(topic, "/")
	for i, l := range levels {
		levels[i] = escapeLevel(l)
	}
	return strings.Join(levels, ".")
}

// plainTopic reports whether topic needs no escaping: no empty level and no
// character escapeLevel would write as %XX.
func plainTopic(topic string) bool {
	if topic == "" || topic[0] == '/' || topic[len(topic)-1] == '/' {
		return false
	}
	prev := byte(0)
	for i := 0; i < len(topic); i++ {
		c := topic[i]
		switch {
		case c == '/' && prev == '/', c == '%', c == '.', c == '#', c <= ' ', c >= 0x7f:
			return false // non-ASCII may be white space: the slow path decides
		}
		prev = c
	}
	return true
}

// PlainURI reports whether uri is the image of a topic that needs no
// escaping: none of its components is empty or needs unescaping, so that
// URIToTopic and TopicToURI only swap '.' and '/'.
func PlainURI(uri string) bool {
	if uri == "" || uri[0] == '.' || uri[len(uri)-1] == '.' {
		return false
	}
	prev := byte(0)
	for i := 0; i < len(uri); i++ {
		c := uri[i]
		switch {
		case c == '.' && prev == '.', c == '%', c == '/', c == '+', c == '#', c <= ' ', c >= 0x7f:
			return false
		}
		prev = c
	}
	return true
}

// URIToTopic maps a canonical URI to an MQTT topic name; it inverts
// TopicToURI.
func URIToTopic(uri string) string {
	if PlainURI(uri) {
		return strings.ReplaceAll(uri, ".", "/") // the common case, one allocation
	}
	comps := strings.Split(uri, ".")
	for i, c := range comps {
		comps[i] = unescapeComponent(c)
	}
	return strings.Join(comps, "/")
}

func escapeLevel(l string) string {
	if l == "" {
		return "%00"
	}
	if !strings.ContainsFunc(l, needsEscape) {
		return l
	}
	var b strings.Builder
	for _, r := range l {
		if !needsEscape(r) {
			b.WriteRune(r)
			continue
		}
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], r)
		for _, c := range buf[:n] {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&0x0F])
		}
	}
	return b.String()
}

const hexDigits = "0123456789ABCDEF"

func needsEscape(r rune) bool {
	return r == '%' || r == '.' || r == '#' || unicode.IsSpace(r)
}

func unescapeComponent(c string) string {
	if c == "%00" {
		return ""
	}
	if !strings.ContainsAny(c, "%/+") {
		return c
	}
	var b strings.Builder
	for i := 0; i < len(c); i++ {
		switch ch := c[i]; {
		case ch == '%' && i+2 < len(c) && isHex(c[i+1]) && isHex(c[i+2]):
			b.WriteByte(unhex(c[i+1])<<4 | unhex(c[i+2]))
			i += 2
		case ch == '/':
			b.WriteString("%2F")
		case ch == '+':
			b.WriteString("%2B")
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// FilterPatterns returns WAMP patterns whose union matches every topic the
// MQTT filter matches: "a/+/c" is wildcard "a..c"; "a/#" is prefix "a." plus
// exact "a"; "#" is prefix "". A filter WAMP cannot express exactly
// ("a/+/c/#") is widened to the prefix of its levels before the first
// wildcard ("a."), a superset: safe for authorization, and the hub filters
// exactly. A shared subscription's "$share/group/" is removed first.
func FilterPatterns(filter string) []Pattern {
	filter = Unshared(filter)
	levels := strings.Split(filter, "/")
	plus, hash := -1, false
	for i, l := range levels {
		if l == "+" && plus < 0 {
			plus = i
		}
		if l == "#" && i == len(levels)-1 {
			hash = true
		}
	}
	switch {
	case plus < 0 && !hash:
		return []Pattern{{TopicToURI(filter), MatchExact}}
	case plus < 0 && hash:
		parent := levels[:len(levels)-1]
		if len(parent) == 0 {
			return []Pattern{{"", MatchPrefix}}
		}
		uri := TopicToURI(strings.Join(parent, "/"))
		return []Pattern{{uri + ".", MatchPrefix}, {uri, MatchExact}}
	case !hash:
		comps := make([]string, len(levels))
		for i, l := range levels {
			if l != "+" {
				comps[i] = escapeLevel(l)
			}
		}
		return []Pattern{{strings.Join(comps, "."), MatchWildcard}}
	default:
		if plus == 0 {
			return []Pattern{{"", MatchPrefix}}
		}
		return []Pattern{{TopicToURI(strings.Join(levels[:plus], "/")) + ".", MatchPrefix}}
	}
}
