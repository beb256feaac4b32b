// Package mqtt is the MQTT side of Junction, on the mochi broker: server
// options chosen so that no client can stall another, hooks, and the adapters
// that let mochi serve connections the router accepted itself (TCP, the
// universal port, WebSocket).
package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"

	"github.com/junctionmq/junction/auth"
)

// Subprotocols are the WebSocket subprotocols this package speaks: "mqtt" for
// MQTT 3.1.1 and 5, "mqttv3.1" which some MQTT 3.1 clients still offer.
var Subprotocols = []string{"mqtt", "mqttv3.1"}

// IsSubprotocol reports whether name is an MQTT WebSocket subprotocol.
func IsSubprotocol(name string) bool { return name == "mqtt" || name == "mqttv3.1" }

// Transports label where a connection came from; each is also the mochi
// listener ID its clients are filed under.
const (
	TransportTCP       = "tcp"
	TransportWebSocket = "websocket"
)

// Metrics receives what the MQTT side counts. The router implements it.
type Metrics interface {
	Connected(transport string) (disconnected func())
	Evicted(reason string)
	Rejected(reason string)
	AuthFailed(method string)
	Denied(action string)
	// Ended counts a connection's end: its reason (one of the Reason
	// constants) and how long it lasted.
	Ended(reason string, lasted time.Duration)
}

// Reasons a connection ended, the labels of the router's disconnect metric.
const (
	ReasonClientDisconnect = "client_disconnect" // the client sent DISCONNECT
	ReasonConnectionLost   = "connection_lost"   // closed or reset without DISCONNECT
	ReasonKeepAlive        = "keepalive_timeout" // silent for 1.5 times its keep alive
	ReasonConnectTimeout   = "connect_timeout"   // no CONNECT within limits.connect_timeout
	ReasonAuthFailed       = "auth_failed"       // bad credentials or throttled
	ReasonNotAuthorized    = "not_authorized"    // anonymous off, forbidden will, another identity's session
	ReasonTakeover         = "takeover"          // a new connection took its session
	ReasonSlowConsumer     = "slow_consumer"     // evicted for not reading
	ReasonTooLarge         = "too_large"         // a packet (or an inflated WebSocket message) over the limit
	ReasonProtocolError    = "protocol_error"    // malformed or invalid packets
	ReasonShutdown         = "server_shutdown"   // the router is draining
	ReasonServerBusy       = "server_busy"       // refused at CONNECT for want of capacity
	ReasonTokenExpired     = "token_expired"     // the JWT it logged in with expired, and no AUTH renewed it
	ReasonError            = "error"             // anything else
)

// Config is everything a Server needs.
type Config struct {
	MaxMessageSize   int           // bytes; larger packets get DISCONNECT 0x95
	WriteQueue       int           // packets queued per client inside mochi
	WriteBuffer      int           // unsent bytes per client before it is evicted
	MaxInflight      int           // QoS 1/2 messages a session may hold unacknowledged, 1-65535 (0: mochi's 8192)
	WriteTimeout     time.Duration // a write that takes longer evicts the client
	ConnectTimeout   time.Duration // until CONNECT
	MaxSessionExpiry time.Duration // cap on persistent sessions
	MaxMessageExpiry time.Duration // cap on message and retained message lifetime; 0 is no cap
	MaxTopicAlias    int           // topic aliases an MQTT 5 client may set up (each holds a topic in memory)
	Logger           *slog.Logger
	Metrics          Metrics
	Authority        Authority
	DefaultRealm     string // the realm of clients whose identity names none
	CertAuthID       string // cn or san: the authid of a TLS client certificate
	// MaxKeepAlive caps a client's keep alive (0: no cap). A client asking
	// more, or 0, gets it: MQTT 5 in CONNACK (Server Keep Alive), 3.1.1 by
	// being disconnected after 1.5 times it of silence.
	MaxKeepAlive time.Duration
	// WSCompressMinSize: on a WebSocket that negotiated permessage-deflate,
	// writes shorter than this go uncompressed.
	WSCompressMinSize int
	Hub               Hub      // nil: publications stay in MQTT on this router
	RPC               RPC      // nil: $rpc/ topics are ordinary topics
	Interest          Interest // nil: nobody is told of MQTT subscriptions (no federation)
	// Sharer serves shared subscriptions (share.go): a member picked
	// connected first, and what a leaving member held unacknowledged handed
	// to another member. nil: mochi's own, which drops those messages.
	Sharer   Sharer
	Sessions Sessions // nil: persistent sessions stay on this router (session.go)
}

