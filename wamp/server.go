// Package wamp is the WAMP side of Junction, on the nexus router: it holds the
// realms and attaches WebSocket and RawSocket connections to them through a
// guarded peer that keeps malformed input away from nexus and cuts off clients
// that do not read.
package wamp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	"github.com/gammazero/nexus/v3/transport/serialize"
	nxwamp "github.com/gammazero/nexus/v3/wamp"
	"github.com/gorilla/websocket"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
)

// Subprotocols are the WebSocket subprotocols this package speaks.
var Subprotocols = []string{"wamp.2.json", "wamp.2.msgpack", "wamp.2.cbor"}

// Metrics receives what the WAMP side counts. The router implements it.
type Metrics interface {
	Connected(transport string) (disconnected func())
	Received(bytes int)
	Sent(bytes int)
	Dropped()
	Evicted()
	Rejected(reason string)
	AuthFailed(method string)
	Denied(action string)
	// Ended counts a connection's end, by reason, and how long it lasted.
	Ended(reason string, lasted time.Duration)
}

// Realm is one WAMP realm. Who may join it and what they may do is the
// Authority's to say.
type Realm struct {
	Name string
}

// Config is everything a Server needs. Zero durations and sizes are invalid:
// the router fills in its defaults.
type Config struct {
	Realms         []Realm
	MaxMessageSize int           // bytes, inbound and outbound
	QueueSize      int           // outbound messages queued per session before it is evicted
	WriteTimeout   time.Duration // a write that takes longer evicts the client
	PingInterval   time.Duration // keepalive; 0 turns it off
	ConnectTimeout time.Duration // until the first message (HELLO)
	Logger         *slog.Logger
	Metrics        Metrics
	Authority      Authority
	CertAuthID     string // cn or san: the authid of a TLS client certificate
	// WSCompressMinSize: on a WebSocket that negotiated permessage-deflate,
	// messages shorter than this are sent uncompressed.
	WSCompressMinSize int
	Bridge            Bridge     // nil: no WAMP subscription is told to the hub in the bridged realm
	Hub               Hub        // nil: publications stay in WAMP on this router
	Procedures        Procedures // nil: nobody is told of registrations (no federation)
	Claims            Claims     // nil: single registrations are this router's to decide
	// RealmFed, with federation, carries the realms not bridged to MQTT to
	// the other routers; nil: they stay on this router.
	RealmFed RealmFederation
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Realms) == 0 {
		errs = append(errs, errors.New("at least one realm is required"))
	}
	if c.MaxMessageSize <= 0 {
		errs = append(errs, errors.New("MaxMessageSize must be positive"))
	}
	if c.QueueSize <= 0 {
		errs = append(errs, errors.New("QueueSize must be positive"))
	}
	if c.WriteTimeout <= 0 || c.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("WriteTimeout and ConnectTimeout must be positive"))
	}
	if c.Logger == nil || c.Metrics == nil || c.Authority == nil {
		errs = append(errs, errors.New("Logger, Metrics and Authority are required"))
	}
	return errors.Join(errs...)
}

// Server runs the nexus router and attaches connections to it.
type Server struct {
	nexus   nxrouter.Router
	peerCfg *peerConfig
	log     *slog.Logger
	hub     *hubPublisher // the bridge's session; nil without a bridge
	// realmPubs publish other routers' publications of non-bridged realms.
	realmPubs *realmPublishers
	// reauth are the in-process callees of ReauthenticateProcedure.
	reauth []*client.Client
}

