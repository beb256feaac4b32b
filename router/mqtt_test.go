package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// mqttTransports are the three ways an MQTT client reaches Junction.
func mqttTransports(r *Router) []struct{ name, v5URL, v3URL string } {
	return []struct{ name, v5URL, v3URL string }{
		{"tcp", "mqtt://" + mqttAddr(r), "tcp://" + mqttAddr(r)},
		{"universal", "mqtt://" + httpAddr(r), "tcp://" + httpAddr(r)},
		{"websocket", wsURL(r), wsURL(r)},
	}
}

// v5Client is an MQTT 5 client (paho.golang's autopaho) whose received
// publishes arrive on msgs.
type v5Client struct {
	cm          *autopaho.ConnectionManager
	msgs        chan *paho.Publish
	disconnects chan *paho.Disconnect
}

func connectV5(t testing.TB, rawURL, clientID string, mutate func(*autopaho.ClientConfig)) *v5Client {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c := &v5Client{msgs: make(chan *paho.Publish, 1000), disconnects: make(chan *paho.Disconnect, 1)}
	cfg := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectTimeout:                5 * time.Second,
		OnConnectionDown:              func() bool { return false }, // no reconnects in tests
		ClientConfig: paho.ClientConfig{
			ClientID: clientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					c.msgs <- pr.Packet
					return true, nil
				},
			},
			OnServerDisconnect: func(d *paho.Disconnect) {
				select {
				case c.disconnects <- d:
				default:
				}
			},
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	// autopaho releases AwaitConnection before it calls OnConnectionUp:
	// the caller's callback (which records session present, say) has run
	// when connectV5 returns.
	up := make(chan struct{})
	var once sync.Once
	onUp := cfg.OnConnectionUp
	cfg.OnConnectionUp = func(cm *autopaho.ConnectionManager, ack *paho.Connack) {
		if onUp != nil {
			onUp(cm, ack)
		}
		once.Do(func() { close(up) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cm, err := autopaho.NewConnection(context.Background(), cfg)
	if err != nil {
		t.Fatalf("%s: autopaho: %v", clientID, err)
	}
	if err := cm.AwaitConnection(ctx); err != nil {
		t.Fatalf("%s: connecting to %s: %v", clientID, rawURL, err)
	}
	select {
	case <-up:
	case <-ctx.Done():
		t.Fatalf("%s: OnConnectionUp not called", clientID)
	}
	c.cm = cm
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = cm.Disconnect(ctx)
		<-cm.Done()
	})
	return c
}

func (c *v5Client) subscribe(t testing.TB, filter string, qos byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ack, err := c.cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		t.Fatalf("subscribe %s: %v", filter, err)
	}
	if ack.Reasons[0] != qos {
		t.Fatalf("subscribe %s: SUBACK reason %#x, want granted QoS %d", filter, ack.Reasons[0], qos)
	}
}

func (c *v5Client) publish(t *testing.T, p *paho.Publish) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.cm.Publish(ctx, p)
	if err != nil {
		t.Fatalf("publish %s: %v", p.Topic, err)
	}
	if p.QoS > 0 && resp.ReasonCode != 0 {
		t.Fatalf("publish %s: reason %#x", p.Topic, resp.ReasonCode)
	}
}

func TestMQTT5AcrossTransports(t *testing.T) {
	r := startRouter(t, nil)
	for _, tr := range mqttTransports(r) {
		t.Run(tr.name, func(t *testing.T) {
			sub := connectV5(t, tr.v5URL, "sub-"+tr.name, nil)
			pub := connectV5(t, tr.v5URL, "pub-"+tr.name, nil)
			filter := "dev/" + tr.name + "/+/temp"
			sub.subscribe(t, filter, 2)
			for qos := byte(0); qos <= 2; qos++ {
				topic := fmt.Sprintf("dev/%s/%d/temp", tr.name, qos)
				pub.publish(t, &paho.Publish{
					Topic: topic, QoS: qos, Payload: []byte(fmt.Sprintf("21.%d", qos)),
					Properties: &paho.PublishProperties{
						ContentType:     "text/plain",
						ResponseTopic:   "replies/" + tr.name,
						CorrelationData: []byte{0, 1, 2, qos},
						User:            paho.UserProperties{{Key: "unit", Value: "celsius"}},
					},
				})
				got := recv(t, sub.msgs, 5*time.Second, "publish at QoS "+fmt.Sprint(qos))
				if got.Topic != topic || string(got.Payload) != fmt.Sprintf("21.%d", qos) || got.QoS != qos {
					t.Fatalf("got topic %q payload %q qos %d; want %q %q %d", got.Topic, got.Payload, got.QoS, topic, fmt.Sprintf("21.%d", qos), qos)
				}
				p := got.Properties
				if p == nil || p.ContentType != "text/plain" || p.ResponseTopic != "replies/"+tr.name ||
					string(p.CorrelationData) != string([]byte{0, 1, 2, qos}) || p.User.Get("unit") != "celsius" {
					t.Fatalf("properties lost: %+v", p)
				}
			}
		})
	}
}