func (c *Config) validate() error {
	var errs []error
	if c.MaxMessageSize <= 0 || c.MaxMessageSize > math.MaxUint32 {
		errs = append(errs, errors.New("MaxMessageSize must be positive and fit 32 bits"))
	}
	if c.WriteQueue <= 0 || c.WriteQueue > math.MaxInt32 {
		errs = append(errs, errors.New("WriteQueue must be positive"))
	}
	if c.MaxInflight < 0 || c.MaxInflight > math.MaxUint16 {
		errs = append(errs, errors.New("MaxInflight must be between 0 and 65535"))
	}
	if c.WriteBuffer < c.MaxMessageSize {
		errs = append(errs, errors.New("WriteBuffer must hold at least one message of MaxMessageSize"))
	}
	if c.WriteTimeout <= 0 || c.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("WriteTimeout and ConnectTimeout must be positive"))
	}
	if c.MaxTopicAlias < 0 || c.MaxTopicAlias > math.MaxUint16 {
		errs = append(errs, errors.New("MaxTopicAlias must be within 0..65535"))
	}
	if c.MaxKeepAlive < 0 || c.MaxKeepAlive > math.MaxUint16*time.Second {
		errs = append(errs, errors.New("MaxKeepAlive must be within 0..65535s"))
	}
	if c.MaxSessionExpiry < 0 || c.MaxMessageExpiry < 0 {
		errs = append(errs, errors.New("expiry limits cannot be negative"))
	}
	if c.Logger == nil || c.Metrics == nil || c.Authority == nil {
		errs = append(errs, errors.New("Logger, Metrics and Authority are required"))
	}
	if c.DefaultRealm == "" {
		errs = append(errs, errors.New("DefaultRealm is required"))
	}
	return errors.Join(errs...)
}

// Server is the mochi broker serving connections handed to it.
type Server struct {
	cfg   Config
	mochi *mochi.Server
	log   *slog.Logger

	mu     sync.Mutex
	conns  map[*queuedConn]struct{} // for the forced end of a drain
	closed bool                     // Close has begun: no new connections
	active sync.WaitGroup           // sessions in progress (ServeConn, Attach)
	// poll wakes parked connections (Attach); started with the first.
	poll       *poller
	pollFailed bool

	sess  *sessionHook // nil without Config.Sessions
	share *shareHook   // nil without Config.Sharer
}

