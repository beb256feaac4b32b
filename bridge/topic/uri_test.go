package topic

import (
	"fmt"
	"testing"
)

func TestTopicURIMapping(t *testing.T) {
	cases := []struct{ topic, uri string }{
		{"a/b/c", "a.b.c"},
		{"com/acme/sensor/7/temp", "com.acme.sensor.7.temp"},
		{"a/b.c", "a.b%2Ec"},
		{"/a", "%00.a"},
		{"a/", "a.%00"},
		{"a//b", "a.%00.b"},
		{"", "%00"},
		{"a/ b", "a.%20b"},
		{"50%/x", "50%25.x"},
		{"tab\there", "tab%09here"},
		{"ünï/cödé", "ünï.cödé"},
		{"$SYS/broker", "$SYS.broker"},
	}
	for _, tc := range cases {
		if got := TopicToURI(tc.topic); got != tc.uri {
			t.Errorf("TopicToURI(%q) = %q, want %q", tc.topic, got, tc.uri)
		}
		if got := URIToTopic(tc.uri); got != tc.topic {
			t.Errorf("URIToTopic(%q) = %q, want %q", tc.uri, got, tc.topic)
		}
	}
	// WAMP components with characters that are MQTT syntax stay one level.
	if got := URIToTopic("a.b/c.d+e"); got != "a/b%2Fc/d%2Be" {
		t.Errorf("URIToTopic = %q", got)
	}
}

func TestFilterPatterns(t *testing.T) {
	cases := []struct {
		filter string
		want   string
	}{
		{"a/b", "[{a.b exact}]"},
		{"a/+/c", "[{a..c wildcard}]"},
		{"+", "[{ wildcard}]"},
		{"a/#", "[{a. prefix} {a exact}]"},
		{"#", "[{ prefix}]"},
		{"a/b.c/#", "[{a.b%2Ec. prefix} {a.b%2Ec exact}]"},
		{"a/+/c/#", "[{a. prefix}]"},
		{"+/x/#", "[{ prefix}]"},
		{"$share/g/a/+", "[{a. wildcard}]"},
		{"$share/g/#", "[{ prefix}]"},
	}
	for _, tc := range cases {
		if got := fmt.Sprint(FilterPatterns(tc.filter)); got != tc.want {
			t.Errorf("FilterPatterns(%q) = %s, want %s", tc.filter, got, tc.want)
		}
	}
}

func FuzzTopicRoundTrip(f *testing.F) {
	for _, s := range []string{"a/b", "/", "a//b", "x.y/ z", "%00", "%", "a/%2E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		if !validTopic(topic) {
			return
		}
		uri := TopicToURI(topic)
		if back := URIToTopic(uri); back != topic {
			t.Fatalf("%q -> %q -> %q", topic, uri, back)
		}
		for _, c := range splitDots(uri) {
			if c == "" {
				t.Fatalf("%q -> %q has an empty component", topic, uri)
			}
		}
	})
}

// validTopic is what MQTT allows in a topic name: UTF-8, no U+0000, no wildcards.
func validTopic(s string) bool {
	for _, r := range s {
		if r == 0 || r == '+' || r == '#' || r == 0xFFFD {
			return false
		}
	}
	return true
}

func splitDots(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