func TestMQTT5QoSDowngradedToSubscription(t *testing.T) {
	r := startRouter(t, nil)
	sub := connectV5(t, "mqtt://"+mqttAddr(r), "sub", nil)
	pub := connectV5(t, "mqtt://"+mqttAddr(r), "pub", nil)
	sub.subscribe(t, "q/#", 1)
	pub.publish(t, &paho.Publish{Topic: "q/a", QoS: 2, Payload: []byte("x")})
	if got := recv(t, sub.msgs, 5*time.Second, "publish"); got.QoS != 1 {
		t.Fatalf("delivered at QoS %d, want the subscription's 1", got.QoS)
	}
}

func TestMQTT5SharedSubscription(t *testing.T) {
	r := startRouter(t, nil)
	a := connectV5(t, "mqtt://"+mqttAddr(r), "a", nil)
	b := connectV5(t, "mqtt://"+mqttAddr(r), "b", nil)
	pub := connectV5(t, "mqtt://"+mqttAddr(r), "pub", nil)
	a.subscribe(t, "$share/g/jobs", 1)
	b.subscribe(t, "$share/g/jobs", 1)
	const n = 20
	for i := range n {
		pub.publish(t, &paho.Publish{Topic: "jobs", QoS: 1, Payload: []byte(fmt.Sprint(i))})
	}
	seen := map[string]bool{}
	for range n {
		select {
		case m := <-a.msgs:
			seen[string(m.Payload)] = true
		case m := <-b.msgs:
			seen[string(m.Payload)] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("received %d of %d jobs", len(seen), n)
		}
	}
	if len(seen) != n {
		t.Fatalf("jobs delivered to the group: %d distinct of %d", len(seen), n)
	}
	select {
	case m := <-a.msgs:
		t.Fatalf("job %s delivered twice", m.Payload)
	case m := <-b.msgs:
		t.Fatalf("job %s delivered twice", m.Payload)
	default:
	}
}