// New configures and starts a mochi broker with no listeners of its own.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mqtt config: %w", err)
	}
	log := cfg.Logger.With("component", "mqtt")
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxMessageSize)
	caps.MaximumClientWritesPending = int32(cfg.WriteQueue)
	if cfg.MaxInflight > 0 {
		caps.MaximumInflight = uint16(cfg.MaxInflight)
	}
	caps.MaximumSessionExpiryInterval = uint32(min(cfg.MaxSessionExpiry/time.Second, math.MaxUint32))
	if cfg.MaxMessageExpiry > 0 {
		caps.MaximumMessageExpiryInterval = int64(cfg.MaxMessageExpiry / time.Second)
	} else {
		caps.MaximumMessageExpiryInterval = 0 // retained messages do not expire
	}
	caps.TopicAliasMaximum = uint16(cfg.MaxTopicAlias)
	// mochi echoes a publisher's user properties in its PUBACK (mochi #474).
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	m := mochi.New(&mochi.Options{
		Capabilities:           caps,
		Logger:                 slog.New(quietHandler{log.Handler()}),
		SysTopicResendInterval: 10,
		InlineClient:           true,
		// Read buffer per connection (mochi's default is 2 KiB): packets
		// larger than it are read in several reads. An idle connection's
		// memory is mostly buffers like this one.
		ClientNetReadBufferSize: 1024,
	})
	s := &Server{cfg: cfg, mochi: m, log: log, conns: map[*queuedConn]struct{}{}}
	ah := &authHook{
		authority: cfg.Authority, defaultRealm: cfg.DefaultRealm, certFrom: cfg.CertAuthID,
		server: m, metrics: cfg.Metrics, log: log, sessions: map[string]*session{}, rpc: cfg.RPC != nil,
		maxKeepAlive: uint16(cfg.MaxKeepAlive / time.Second),
	}
	if err := m.AddHook(ah, nil); err != nil {
		return nil, fmt.Errorf("mqtt hook: %w", err)
	}
	var rh *rpcHook
	if cfg.RPC != nil {
		// After the auth hook (register permission, sessions).
		rh = &rpcHook{rpc: cfg.RPC, auth: ah, server: m, metrics: cfg.Metrics, log: log, clients: map[string]*rpcEntry{}}
		if err := m.AddHook(rh, nil); err != nil {
			return nil, fmt.Errorf("mqtt hook: %w", err)
		}
	}
	if cfg.Hub != nil {
		// After the auth hook: a publication it refuses never reaches the
		// hub. Before the share hook: a call the hub took is no publication.
		if err := m.AddHook(&hubHook{hub: cfg.Hub, auth: ah, rpc: rh}, nil); err != nil {
			return nil, fmt.Errorf("mqtt hook: %w", err)
		}
	}
	var ih *interestHook
	if cfg.Interest != nil {
		// After the RPC hook, which may still refuse a granted $rpc/ filter.
		ih = newInterestHook(cfg.Interest, m)
		if err := m.AddHook(ih, nil); err != nil {
			return nil, fmt.Errorf("mqtt hook: %w", err)
		}
	}
	if cfg.Sessions != nil {
		// After the auth hook: it claims sessions for accepted clients.
		s.sess = &sessionHook{sessions: cfg.Sessions, server: m, auth: ah, interest: ih,
			moved: map[string]*mochi.Client{}, claims: map[string]*mochi.Client{}}
		if err := m.AddHook(s.sess, nil); err != nil {
			return nil, fmt.Errorf("mqtt hook: %w", err)
		}
	}
	if cfg.Sharer != nil {
		// Shared subscription groups are served by the hub: cluster-wide
		// with federation (share.go).
		s.share = &shareHook{sharer: cfg.Sharer, server: m, auth: ah, scoped: cfg.Interest != nil}
		if err := m.AddHook(s.share, nil); err != nil {
			return nil, fmt.Errorf("mqtt hook: %w", err)
		}
	}
	if err := m.AddHook(&observer{metrics: cfg.Metrics, log: log, caps: caps, evict: s.evict}, nil); err != nil {
		return nil, fmt.Errorf("mqtt hook: %w", err)
	}
	// mochi's Close only disconnects clients of registered listeners, and
	// hangs waiting for the others: register one per transport we hand it.
	for _, id := range []string{TransportTCP, TransportWebSocket} {
		if err := m.AddListener(handedListener{id: id}); err != nil {
			return nil, fmt.Errorf("mqtt listener %s: %w", id, err)
		}
	}
	if err := m.Serve(); err != nil {
		return nil, fmt.Errorf("starting mochi: %w", err)
	}
	return s, nil
}

// Mochi returns the underlying broker, for hooks and in-process clients.
func (s *Server) Mochi() *mochi.Server { return s.mochi }

// Info returns mochi's live counters (messages, bytes, clients, drops).
func (s *Server) Info() *system.Info { return s.mochi.Info }

// ServeConn runs an MQTT session on c until it ends. transport is
// TransportTCP or TransportWebSocket; info is for authentication.
func (s *Server) ServeConn(c net.Conn, transport string, info auth.ConnInfo) {
	done := make(chan struct{})
	s.serve(c, transport, info, false, func() { close(done) })
	<-done
}

// Attach serves an MQTT session on c as ServeConn does, but holds no
// goroutine while the client is silent: it returns once the connection
// waits for its next packet, or is over, and calls ended when the session
// is over, from whichever goroutine ended it. Only a connection that is a
// syscall.Conn, on Linux, waits this way (see queuedConn.Park): such a
// connection must read straight from its socket, or report what it holds
// with a Buffered() int method. Any other is served to its end before
// Attach returns.
func (s *Server) Attach(c net.Conn, transport string, info auth.ConnInfo, ended func()) {
	s.serve(c, transport, info, true, ended)
}