// New starts a nexus router with the configured realms.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("wamp config: %w", err)
	}
	log := cfg.Logger.With("component", "wamp")
	nxcfg := &nxrouter.Config{}
	bridged := false
	for _, r := range cfg.Realms {
		a := &authn{realm: r.Name, authority: cfg.Authority, metrics: cfg.Metrics, log: log, certFrom: cfg.CertAuthID, timeout: cfg.ConnectTimeout}
		rc := &nxrouter.RealmConfig{
			URI:            nxwamp.URI(r.Name),
			AllowDisclose:  true,
			Authenticators: a.authenticators(),
		}
		z := authorizer{realm: r.Name, authority: cfg.Authority, metrics: cfg.Metrics, log: log, hub: cfg.Hub}
		if cfg.Bridge != nil && cfg.Bridge.Realm() == r.Name {
			bridged = true
			rc.SubscriptionObserver = subscriptionObserver{bridge: cfg.Bridge, log: log.With("realm", r.Name)}
		} else if cfg.RealmFed != nil {
			rc.SubscriptionObserver = realmObserver{realm: r.Name, fed: cfg.RealmFed}
		}
		z.claims = cfg.Claims
		if cfg.Procedures != nil {
			rc.RegistrationObserver = registrationObserver{realm: r.Name, p: cfg.Procedures}
		}
		rc.Authorizer = z
		nxcfg.RealmConfigs = append(nxcfg.RealmConfigs, rc)
	}
	if cfg.Bridge != nil && !bridged {
		return nil, fmt.Errorf("wamp config: the bridged realm %q is not configured", cfg.Bridge.Realm())
	}
	nexus, err := nxrouter.NewRouter(nxcfg, nexusLogger{log})
	if err != nil {
		return nil, fmt.Errorf("starting nexus: %w", err)
	}
	exp := &expiring{}
	reauth, err := startReauthenticators(nexus, cfg, exp, log)
	if err != nil {
		nexus.Close()
		return nil, err
	}
	var hub *hubPublisher
	if cfg.Bridge != nil {
		if hub, err = newHubPublisher(nexus, cfg.Bridge.Realm(), log); err != nil {
			closeAll(reauth)
			nexus.Close()
			return nil, err
		}
	}
	kill := func(realm string, sid nxwamp.ID, reason nxwamp.URI, message string) error {
		return nexus.KillSession(nxwamp.URI(realm), sid, reason, message)
	}
	return &Server{
		reauth:    reauth,
		hub:       hub,
		nexus:     nexus,
		log:       log,
		realmPubs: &realmPublishers{nexus: nexus, log: log},
		peerCfg: &peerConfig{
			maxMessageSize: cfg.MaxMessageSize,
			queueSize:      cfg.QueueSize,
			writeTimeout:   cfg.WriteTimeout,
			pingInterval:   cfg.PingInterval,
			connectTimeout: cfg.ConnectTimeout,
			compressMin:    cfg.WSCompressMinSize,
			log:            log,
			metrics:        cfg.Metrics,
			kill:           kill,
			expiring:       exp,
		},
	}, nil
}

// BridgeEngine returns what the hub publishes into WAMP with; nil without a
// bridge.
func (s *Server) BridgeEngine() bridge.WAMPEngine {
	if s.hub == nil {
		return nil
	}
	return s.hub
}

// Nexus returns the underlying router, for in-process clients.
func (s *Server) Nexus() nxrouter.Router { return s.nexus }

// IsSubprotocol reports whether name is a WAMP WebSocket subprotocol.
func IsSubprotocol(name string) bool {
	return strings.HasPrefix(name, "wamp.2.") && serializerFor(name) != nil
}

func serializerFor(subprotocol string) serialize.Serializer {
	switch subprotocol {
	case "wamp.2.json":
		return &serialize.JSONSerializer{}
	case "wamp.2.msgpack":
		return &serialize.MessagePackSerializer{}
	case "wamp.2.cbor":
		return &serialize.CBORSerializer{}
	}
	return nil
}

// ServeWebSocket runs a WAMP session on an upgraded WebSocket until it ends.
// info carries the upgrade request and TLS state for authentication.
func (s *Server) ServeWebSocket(ws *websocket.Conn, info auth.ConnInfo) {
	sub := ws.Subprotocol()
	ser := serializerFor(sub)
	if ser == nil {
		_ = ws.Close()
		return
	}
	payloadType := websocket.BinaryMessage
	if sub == "wamp.2.json" {
		payloadType = websocket.TextMessage
	}
	idle := s.idle()
	f := newWSFrames(ws, payloadType, int64(s.peerMaxSize()), idle, s.peerCfg.compressMin)
	s.serve(f, ser, "websocket", sub, ws.RemoteAddr(), info)
}

