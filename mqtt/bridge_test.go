package mqtt

import (
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// TestHasSubscribersAgreesWithSubscribers checks the patched existence test
// against mochi's own matching, over filters of every shape.
func TestHasSubscribersAgreesWithSubscribers(t *testing.T) {
	topics := []string{"a", "a/b", "a/b/c", "a/x/c", "b", "b/c/d/e", "a/b/c/d", "/a", "a//b", "x"}
	filters := []string{"a", "a/b", "a/+", "a/+/c", "a/#", "#", "+", "+/b", "b/#", "+/+/+/+", "/a", "a//b", "$share/g/a/b", "$share/g/#", "a/b/#", "+/#"}
	for _, f := range filters {
		x := mochi.NewTopicsIndex()
		x.Subscribe("cl", packets.Subscription{Filter: f})
		for _, topic := range topics {
			subs := x.Subscribers(topic)
			want := len(subs.Subscriptions) > 0 || len(subs.Shared) > 0 || len(subs.InlineSubscriptions) > 0
			if got := x.HasSubscribers(topic); got != want {
				t.Errorf("filter %q, topic %q: HasSubscribers %v, Subscribers found %v", f, topic, got, want)
			}
		}
		x.Unsubscribe(f, "cl")
		for _, topic := range topics {
			if x.HasSubscribers(topic) {
				t.Errorf("filter %q unsubscribed, topic %q still has subscribers", f, topic)
			}
		}
	}
}