func (s *Server) serve(c net.Conn, transport string, info auth.ConnInfo, park bool, ended func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = c.Close()
		ended()
		return
	}
	s.active.Add(1)
	var p *poller
	if _, socket := c.(syscall.Conn); park && socket {
		p = s.pollerLocked()
	}
	s.mu.Unlock()
	disconnected := s.cfg.Metrics.Connected(transport)
	start := time.Now()
	if info.Remote == "" {
		info.Remote = c.RemoteAddr().String()
	}
	q := newQueuedConn(c, s.cfg.WriteBuffer, s.cfg.WriteTimeout, s.cfg.Metrics.Evicted)
	q.info = info
	// The client's address, the peer's or one from X-Forwarded-For or a
	// PROXY header: what mochi files it under. As a string, which the
	// caller has made already: mochi need not format the peer's again.
	q.remote = remoteAddr(info.Remote)
	var parker mochi.Parker
	if p != nil && q.raw != nil {
		q.poller, parker = p, q
	}
	s.track(q)
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.ConnectTimeout)) // mochi sets none before CONNECT
	s.mochi.EstablishParked(transport, q, parker, func(err error) {
		q.finish()
		<-q.done
		s.logEnd(q, transport, time.Since(start), err)
		s.untrack(q)
		disconnected()
		s.active.Done()
		ended()
	})
}

// pollerLocked returns the poller that wakes parked connections, started
// with the first one; nil where they cannot park. s.mu is held.
func (s *Server) pollerLocked() *poller {
	if s.poll == nil && !s.pollFailed && parkable {
		p, err := newPoller(s.log)
		if err != nil {
			s.pollFailed = true
			s.log.Warn("idle connections will each hold a goroutine", "error", err)
			return nil
		}
		s.poll = p
	}
	return s.poll
}

// ServeWebSocket runs an MQTT session on an upgraded WebSocket.
func (s *Server) ServeWebSocket(ws *websocket.Conn, info auth.ConnInfo) {
	// A message may hold a packet and a bit. gorilla's read limit counts the
	// bytes on the wire; wsConn bounds each message after inflating too.
	limit := int64(s.cfg.MaxMessageSize) + 64<<10
	ws.SetReadLimit(limit)
	s.ServeConn(&wsConn{ws: ws, limit: limit, compressMin: s.cfg.WSCompressMinSize}, TransportWebSocket, info)
}

// evict cuts off a client whose connection is one of ours.
func (s *Server) evict(cl *mochi.Client, reason string) {
	if q, ok := cl.Net.Conn.(*queuedConn); ok {
		q.evict(reason)
	}
}

func (s *Server) track(q *queuedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[q] = struct{}{}
}

func (s *Server) untrack(q *queuedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, q)
}

// logEnd logs a connection's end, once, and counts it: one line with the
// client id and authid (when it got that far), the client's address, the
// transport, how long it lasted and why it ended.
func (s *Server) logEnd(q *queuedConn, transport string, lasted time.Duration, err error) {
	clientID, authID, reason, detail := q.ending()
	if reason == "" {
		reason = endReason(err, clientID != "", q)
	}
	if detail == "" && err != nil {
		detail = err.Error()
	}
	switch reason {
	case ReasonTooLarge:
		s.cfg.Metrics.Rejected("too_large")
	case ReasonProtocolError:
		s.cfg.Metrics.Rejected("malformed")
	}
	s.cfg.Metrics.Ended(reason, lasted)
	level := slog.LevelInfo
	if reason == ReasonTooLarge || reason == ReasonProtocolError || reason == ReasonSlowConsumer {
		level = slog.LevelWarn
	}
	s.log.Log(context.Background(), level, "MQTT client disconnected", "client", clientID, "authid", authID,
		"remote", q.info.Remote, "transport", transport, "duration", lasted.Round(time.Millisecond),
		"reason", reason, "detail", detail)
}

