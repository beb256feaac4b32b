//go:build unix

// Cluster RPC benchmarks: a call's round trip when its callee is on another
// router, beside the same call on one router, in one run:
//
//	go test ./router -run '^$' -bench FederationRPC -benchtime 2s -count 3
//
// Two routers in this process federate through one redis-server. Paths,
// each same_router (caller and callee on router A, federated) and
// cross_router (caller on A, callee on B):
//
//	wamp_to_wamp    nexus client (JSON over WebSocket) calls a nexus client
//	mqtt_to_mqtt    paho MQTT 5 caller, paho MQTT 5 callee ($rpc/, QoS 0)
//
// BenchmarkFederationRPCLatency makes one call at a time (p50-µs, p99-µs of
// an idle cluster); BenchmarkFederationRPCThroughput keeps rpcWindow calls
// in flight (calls/s). Both report cpu-ns/call and redis-cmds/call: the
// commands Redis processed during the run (heartbeats and acknowledgements
// included) per call. Read cross_router ÷ same_router.
package router

import (
	"testing"

	"github.com/gammazero/nexus/v3/transport/serialize"
)

func BenchmarkFederationRPCLatency(b *testing.B)    { benchFedRPC(b, 1) }
func BenchmarkFederationRPCThroughput(b *testing.B) { benchFedRPC(b, rpcWindow) }

func benchFedRPC(b *testing.B, window int) {
	for _, path := range []struct {
		name string
		mqtt bool
	}{{"wamp_to_wamp", false}, {"mqtt_to_mqtt", true}} {
		for _, where := range []string{"same_router", "cross_router"} {
			b.Run(path.name+"/"+where, func(b *testing.B) {
				a, r2, redis := fedBenchRouters(b, false)
				calleeOn := a
				if where == "cross_router" {
					calleeOn = r2
				}
				var call func(int) (string, error)
				if path.mqtt {
					rpcBenchMQTTCallee(b, calleeOn)
					call = rpcBenchMQTTCaller(b, a)
				} else {
					rpcBenchWAMPCallee(b, calleeOn)
					call = rpcBenchWAMPCaller(b, a)
				}
				if where == "cross_router" {
					c := connectWAMP(b, wsURL(a), serialize.JSON)
					waitCallable(b, c, rpcBenchProcedure)
				}
				// Warm up: the first calls open federation's sessions.
				for i := range 10 {
					if _, err := call(i); err != nil {
						b.Fatal(err)
					}
				}
				start := redisCommands(b, redis)
				rpcBenchRun(b, window, call)
				b.ReportMetric(float64(redisCommands(b, redis)-start)/float64(b.N), "redis-cmds/call")
			})
		}
	}
}
