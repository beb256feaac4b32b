//go:build unix

// Session resume benchmark: how long a device with a persistent session
// (paho MQTT 3.1.1, clean session 0) takes to come back, on the router its
// session is on and on another router, in one run:
//
//	go test ./router -run '^$' -bench FederationSessionResume -benchtime 50x -count 3
//
// Two routers in this process federate through one redis-server. Each
// iteration: the device is offline with queuedMessages QoS 1 messages
// waiting; it connects (same_router: to router A, where its session is;
// cross_router: to router B, which asks A for the session, alternating so
// that the session moves each time) and receives them all. connack-µs is
// CONNECT to CONNACK (session present checked), resume-µs CONNECT to the
// last queued message, in order. redis-cmds/resume counts every command
// Redis processed during the resumes (heartbeats included) per resume;
// again/resume the messages delivered again (MQTT allows it for QoS 1).
package router

import (
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"
)

const queuedMessages = 20

func BenchmarkFederationSessionResume(b *testing.B) {
	for _, where := range []string{"same_router", "cross_router"} {
		b.Run(where, func(b *testing.B) {
			a, r2, redis := fedBenchRouters(b, false)
			waitFor(b, 10*time.Second, "routers see each other", func() bool {
				return len(a.link.Nodes()) == 1 && len(r2.link.Nodes()) == 1
			})
			routers := []*Router{a, r2}
			msgs := make(chan string, 4*queuedMessages)
			connect := func(r *Router) (mqtt3.Client, time.Duration) {
				o := mqtt3.NewClientOptions().AddBroker("tcp://" + mqttAddr(r)).SetClientID("bench-dev").
					SetCleanSession(false).SetAutoReconnect(false).SetProtocolVersion(4).
					SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) { msgs <- string(m.Payload()) })
				c := mqtt3.NewClient(o)
				start := time.Now()
				tok := c.Connect()
				waitToken(b, tok, "connect")
				if !tok.(*mqtt3.ConnectToken).SessionPresent() && r != a {
					b.Fatal("session present false")
				}
				return c, time.Since(start)
			}
			dev, _ := connect(a)
			subscribeV3(b, dev, "bench/dev/#", 1)
			dev.Disconnect(50)
			pub := connectV3(b, "tcp://"+mqttAddr(a), "bench-pub", nil)
			on := 0 // the router the session is on
			var connack, resume time.Duration
			again := 0
			start := redisCommands(b, redis)
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				for j := range queuedMessages {
					waitToken(b, pub.Publish("bench/dev/x", 1, false, strconv.Itoa(i)+"-"+strconv.Itoa(j)), "publish")
				}
				next := on
				if where == "cross_router" {
					next = 1 - on
				}
				b.StartTimer()
				t0 := time.Now()
				c, d := connect(routers[next])
				// This round's messages, in order. A message of an earlier round
				// may come again first (its PUBACK was not sent before the
				// device left: MQTT redelivers it), and during a move a
				// message may come twice: both are counted, not errors.
				for j := 0; j < queuedMessages; {
					var got string
					select {
					case got = <-msgs:
					case <-time.After(10 * time.Second):
						b.Fatalf("resume %d: message %d of %d not received within 10s", i, j, queuedMessages)
					}
					round, n, _ := strings.Cut(got, "-")
					r, _ := strconv.Atoi(round)
					k, _ := strconv.Atoi(n)
					switch {
					case r == i && k == j:
						j++
					case r < i || r == i && k < j:
						again++
					default:
						b.Fatalf("resume %d: message %d is %q", i, j, got)
					}
				}
				resume += time.Since(t0)
				connack += d
				b.StopTimer()
				c.Disconnect(50)
				on = next
				b.StartTimer()
			}
			b.StopTimer()
			b.ReportMetric(float64(connack.Microseconds())/float64(b.N), "connack-µs")
			b.ReportMetric(float64(resume.Microseconds())/float64(b.N), "resume-µs")
			b.ReportMetric(float64(redisCommands(b, redis)-start)/float64(b.N), "redis-cmds/resume")
			b.ReportMetric(float64(again)/float64(b.N), "again/resume")
		})
	}
}