// endReason classifies how a connection ended from mochi's error, for the
// ends no hook has named. connected: CONNECT was read.
func endReason(err error, connected bool, q *queuedConn) string {
	var code packets.Code
	switch {
	case q.wasEvicted():
		return ReasonSlowConsumer
	case errors.Is(err, errInflatedTooLarge), errors.Is(err, packets.ErrPacketTooLarge):
		return ReasonTooLarge
	case errors.Is(err, packets.ErrBadUsernameOrPassword):
		return ReasonAuthFailed
	case errors.Is(err, packets.ErrNotAuthorized):
		return ReasonNotAuthorized
	case errors.Is(err, packets.ErrServerBusy):
		return ReasonServerBusy
	case errors.Is(err, packets.ErrServerShuttingDown):
		return ReasonShutdown
	case isTimeout(err) && q.closedByServer():
		return ReasonShutdown // reads cut by a drain before CONNECT was done
	case isTimeout(err) && connected:
		return ReasonKeepAlive
	case isTimeout(err):
		return ReasonConnectTimeout
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, io.ErrUnexpectedEOF), isWSClose(err):
		return ReasonConnectionLost
	case errors.As(err, &code) && code.Code >= packets.ErrUnspecifiedError.Code, errors.Is(err, errTextFrame):
		return ReasonProtocolError
	}
	return ReasonError
}

// disconnectReason names the end of an established client, from the cause
// mochi recorded when it stopped it.
func disconnectReason(cl *mochi.Client, err error, q *queuedConn) string {
	cause := cl.StopCause()
	switch {
	case q.wasEvicted():
		return ReasonSlowConsumer
	case errors.Is(cause, packets.ErrSessionTakenOver):
		return ReasonTakeover
	case errors.Is(cause, packets.ErrServerShuttingDown):
		return ReasonShutdown
	case errors.Is(cause, packets.CodeDisconnect), errors.Is(cause, packets.CodeDisconnectWillMessage),
		errors.Is(err, packets.CodeDisconnectWillMessage):
		return ReasonClientDisconnect
	case errors.Is(cause, packets.ErrKeepAliveTimeout):
		return ReasonKeepAlive
	}
	if err == nil {
		err = cause
	}
	return endReason(err, true, q)
}

// Close sends every client DISCONNECT 0x8B (server shutting down; MQTT 5) and
// waits for the sessions to end. If ctx ends first, the remaining connections
// are closed at once, so Close never hangs.
//
// It does not leave this to mochi's Close, which races with connections
// being established (a WaitGroup Add during Wait) and hangs on clients it
// cannot reach. New connections are refused first; mochi's Close runs last,
// when no connection is left, to stop its hooks and $SYS loop.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	idle := make(chan struct{})
	go func() { s.active.Wait(); close(idle) }()

	var err error
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
drain:
	for {
		// Repeated, so that a client finishing its CONNECT meanwhile is told too.
		for _, cl := range s.mochi.Clients.GetAll() {
			if !cl.Net.Inline && !cl.Closed() {
				_ = s.mochi.DisconnectClient(cl, packets.ErrServerShuttingDown)
			}
		}
		select {
		case <-idle:
			break drain
		case <-tick.C:
		case <-ctx.Done():
			s.mu.Lock()
			for q := range s.conns {
				q.abort()
			}
			s.mu.Unlock()
			<-idle
			err = fmt.Errorf("mqtt drain: %w", ctx.Err())
			break drain
		}
	}
	if s.cfg.Sessions != nil {
		// Persistent sessions go to another router while the link is up.
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		s.cfg.Sessions.HandOverMQTTSessions(hctx)
		cancel()
	}
	_ = s.mochi.Close()
	s.mu.Lock()
	if s.poll != nil {
		// Every session is over: none is parked.
		s.poll.close()
		s.poll = nil
	}
	s.mu.Unlock()
	return err
}

// handedListener is a mochi listener that accepts nothing itself: the router
// accepts connections and hands them over through ServeConn.
type handedListener struct{ id string }

func (l handedListener) Init(*slog.Logger) error              { return nil }
func (l handedListener) Serve(listeners.EstablishFn)          {}
func (l handedListener) ID() string                           { return l.id }
func (l handedListener) Address() string                      { return "router" }
func (l handedListener) Protocol() string                     { return l.id }
func (l handedListener) Close(closeClients listeners.CloseFn) { closeClients(l.id) }

// observer counts what mochi drops.
type observer struct {
	mochi.HookBase
	metrics Metrics
	log     *slog.Logger
	caps    *mochi.Capabilities
	evict   func(*mochi.Client, string)

	lastDropLog   atomic.Int64 // unix nanoseconds; drop logs at most once a second
	dropsUnlogged atomic.Int64
}

func (h *observer) ID() string { return "observer" }
func (h *observer) Provides(b byte) bool {
	return b == mochi.OnPublishDropped || b == mochi.OnDisconnect || b == mochi.OnPacketEncode
}

