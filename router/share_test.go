package router

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

const jobsGroup = "$share/g/jobs/+"

// joinJobs connects a paho 3.1.1 member of jobsGroup; what it receives
// goes to the returned channel.
func joinJobs(t *testing.T, addr, id string, mutate func(*mqtt3.ClientOptions)) (mqtt3.Client, chan string) {
	t.Helper()
	got := make(chan string, 100)
	c := connectV3(t, "tcp://"+addr, id, mutate)
	waitToken(t, c.Subscribe(jobsGroup, 1, func(_ mqtt3.Client, m mqtt3.Message) { got <- string(m.Payload()) }), id+" subscribe")
	return c, got
}

// neverAcks is a member that holds what it receives unacknowledged.
func neverAcks(persistent bool) func(*mqtt3.ClientOptions) {
	return func(o *mqtt3.ClientOptions) {
		o.SetCleanSession(!persistent)
		o.SetAutoAckDisabled(true)
	}
}

// holdOne publishes jobs until the member whose deliveries come on held
// has one (the group gets one per message, at either member), and returns
// it.
func holdOne(t *testing.T, pub mqtt3.Client, id string, held, other <-chan string) string {
	t.Helper()
	for i := range 50 {
		p := fmt.Sprintf("%s-job-%d", id, i)
		waitToken(t, pub.Publish("jobs/x", 1, false, p), "publish")
		select {
		case job := <-held:
			return job
		case <-other:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s reached no member", p)
		}
	}
	t.Fatalf("%s was never picked in 50 messages", id)
	return ""
}

// waitHandedOn waits until job, held unacknowledged by id when its session
// ended, reaches the other member.
func waitHandedOn(t *testing.T, other <-chan string, job, id string) {
	t.Helper()
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
}

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
	_, other := joinJobs(t, mqttAddr(b), "m2", nil)
	pub := connectV3(t, "tcp://"+mqttAddr(a), "pub", nil)

	for _, tc := range []struct {
		name       string
		id         string
		persistent bool            // the member's session (3.1.1 clean session 0)
		takeOver   func(id string) // connects with a clean start
	}{
		{name: "clean session, same router", id: "m1-clean", takeOver: func(id string) {
			connectV3(t, "tcp://"+mqttAddr(a), id, nil)
		}},
		{name: "persistent session, MQTT 5 clean start on another router", id: "m1-persistent", persistent: true, takeOver: func(id string) {
			connectV5(t, "mqtt://"+mqttAddr(b), id, func(c *autopaho.ClientConfig) {
				c.CleanStartOnInitialConnection = true
				c.SessionExpiryInterval = 60
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, held := joinJobs(t, mqttAddr(a), tc.id, neverAcks(tc.persistent))
			waitRoutes(t, a, 1)
			job := holdOne(t, pub, tc.id, held, other)
			tc.takeOver(tc.id)
			waitHandedOn(t, other, job, tc.id)
		})
	}
}

// TestSharedMemberLeavesOneRouter: on one router without federation, what
// a member of a shared group holds unacknowledged when its session ends
// (it disconnects, or a clean start takes its client id) goes to the
// group's other member, as across routers. mochi alone drops it.
func TestSharedMemberLeavesOneRouter(t *testing.T) {
	r := startRouter(t, nil)
	_, other := joinJobs(t, mqttAddr(r), "m2", nil)
	pub := connectV3(t, "tcp://"+mqttAddr(r), "pub", nil)

	for _, tc := range []struct {
		name  string
		id    string
		leave func(id string, m1 mqtt3.Client)
	}{
		{name: "member disconnects", id: "m1-leaves", leave: func(_ string, m1 mqtt3.Client) { m1.Disconnect(0) }},
		{name: "clean start takes the client id", id: "m1-taken", leave: func(id string, _ mqtt3.Client) {
			connectV3(t, "tcp://"+mqttAddr(r), id, nil)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m1, held := joinJobs(t, mqttAddr(r), tc.id, neverAcks(false))
			job := holdOne(t, pub, tc.id, held, other)
			tc.leave(tc.id, m1)
			waitHandedOn(t, other, job, tc.id)
		})
	}
}