// v3 connects an MQTT 3.1.1 client (paho.mqtt.golang).
func connectV3(t testing.TB, broker, clientID string, mutate func(*mqtt3.ClientOptions)) mqtt3.Client {
	t.Helper()
	o := mqtt3.NewClientOptions().AddBroker(broker).SetClientID(clientID).
		SetAutoReconnect(false).SetConnectRetry(false).SetConnectTimeout(5 * time.Second).
		SetProtocolVersion(4).SetCleanSession(true)
	if mutate != nil {
		mutate(o)
	}
	c := mqtt3.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("%s: connect to %s: %v", clientID, broker, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func waitToken(t testing.TB, tok mqtt3.Token, what string) {
	t.Helper()
	if !tok.WaitTimeout(5 * time.Second) {
		t.Fatalf("%s: timed out", what)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

type v3Msg struct {
	topic    string
	payload  string
	qos      byte
	retained bool
}

func subscribeV3(t testing.TB, c mqtt3.Client, filter string, qos byte) <-chan v3Msg {
	t.Helper()
	ch := make(chan v3Msg, 1000)
	tok := c.Subscribe(filter, qos, func(_ mqtt3.Client, m mqtt3.Message) {
		ch <- v3Msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
	})
	waitToken(t, tok, "subscribe "+filter)
	if st, ok := tok.(*mqtt3.SubscribeToken); ok {
		if got := st.Result()[filter]; got != qos {
			t.Fatalf("subscribe %s: granted %#x, want %d", filter, got, qos)
		}
	}
	return ch
}

func TestMQTT311AcrossTransports(t *testing.T) {
	r := startRouter(t, nil)
	for _, tr := range mqttTransports(r) {
		t.Run(tr.name, func(t *testing.T) {
			sub := connectV3(t, tr.v3URL, "sub3-"+tr.name, nil)
			pub := connectV3(t, tr.v3URL, "pub3-"+tr.name, nil)
			msgs := subscribeV3(t, sub, "v3/"+tr.name+"/#", 2)
			for qos := byte(0); qos <= 2; qos++ {
				topic := fmt.Sprintf("v3/%s/q%d", tr.name, qos)
				waitToken(t, pub.Publish(topic, qos, false, "payload"), "publish")
				got := recv(t, msgs, 5*time.Second, "message")
				if got != (v3Msg{topic, "payload", qos, false}) {
					t.Fatalf("got %+v", got)
				}
			}
		})
	}
}

func TestMQTTRetained(t *testing.T) {
	r := startRouter(t, nil)
	pub := connectV3(t, "tcp://"+mqttAddr(r), "pub", nil)
	waitToken(t, pub.Publish("status/door", 1, true, "open"), "publish retained")
	// A client arriving later, over another transport, gets it marked retained.
	late := connectV5(t, wsURL(r), "late", nil)
	late.subscribe(t, "status/+", 1)
	got := recv(t, late.msgs, 5*time.Second, "retained message")
	if got.Topic != "status/door" || string(got.Payload) != "open" || !got.Retain {
		t.Fatalf("got %s %q retain=%v", got.Topic, got.Payload, got.Retain)
	}
	// An empty retained payload clears it.
	waitToken(t, pub.Publish("status/door", 1, true, ""), "clear retained")
	later := connectV3(t, "tcp://"+mqttAddr(r), "later", nil)
	msgs := subscribeV3(t, later, "status/#", 1)
	waitToken(t, pub.Publish("status/marker", 1, false, "m"), "marker")
	for {
		got := recv(t, msgs, 5*time.Second, "marker")
		if got.topic == "status/marker" {
			return
		}
		// mochi acknowledges the clearing publish before it fans it out, so
		// "later" may get it live (empty, not retained): that is allowed.
		if got.retained || got.payload != "" {
			t.Fatalf("cleared retained message still delivered: %+v", got)
		}
	}
}

func TestMQTTWill(t *testing.T) {
	r := startRouter(t, nil)
	watcher := connectV3(t, "tcp://"+mqttAddr(r), "watcher", nil)
	msgs := subscribeV3(t, watcher, "wills/#", 1)
	dying := connectV5(t, "mqtt://"+mqttAddr(r), "dying", func(c *autopaho.ClientConfig) {
		c.WillMessage = &paho.WillMessage{Topic: "wills/dying", Payload: []byte("gone"), QoS: 1}
	})
	dying.cm.TerminateConnectionForTest() // drop the socket without DISCONNECT
	got := recv(t, msgs, 5*time.Second, "will message")
	if got.topic != "wills/dying" || got.payload != "gone" {
		t.Fatalf("got %+v", got)
	}
}

func TestMQTTPersistentSession(t *testing.T) {
	r := startRouter(t, nil)
	opts := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	c := connectV3(t, "tcp://"+mqttAddr(r), "persistent", opts)
	subscribeV3(t, c, "inbox/#", 1)
	c.Disconnect(100)

	pub := connectV3(t, "tcp://"+mqttAddr(r), "pub", nil)
	for i := range 3 {
		waitToken(t, pub.Publish(fmt.Sprintf("inbox/%d", i), 1, false, fmt.Sprint(i)), "publish while offline")
	}
	msgs := make(chan v3Msg, 10)
	back := connectV3(t, "tcp://"+mqttAddr(r), "persistent", func(o *mqtt3.ClientOptions) {
		o.SetCleanSession(false)
		o.SetDefaultPublishHandler(func(_ mqtt3.Client, m mqtt3.Message) {
			msgs <- v3Msg{m.Topic(), string(m.Payload()), m.Qos(), m.Retained()}
		})
	})
	_ = back
	// Every queued message arrives at QoS 1, in the order published (mochi
	// as carried in mqtt/third_party/mochi; upstream v2.7.9 shuffles them,
	// see TestMQTTPersistentSessionResendsInOrder).
	for i := range 3 {
		m := recv(t, msgs, 5*time.Second, "queued message")
		if m.payload != fmt.Sprint(i) || m.qos != 1 {
			t.Fatalf("queued message %d: %q at QoS %d, want %q at QoS 1", i, m.payload, m.qos, fmt.Sprint(i))
		}
	}
}

func TestMQTT31OverMQTTv31Subprotocol(t *testing.T) {
	r := startRouter(t, nil)
	sub := connectV3(t, "tcp://"+mqttAddr(r), "sub31", nil)
	msgs := subscribeV3(t, sub, "old/#", 0)
	// An MQTT 3.1 client (protocol name MQIsdp, level 3) offering the
	// subprotocol some of them still use.
	d := websocket.Dialer{Subprotocols: []string{"mqttv3.1"}}
	ws, _, err := d.Dial(wsURL(r), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if ws.Subprotocol() != "mqttv3.1" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	connect := []byte{0x10, 0x11, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 3, 'o', 'l', 'd'}
	publish := []byte{0x30, 0x08, 0, 5, 'o', 'l', 'd', '/', 'x', 'v'}
	if err := ws.WriteMessage(websocket.BinaryMessage, connect); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, ack, err := ws.ReadMessage()
	if err != nil || string(ack) != "\x20\x02\x00\x00" {
		t.Fatalf("CONNACK %x %v", ack, err)
	}
	if err := ws.WriteMessage(websocket.BinaryMessage, publish); err != nil {
		t.Fatal(err)
	}
	if m := recv(t, msgs, 5*time.Second, "MQTT 3.1 publish"); m.topic != "old/x" || m.payload != "v" {
		t.Fatalf("got %+v", m)
	}
}

func TestMQTT5ConnackAnnouncesLimits(t *testing.T) {
	r := startRouter(t, func(c *Config) { c.Limits.MaxMessageSize = 200 << 10 })
	acks := make(chan *paho.Connack, 1)
	c := connectV5(t, "mqtt://"+mqttAddr(r), "limits", func(cfg *autopaho.ClientConfig) {
		cfg.OnConnectionUp = func(_ *autopaho.ConnectionManager, ca *paho.Connack) { acks <- ca }
	})
	ca := recv(t, acks, 5*time.Second, "CONNACK")
	if ca.Properties == nil || ca.Properties.MaximumPacketSize == nil || *ca.Properties.MaximumPacketSize != 200<<10 {
		t.Fatalf("CONNACK Maximum Packet Size: %+v", ca.Properties)
	}
	if ca.Properties.TopicAliasMaximum == nil || *ca.Properties.TopicAliasMaximum != 64 {
		t.Fatalf("CONNACK Topic Alias Maximum: %+v", ca.Properties.TopicAliasMaximum)
	}
	// A topic alias within the limit works.
	c.subscribe(t, "alias/#", 0)
	alias := uint16(3)
	c.publish(t, &paho.Publish{Topic: "alias/a", QoS: 0, Payload: []byte("1"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	c.publish(t, &paho.Publish{Topic: "", QoS: 0, Payload: []byte("2"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	for _, want := range []string{"1", "2"} {
		if m := recv(t, c.msgs, 5*time.Second, "aliased publish"); m.Topic != "alias/a" || string(m.Payload) != want {
			t.Fatalf("got %s %q", m.Topic, m.Payload)
		}
	}
}

// TestMQTTResumedSessionSubscribes: a client that resumes a persistent
// session with messages queued for it can subscribe whatever packet id it
// picks: the ids of the server's queued messages are the server's (mochi
// refused a SUBSCRIBE whose id matched one, with 0x91).
func TestMQTTResumedSessionSubscribes(t *testing.T) {
	r := startRouter(t, nil)
	persistent := func(o *mqtt3.ClientOptions) { o.SetCleanSession(false) }
	c := connectV3(t, "tcp://"+mqttAddr(r), "resumer", persistent)
	subscribeV3(t, c, "queued", 1)
	c.Disconnect(0)
	pub := connectV3(t, "tcp://"+mqttAddr(r), "filler", nil)
	for i := range 3 { // queued for the session, with server packet ids 1..3
		waitToken(t, pub.Publish("queued", 1, false, fmt.Sprint(i)), "publish")
	}
	// Back, by hand: CONNECT (clean session 0) and at once SUBSCRIBE with
	// packet id 1, before acknowledging anything.
	conn, err := net.Dial("tcp", mqttAddr(r))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connect := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x00, 0, 60, 0, 7, 'r', 'e', 's', 'u', 'm', 'e', 'r'}
	sub := []byte{0, 1, 0, 5, 'f', 'r', 'e', 's', 'h', 1}
	var out []byte
	out = append(append(append(out, 0x10), varint(len(connect))...), connect...)
	out = append(append(append(out, 0x82), varint(len(sub))...), sub...)
	if _, err := conn.Write(out); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	rd := bufio.NewReader(conn)
	for {
		typ, body := readPacket(t, rd)
		if typ>>4 == 9 { // SUBACK
			if len(body) != 3 || body[0] != 0 || body[1] != 1 || body[2] != 1 {
				t.Fatalf("SUBACK %x, want packet id 1 granted QoS 1", body)
			}
			return
		}
	}
}

// readPacket reads one MQTT packet: its first byte and its body.
func readPacket(t *testing.T, rd *bufio.Reader) (byte, []byte) {
	t.Helper()
	typ, err := rd.ReadByte()
	if err != nil {
		t.Fatalf("reading a packet: %v", err)
	}
	n, mult := 0, 1
	for {
		b, err := rd.ReadByte()
		if err != nil {
			t.Fatalf("reading a packet length: %v", err)
		}
		n += int(b&127) * mult
		if b < 128 {
			break
		}
		mult *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rd, body); err != nil {
		t.Fatalf("reading a packet body: %v", err)
	}
	return typ, body
}
