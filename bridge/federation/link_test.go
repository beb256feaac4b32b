package federation

import (
	"fmt"
	"testing"
	"time"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

func TestSmoke(t *testing.T) {
	srv := fedtest.Start(t, fedtest.Options{})
	a := startNode(t, testConfig(single(srv), uniquePrefix(t), "a"))
	b := startNode(t, testConfig(single(srv), uniquePrefix(t), "b"))
	waitUp(t, a, b)
	b.AddRoute(Route{Proto: ProtoMQTT, Filter: "x/#"})
	waitRoutes(t, b, 1, a)
	for i := range 100 {
		if n := a.Publish(Message{Topic: "x/y", Reliable: true, Body: []byte(fmt.Sprint(i))}); n != 1 {
			t.Fatalf("Publish queued for %d routers, want 1", n)
		}
	}
	waitFor(t, 5*time.Second, "100 messages", func() bool { return b.rec.count() == 100 })
	for i, m := range b.rec.messages() {
		if m != fmt.Sprint(i) {
			t.Fatalf("message %d is %q", i, m)
		}
	}
}
