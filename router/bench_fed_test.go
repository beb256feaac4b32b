//go:build unix

// Federation benchmarks: what crossing from one router to another through
// Redis costs, beside the same traffic on one router, in one run:
//
//	go test ./router -run '^$' -bench Federation -benchtime 2s -count 3
//
// Two Junction routers in this process federate through one redis-server
// (started by the benchmark, no persistence). bench_test.go's MQTT workload
// (paho MQTT 3.1.1, 100-byte payloads, its credit window) and
// bench_bridge_test.go's stamped latency workload run:
//
//	alone           one router, federation off: the baseline
//	same_router     publisher and subscriber on router A (federated: the
//	                publish is matched against the other router's routes, in vain)
//	cross_router    publisher on A, subscriber on B: every message goes
//	                through Redis
//
// BenchmarkFederationThroughput reports msg/s and cpu-ns/msg at QoS 0 and 1,
// and redis-cmds/msg: commands Redis processed during the run (INFO stats,
// heartbeats and acknowledgements included) per message. Read cross_router
// msg/s ÷ same_router msg/s (goal ≥ 0.5 at QoS 0). BenchmarkFederationLatency
// paces MQTT → MQTT and MQTT → WAMP at bridgeRate msg/s and reports p50-µs
// and p99-µs. Redis, both routers and all clients share the machine's cores.
package router

import (
	"strconv"
	"strings"
	"testing"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// fedBenchRouters starts Redis and two federated routers (or, alone, one
// router without federation).
func fedBenchRouters(b *testing.B, alone bool) (a, r2 *Router, redis *fedtest.Server) {
	if alone {
		r := startRouter(b, nil)
		return r, r, nil
	}
	redis = fedtest.Start(b, fedtest.Options{})
	url := "redis://" + redis.Addr()
	return startFederated(b, url, "a", nil), startFederated(b, url, "b", nil), redis
}

// redisCommands is the number of commands Redis has processed.
func redisCommands(b *testing.B, s *fedtest.Server) int64 {
	if s == nil {
		return 0
	}
	v, err := s.Do("INFO", "stats")
	if err != nil {
		b.Fatalf("INFO stats: %v", err)
	}
	for _, l := range strings.Split(v.(string), "\n") {
		if rest, ok := strings.CutPrefix(l, "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			return n
		}
	}
	b.Fatal("INFO stats without total_commands_processed")
	return 0
}

func BenchmarkFederationThroughput(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		for _, mode := range []string{"alone", "same_router", "cross_router"} {
			b.Run(mode+"_qos"+strconv.Itoa(int(qos)), func(b *testing.B) {
				a, other, redis := fedBenchRouters(b, mode == "alone")
				sub := a
				if mode == "cross_router" {
					sub = other
				}
				var before int64
				benchMQTTBetween(b, mqttAddr(a), mqttAddr(sub), qos, func() {
					if mode == "cross_router" {
						waitRoutes(b, a, 1)
					}
					before = redisCommands(b, redis)
				})
				if redis != nil {
					b.ReportMetric(float64(redisCommands(b, redis)-before)/float64(b.N), "redis-cmds/msg")
				}
			})
		}
	}
}

func BenchmarkFederationLatency(b *testing.B) {
	for _, sub := range []bridgeEnd{endMQTT, endWAMPJSON} {
		for _, mode := range []string{"alone", "same_router", "cross_router"} {
			b.Run("mqtt_to_"+sub.name+"/"+mode, func(b *testing.B) {
				a, other, _ := fedBenchRouters(b, mode == "alone")
				subR := a
				if mode == "cross_router" {
					subR = other
				}
				benchBridgePath(b, a, subR, endMQTT, sub, bridgeRate)
			})
		}
	}
}
