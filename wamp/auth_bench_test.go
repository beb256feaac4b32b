package wamp

import (
	"log/slog"
	"testing"

	nxwamp "github.com/gammazero/nexus/v3/wamp"
)

// BenchmarkAuthorizePublish is the authorizer's cost on every PUBLISH with
// the default open role: what authorization adds to the WAMP hot path.
func BenchmarkAuthorizePublish(b *testing.B) {
	z := authorizer{realm: "realm1", authority: openAuthority(b), metrics: nopMetrics{}, log: slog.New(slog.DiscardHandler)}
	sess := &nxwamp.Session{Details: nxwamp.Dict{"authid": "anonymous-1", "authrole": "anonymous"}}
	msg := &nxwamp.Publish{Request: 1, Topic: "com.bench.topic", Options: nxwamp.Dict{}}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := z.Authorize(sess, msg); !ok {
			b.Fatal("refused")
		}
	}
}
