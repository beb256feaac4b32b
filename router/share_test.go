package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// TestSharedMemberTakenOverWithCleanStart: a member of a shared group holds
// a QoS 1 message it has not acknowledged when a new connection takes its
// client id with a clean start, on the same router or on another. That
// ends the member's session, so the message goes to the group's other
// member (MQTT 5, 4.8.2: a message whose member's session terminates SHOULD
// go to another member). Before, the takeover dropped it.
func TestSharedMemberTakenOverWithCleanStart(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	other := make(chan string, 100)
	m2 := connectV3(t, "tcp://"+mqttAddr(b), "m2", nil)
	waitToken(t, m2.Subscribe("$share/g/jobs/+", 1, func(_ mqtt3.Client, m mqtt3.Message) { other <- string(m.Payload()) }), "m2 subscribe")
	pub := connectV3(t, "tcp://"+mqttAddr(a), "pub", nil)

	for _, tc := range []struct {
		name       string
		persistent bool            // the member's session (3.1.1 clean session 0)
		takeOver   func(id string) // connects with a clean start
	}{
		{name: "clean session, same router", takeOver: func(id string) {
			connectV3(t, "tcp://"+mqttAddr(a), id, nil)
		}},
		{name: "persistent session, MQTT 5 clean start on another router", persistent: true, takeOver: func(id string) {
			connectV5(t, "mqtt://"+mqttAddr(b), id, func(c *autopaho.ClientConfig) {
				c.CleanStartOnInitialConnection = true
				c.SessionExpiryInterval = 60
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("m1-%v", tc.persistent)
			held := make(chan string, 100)
			m1 := connectV3(t, "tcp://"+mqttAddr(a), id, func(o *mqtt3.ClientOptions) {
				o.SetCleanSession(!tc.persistent)
				o.SetAutoAckDisabled(true) // m1 never acknowledges
			})
			waitToken(t, m1.Subscribe("$share/g/jobs/+", 1, func(_ mqtt3.Client, m mqtt3.Message) { held <- string(m.Payload()) }), "m1 subscribe")
			waitRoutes(t, a, 1)

			// Publish until m1 holds one (the hub picks a router per message).
			var job string
			for i := 0; job == ""; i++ {
				if i == 50 {
					t.Fatal("m1 was never picked in 50 messages")
				}
				p := fmt.Sprintf("%s-job-%d", id, i)
				waitToken(t, pub.Publish("jobs/x", 1, false, p), "publish")
				select {
				case job = <-held:
				case <-other:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s reached no member", p)
				}
			}

			tc.takeOver(id)
			deadline := time.After(10 * time.Second)
			for {
				select {
				case got := <-other:
					if got == job {
						return
					}
				case <-deadline:
					t.Fatalf("%s, unacknowledged by %s when its session ended, never reached m2", job, id)
				}
			}
		})
	}
}

// TestSharedMemberLeavesOneRouter: on one router without federation, what
// a member of a shared group holds unacknowledged when its session ends
// (it disconnects, or a clean start takes its client id) goes to the
// group's other member, as across routers. mochi alone drops it.
func TestSharedMemberLeavesOneRouter(t *testing.T) {
	r := startRouter(t, nil)
	other := make(chan string, 100)
	m2 := connectV3(t, "tcp://"+mqttAddr(r), "m2", nil)
	waitToken(t, m2.Subscribe("$share/g/jobs/+", 1, func(_ mqtt3.Client, m mqtt3.Message) { other <- string(m.Payload()) }), "m2 subscribe")
	pub := connectV3(t, "tcp://"+mqttAddr(r), "pub", nil)

	for _, tc := range []struct {
		name  string
		leave func(id string, m1 mqtt3.Client)
	}{
		{name: "member disconnects", leave: func(_ string, m1 mqtt3.Client) { m1.Disconnect(0) }},
		{name: "clean start takes the client id", leave: func(id string, _ mqtt3.Client) {
			connectV3(t, "tcp://"+mqttAddr(r), id, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "m1-" + tc.name[:6]
			held := make(chan string, 100)
			m1 := connectV3(t, "tcp://"+mqttAddr(r), id, func(o *mqtt3.ClientOptions) {
				o.SetAutoAckDisabled(true) // m1 never acknowledges
			})
			waitToken(t, m1.Subscribe("$share/g/jobs/+", 1, func(_ mqtt3.Client, m mqtt3.Message) { held <- string(m.Payload()) }), "m1 subscribe")
			var job string
			for i := 0; job == ""; i++ {
				if i == 50 {
					t.Fatal("m1 was never picked in 50 messages")
				}
				p := fmt.Sprintf("%s-job-%d", id, i)
				waitToken(t, pub.Publish("jobs/x", 1, false, p), "publish")
				select {
				case job = <-held:
				case <-other:
				case <-time.After(5 * time.Second):
					t.Fatalf("%s reached no member", p)
				}
			}
			tc.leave(id, m1)
			deadline := time.After(10 * time.Second)
			for {
				select {
				case got := <-other:
					if got == job {
						return
					}
				case <-deadline:
					t.Fatalf("%s, unacknowledged by %s when its session ended, never reached m2", job, id)
				}
			}
		})
	}
}
