package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/gorilla/websocket"
)

// handler receives one message; it runs on the client's delivery goroutine.
type handler func(topic string, payload []byte)

// mqttClient is one MQTT connection, paho.mqtt.golang for 3.1.1 and
// paho.golang for 5.
type mqttClient interface {
	// publish sends one message; at QoS 1 and 2 it returns once the
	// message is handed over, and blocks while Inflight publishes await
	// their acknowledgement.
	publish(ctx context.Context, topic string, qos byte, payload []byte) error
	// send publishes without waiting for anything: for use inside a handler.
	send(topic string, qos byte, payload []byte) error
	// flush waits for the acknowledgements of every publish.
	flush(ctx context.Context) error
	subscribe(ctx context.Context, filter string, qos byte, h handler) error
	// lost is closed when the connection ends other than by close.
	lost() <-chan struct{}
	close()
}

type mqttOptions struct {
	url, clientID string
	version       int
	inflight      int
	timeout       time.Duration
}

func dialMQTT(ctx context.Context, o mqttOptions) (mqttClient, error) {
	if o.version == 5 {
		return dialMQTT5(ctx, o)
	}
	return dialMQTT3(ctx, o)
}

// --- MQTT 3.1.1: paho.mqtt.golang -------------------------------------------

type mqtt3Client struct {
	c        mqtt3.Client
	gone     chan struct{}
	goneOnce sync.Once
	mu       sync.Mutex // the publisher's token ring
	tokens   []mqtt3.Token
	next     int
	handlers sync.Map // filter -> handler
}

func dialMQTT3(ctx context.Context, o mqttOptions) (*mqtt3Client, error) {
	u, err := url.Parse(o.url)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "mqtt":
		u.Scheme = "tcp"
	case "mqtts":
		u.Scheme = "ssl"
	}
	m := &mqtt3Client{gone: make(chan struct{}), tokens: make([]mqtt3.Token, max(o.inflight, 1))}
	opts := mqtt3.NewClientOptions().
		AddBroker(u.String()).
		SetClientID(o.clientID).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetKeepAlive(60 * time.Second).
		SetPingTimeout(30 * time.Second).
		SetConnectTimeout(o.timeout).
		SetWriteTimeout(o.timeout).
		SetOrderMatters(true).
		SetMessageChannelDepth(uint(max(o.inflight, 100))).
		SetConnectionLostHandler(func(mqtt3.Client, error) { m.goneOnce.Do(func() { close(m.gone) }) })
	if u.Scheme == "wss" || u.Scheme == "ssl" {
		opts.SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	m.c = mqtt3.NewClient(opts)
	if err := waitToken(ctx, m.c.Connect()); err != nil {
		return nil, fmt.Errorf("mqtt connect %s: %w", o.url, err)
	}
	return m, nil
}

func waitToken(ctx context.Context, t mqtt3.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *mqtt3Client) publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	// paho keeps the slice until the packet is written: give it its own.
	t := m.c.Publish(topic, qos, false, append([]byte(nil), payload...))
	if qos == 0 {
		return waitToken(ctx, t)
	}
	m.mu.Lock()
	old := m.tokens[m.next]
	m.tokens[m.next] = t
	m.next = (m.next + 1) % len(m.tokens)
	m.mu.Unlock()
	if old != nil {
		return waitToken(ctx, old)
	}
	return nil
}

func (m *mqtt3Client) send(topic string, qos byte, payload []byte) error {
	m.c.Publish(topic, qos, false, payload)
	return nil
}

func (m *mqtt3Client) flush(ctx context.Context) error {
	m.mu.Lock()
	tokens := append([]mqtt3.Token(nil), m.tokens...)
	m.mu.Unlock()
	var errs []error
	for _, t := range tokens {
		if t != nil {
			errs = append(errs, waitToken(ctx, t))
		}
	}
	return errors.Join(errs...)
}

func (m *mqtt3Client) subscribe(ctx context.Context, filter string, qos byte, h handler) error {
	t := m.c.Subscribe(filter, qos, func(_ mqtt3.Client, msg mqtt3.Message) { h(msg.Topic(), msg.Payload()) })
	if err := waitToken(ctx, t); err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if st, ok := t.(*mqtt3.SubscribeToken); ok {
		for _, rc := range st.Result() {
			if rc == 0x80 {
				return fmt.Errorf("subscribe %s: refused", filter)
			}
		}
	}
	return nil
}

func (m *mqtt3Client) lost() <-chan struct{} { return m.gone }

func (m *mqtt3Client) close() { m.c.Disconnect(100) }

// --- MQTT 5: paho.golang ----------------------------------------------------

type mqtt5Client struct {
	c        *paho.Client
	gone     chan struct{}
	goneOnce sync.Once
	closing  chan struct{}
	mu       sync.RWMutex
	handlers map[string]handler // filter -> handler; one subscription per client here
}