// OnPacketEncode completes mochi's MQTT 5 CONNACK with the limits a client
// must respect: Maximum Packet Size, so that it does not send what would cost
// it its connection, and Topic Alias Maximum, without which compliant clients
// never use aliases (mochi leaves both out).
//
// It also notes why the server sends a DISCONNECT (MQTT 5): mochi writes it
// before it records its cause, and a client that closes at once on reading
// it would otherwise be taken to have left on its own.
func (h *observer) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	switch {
	case pk.FixedHeader.Type == packets.Connack && pk.ProtocolVersion == 5:
		pk.Properties.MaximumPacketSize = h.caps.MaximumPacketSize
		pk.Properties.TopicAliasMaximum = h.caps.TopicAliasMaximum
	case pk.FixedHeader.Type == packets.Disconnect:
		if q, ok := cl.Net.Conn.(*queuedConn); ok {
			switch pk.ReasonCode {
			case packets.ErrSessionTakenOver.Code:
				q.ended(ReasonTakeover, packets.ErrSessionTakenOver.Reason)
			case packets.ErrServerShuttingDown.Code:
				q.ended(ReasonShutdown, packets.ErrServerShuttingDown.Reason)
			}
		}
	}
	return pk
}

// OnDisconnect tells an MQTT 5 client why, when mochi closed it for a packet
// it could not read (too large: 0x95, malformed: 0x81). mochi sends a
// DISCONNECT for errors in packets it has read, but not for these.
func (h *observer) OnDisconnect(cl *mochi.Client, err error, _ bool) {
	if q, ok := cl.Net.Conn.(*queuedConn); ok {
		detail := ""
		if cause := cl.StopCause(); cause != nil {
			detail = cause.Error()
		} else if err != nil {
			detail = err.Error()
		}
		q.ended(disconnectReason(cl, err, q), detail)
	}
	var code packets.Code
	if cl.Properties.ProtocolVersion != 5 || !errors.As(err, &code) ||
		code.Code != packets.ErrPacketTooLarge.Code && code.Code != packets.ErrMalformedPacket.Code {
		return
	}
	q, ok := cl.Net.Conn.(*queuedConn)
	if !ok {
		return
	}
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Disconnect},
		ProtocolVersion: 5,
		ReasonCode:      code.Code,
		Properties:      packets.Properties{ReasonString: code.Reason},
	}
	var buf bytes.Buffer
	if err := pk.DisconnectEncode(&buf); err == nil {
		q.final(buf.Bytes())
	}
}

// OnPublishDropped is called, on the publisher's goroutine, when a
// subscriber's queue inside mochi (limits.mqtt_queue) is full, or when it
// already holds the most unacknowledged QoS 1 and 2 messages it may
// (limits.mqtt_inflight, mochi patch 21). mochi then
// forgets the message, QoS 1 and 2 included, and the subscriber would never
// know: so a subscriber that loses a QoS 1 or 2 message is evicted, as one
// that fills its write buffer is. Dropping QoS 0 is within its contract.
// An offline persistent session whose store is full has no connection to
// cut: the drop is counted and logged only.
func (h *observer) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	if pk.FixedHeader.Qos > 0 && !cl.Closed() {
		h.evict(cl, "queue_full")
	}
	// Overload drops come by the thousand: one line a second, with a count.
	now := time.Now().UnixNano()
	last := h.lastDropLog.Load()
	if now-last < int64(time.Second) || !h.lastDropLog.CompareAndSwap(last, now) {
		h.dropsUnlogged.Add(1)
		return
	}
	h.log.Warn("dropped messages to slow MQTT clients (limits.mqtt_queue or limits.mqtt_inflight full)",
		"client", cl.ID, "topic", pk.TopicName, "qos", pk.FixedHeader.Qos,
		"dropped_since_last_log", h.dropsUnlogged.Swap(0)+1)
}

// quietHandler hands mochi's routine Info lines (hooks added, listeners
// attached) down to Debug, so the router's own first lines say what matters.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
		if !h.Handler.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo {
		return h.Handler.Enabled(ctx, slog.LevelDebug)
	}
	return h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a)}
}
func (h quietHandler) WithGroup(g string) slog.Handler { return quietHandler{h.Handler.WithGroup(g)} }
