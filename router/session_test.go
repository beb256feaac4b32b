package router

// MQTT persistent sessions across routers, with routers in this process
// (the OS-process versions with third-party clients are in
// session_external_test.go).

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	mqtt3 "github.com/eclipse/paho.mqtt.golang"

	"github.com/junctionmq/junction/bridge/federation/fedtest"
)

// redisCalls sums the calls of every command in INFO commandstats.
func redisCalls(t testing.TB, redis *fedtest.Server) map[string]int {
	t.Helper()
	v, err := redis.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range strings.Split(fmt.Sprint(v), "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// TestSessionResumedOnAnotherRouter: a 3.1.1 persistent session made on A
// is resumed on B with session present, its subscription and the messages
// queued while it was away, in order.
func TestSessionResumedOnAnotherRouter(t *testing.T) {
	redis := fedtest.Start(t, fedtest.Options{})
	url := "redis://" + redis.Addr()
	a := startFederated(t, url, "a", nil)
	b := startFederated(t, url, "b", nil)
	waitFor(t, 10*time.Second, "routers see each other", func() bool {
		return len(a.link.Nodes()) == 1 && len(b.link.Nodes()) == 1
	})
	opts := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	dev := connectV3(t, "tcp://"+mqttAddr(a), "dev1", opts)
	subscribeV3(t, dev, "inbox/dev1/#", 1)
	dev.Disconnect(100)

	pub := connectV3(t, "tcp://"+mqttAddr(a), "pub", nil)
	const n = 50
	for i := range n {
		waitToken(t, pub.Publish("inbox/dev1/x", 1, false, strconv.Itoa(i)), "publish while offline")
	}
	before := redisCalls(t, redis)
	msgs := make(chan v3Msg, 2*n)
	o := mqtt3.NewClientOptions().AddBroker("tcp://" + mqttAddr(b)).SetClientID("dev1").SetCleanSession(false).
		SetAutoReconnect(false).SetProtocolVersion(4).
		SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) {
			msgs <- v3Msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
		})
	back := mqtt3.NewClient(o)
	tok := back.Connect()
	waitToken(t, tok, "connect on b")
	t.Cleanup(func() { back.Disconnect(100) })
	if !tok.(*mqtt3.ConnectToken).SessionPresent() {
		t.Fatal("session present false on b")
	}
	for i := range n {
		m := recv(t, msgs, 5*time.Second, "queued message")
		if m.payload != strconv.Itoa(i) {
			t.Fatalf("message %d: got %q", i, m.payload)
		}
	}
	after := redisCalls(t, redis)
	t.Logf("Redis commands during the resume (both routers, heartbeats included): eval %d, xadd %d, hset %d, hgetall %d, xread %d",
		after["eval"]-before["eval"], after["xadd"]-before["xadd"], after["hset"]-before["hset"],
		after["hgetall"]-before["hgetall"], after["xread"]-before["xread"])

	// New messages reach it on b, through the routes b announced.
	waitToken(t, pub.Publish("inbox/dev1/x", 1, false, "live"), "publish live")
	if m := recv(t, msgs, 5*time.Second, "live message"); m.payload != "live" {
		t.Fatalf("live message: %q", m.payload)
	}
}
