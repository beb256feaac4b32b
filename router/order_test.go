package router

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
)

// TestMQTTPersistentSessionResendsInOrder: the QoS 1 messages queued for an
// offline persistent session come back in the order they were published.
// mochi v2.7.9 resent them sorted by the low 16 bits of their creation second,
// so messages queued within one second came back in map order; the JUNCTION
// PATCH in mqtt/third_party/mochi/inflight.go keeps the insertion order.
func TestMQTTPersistentSessionResendsInOrder(t *testing.T) {
	const (
		id    = "order-sub"
		topic = "order/t"
		n     = 200
	)
	r := startRouter(t, nil)
	addr := "mqtt://" + mqttAddr(r)

	sub := connectV5(t, addr, id, func(c *autopaho.ClientConfig) { c.SessionExpiryInterval = 300 })
	sub.subscribe(t, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sub.cm.Disconnect(ctx); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	recv(t, sub.cm.Done(), 5*time.Second, "subscriber connection to end")
	// Until mochi has ended its side, a publication could still be written
	// to the old connection instead of being queued.
	waitFor(t, 5*time.Second, "the router to see the subscriber gone", func() bool {
		cl, ok := r.mqtt.Mochi().Clients.Get(id)
		return ok && cl.Closed()
	})

	pub := connectV5(t, addr, "order-pub", nil)
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	// mochi PUBACKs before it fans a publication out, but it reads one
	// connection's packets one at a time: the PUBACK of this publication
	// means the last one above has been queued for the offline session.
	pub.publish(t, &paho.Publish{Topic: "order/fence", QoS: 1, Payload: []byte("fence")})

	connacks := make(chan *paho.Connack, 1)
	back := connectV5(t, addr, id, func(c *autopaho.ClientConfig) {
		c.CleanStartOnInitialConnection = false
		c.SessionExpiryInterval = 300
		c.OnConnectionUp = func(_ *autopaho.ConnectionManager, ca *paho.Connack) { connacks <- ca }
	})
	if ca := recv(t, connacks, 5*time.Second, "CONNACK"); !ca.SessionPresent {
		t.Fatal("CONNACK without session present")
	}
	var got []string
	for i := range n {
		m := recv(t, back.msgs, 5*time.Second, fmt.Sprintf("queued message %d of %d (got %d so far)", i+1, n, len(got)))
		if m.Topic != topic || m.QoS != 1 {
			t.Fatalf("queued message %d: topic %q QoS %d", i, m.Topic, m.QoS)
		}
		got = append(got, string(m.Payload))
	}
	for i, p := range got {
		if p != fmt.Sprint(i) {
			t.Fatalf("queued messages out of order: position %d is %q, want %q\nreceived: %v", i, p, fmt.Sprint(i), got)
		}
	}
	// A live publication now comes right after them: nothing was sent twice.
	pub.publish(t, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("live")})
	if m := recv(t, back.msgs, 5*time.Second, "live message"); string(m.Payload) != "live" {
		t.Fatalf("after the queued messages: got %q, want the live message", m.Payload)
	}
}