func dialMQTT5(ctx context.Context, o mqttOptions) (*mqtt5Client, error) {
	conn, err := dialConn(ctx, o.url, "mqtt", o.timeout)
	if err != nil {
		return nil, err
	}
	m := &mqtt5Client{gone: make(chan struct{}), closing: make(chan struct{}), handlers: map[string]handler{}}
	down := func() {
		select {
		case <-m.closing: // our own close
		default:
			m.goneOnce.Do(func() { close(m.gone) })
		}
	}
	m.c = paho.NewClient(paho.ClientConfig{
		Conn:          conn,
		ClientID:      o.clientID,
		PacketTimeout: o.timeout,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) {
				m.mu.RLock()
				hs := make([]handler, 0, len(m.handlers))
				for _, h := range m.handlers {
					hs = append(hs, h)
				}
				m.mu.RUnlock()
				for _, h := range hs {
					h(pr.Packet.Topic, pr.Packet.Payload)
				}
				return true, nil
			},
		},
		OnClientError:      func(error) { down() },
		OnServerDisconnect: func(*paho.Disconnect) { down() },
	})
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	// Receive Maximum bounds what the server sends unacknowledged; paho
	// acknowledges slowly, so a low one throttles subscribers. Publishers
	// are bounded by the server's.
	rm := uint16(65535)
	ack, err := m.c.Connect(ctx, &paho.Connect{
		ClientID: o.clientID, KeepAlive: 60, CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &rm},
	})
	if err != nil {
		_ = conn.Close()
		if ack != nil {
			return nil, fmt.Errorf("mqtt connect %s: reason code %d: %w", o.url, ack.ReasonCode, err)
		}
		return nil, fmt.Errorf("mqtt connect %s: %w", o.url, err)
	}
	go func() { // ends with the client
		select {
		case <-m.c.Done():
			down()
		case <-m.closing:
		}
	}()
	return m, nil
}

func (m *mqtt5Client) publish(ctx context.Context, topic string, qos byte, payload []byte) error {
	p := &paho.Publish{Topic: topic, QoS: qos, Payload: append([]byte(nil), payload...)}
	if qos == 0 {
		_, err := m.c.Publish(ctx, p)
		return err
	}
	// Async: the session's in-flight window (the server's Receive Maximum)
	// is the bound; the acknowledgement is not awaited.
	_, err := m.c.PublishWithOptions(ctx, p, paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	return err
}

func (m *mqtt5Client) send(topic string, qos byte, payload []byte) error {
	return m.publish(context.Background(), topic, qos, payload)
}

func (m *mqtt5Client) flush(context.Context) error { return nil }

func (m *mqtt5Client) subscribe(ctx context.Context, filter string, qos byte, h handler) error {
	m.mu.Lock()
	m.handlers[filter] = h
	m.mu.Unlock()
	ack, err := m.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: qos}}})
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", filter, err)
	}
	if len(ack.Reasons) > 0 && ack.Reasons[0] >= 0x80 {
		return fmt.Errorf("subscribe %s: reason code %#x", filter, ack.Reasons[0])
	}
	return nil
}

func (m *mqtt5Client) lost() <-chan struct{} { return m.gone }

func (m *mqtt5Client) close() {
	close(m.closing)
	_ = m.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
}

// --- connections ------------------------------------------------------------

// dialConn opens a TCP (tcp://, mqtt://), TLS (ssl://, tls://, mqtts://) or
// WebSocket (ws://, wss://, with the subprotocol) connection.
func dialConn(ctx context.Context, raw, subprotocol string, timeout time.Duration) (net.Conn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch u.Scheme {
	case "tcp", "mqtt":
		var d net.Dialer
		return d.DialContext(ctx, "tcp", u.Host)
	case "ssl", "tls", "mqtts":
		d := tls.Dialer{Config: &tls.Config{MinVersion: tls.VersionTLS12}}
		return d.DialContext(ctx, "tcp", u.Host)
	case "ws", "wss":
		d := websocket.Dialer{Subprotocols: []string{subprotocol}, HandshakeTimeout: timeout}
		ws, resp, err := d.DialContext(ctx, raw, nil)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("websocket %s: %w", raw, err)
		}
		return &wsConn{Conn: ws}, nil
	}
	return nil, fmt.Errorf("%s: unsupported scheme %q", raw, u.Scheme)
}

// wsConn is a WebSocket as a byte stream: binary messages in, one message
// per Write out.
type wsConn struct {
	*websocket.Conn
	r   io.Reader
	wmu sync.Mutex // one message at a time
	// pmu is the sync.Locker paho.golang takes around each packet it
	// writes, a Write per part (fixed header, then the rest): without it a
	// PINGREQ from paho's pinger could land between a SUBSCRIBE's header
	// and body, and the server read a malformed packet (it happened now
	// and then at the first SUBSCRIBE of TestBenchJunction's WebSocket
	// fan-in). A TCP socket needs none: net.Buffers is one writev there.
	pmu sync.Mutex
}

// Lock and Unlock make a wsConn the sync.Locker paho.golang looks for.
func (c *wsConn) Lock()   { c.pmu.Lock() }
func (c *wsConn) Unlock() { c.pmu.Unlock() }

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, err
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}