// ServeRawSocket runs a WAMP session on a RawSocket connection until it ends.
// The connection's first byte must still be unread.
func (s *Server) ServeRawSocket(conn net.Conn, info auth.ConnInfo) {
	ser, name, clientMax, err := rawHandshake(conn, s.peerMaxSize(), time.Now().Add(s.peerCfg.connectTimeout))
	if err != nil {
		s.peerCfg.metrics.Rejected("handshake")
		remote := info.Remote
		if remote == "" {
			remote = conn.RemoteAddr().String()
		}
		s.log.Warn("refused RawSocket connection", "remote", remote, "error", err)
		_ = conn.Close()
		return
	}
	f := &rawFrames{conn: conn, maxRecv: s.peerMaxSize(), maxSend: clientMax, idle: s.idle()}
	s.serve(f, ser, "rawsocket", name, conn.RemoteAddr(), info)
}

func (s *Server) peerMaxSize() int {
	return s.peerCfg.maxSize()
}

func (s *Server) idle() time.Duration {
	if s.peerCfg.pingInterval <= 0 {
		return 0
	}
	return 2*s.peerCfg.pingInterval + s.peerCfg.writeTimeout
}

func (s *Server) serve(f frames, ser serialize.Serializer, transport, protocol string, remote net.Addr, info auth.ConnInfo) {
	disconnected := s.peerCfg.metrics.Connected(transport)
	defer disconnected()
	start := time.Now()
	if info.Remote == "" {
		info.Remote = remote.String()
	}
	log := s.log.With("remote", info.Remote, "transport", transport, "serializer", protocol)
	p := newPeer(s.peerCfg, transport, f, ser, log)
	defer func() { s.logEnd(p, log, time.Since(start)) }()
	// nexus removes "auth" before the details reach meta events.
	details := nxwamp.Dict{"type": transport, "protocol": protocol, "auth": nxwamp.Dict{"conn": info}}
	// The handshake (HELLO, authentication, WELCOME) runs on a goroutine of
	// its own, which ends with it; the connection's reads run on this one,
	// the caller's, for the connection's life: an idle session costs no
	// goroutine more than it must.
	go func() {
		if err := s.nexus.AttachClient(p, details); err != nil {
			// nexus has answered the client (ABORT) and closed the peer.
			p.ended(reasonError, err.Error())
			p.Close()
		}
	}()
	p.readLoop()
}

// logEnd logs a connection's end, once, and counts it: one line with the
// session id and authid (when it got that far), the client's address, the
// transport, how long it lasted and why it ended.
func (s *Server) logEnd(p *peer, log *slog.Logger, lasted time.Duration) {
	authID, session, reason, detail := p.ending()
	if reason == "" {
		reason = reasonConnectionLost
	}
	s.peerCfg.metrics.Ended(reason, lasted)
	level := slog.LevelInfo
	if reason == reasonTooLarge || reason == reasonProtocolError || reason == reasonSlowConsumer {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "WAMP client disconnected", "session", session, "authid", authID,
		"duration", lasted.Round(time.Millisecond), "reason", reason, "detail", detail)
}

// Close ends every session with GOODBYE wamp.close.system_shutdown and stops
// the router. It returns when every session's GOODBYE has been flushed or its
// write timeout has passed.
func (s *Server) Close() {
	if s.hub != nil {
		s.hub.close()
	}
	s.realmPubs.close()
	closeAll(s.reauth)
	s.nexus.Close()
}

// nexusLogger turns nexus' printf logging into slog. nexus logs routine events
// as plain lines and trouble with a "!!!" prefix.
type nexusLogger struct{ log *slog.Logger }

func (l nexusLogger) Print(v ...any)   { l.emit(fmt.Sprint(v...)) }
func (l nexusLogger) Println(v ...any) { l.emit(strings.TrimSuffix(fmt.Sprintln(v...), "\n")) }
func (l nexusLogger) Printf(format string, v ...any) {
	l.emit(fmt.Sprintf(format, v...))
}

func (l nexusLogger) emit(msg string) {
	if strings.HasPrefix(msg, "!!!") {
		l.log.Warn(strings.TrimSpace(strings.TrimPrefix(msg, "!!!")), "source", "nexus")
		return
	}
	l.log.Debug(msg, "source", "nexus")
}
