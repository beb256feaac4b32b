// Package router composes Junction: it validates the configuration, builds the
// WAMP and MQTT sides, owns every listener, negotiates which protocol each
// connection speaks, serves health and metrics, and drains on shutdown. It is
// the only package that knows all the others.
package router

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/federation"
	"github.com/junctionmq/junction/mqtt"
	"github.com/junctionmq/junction/wamp"
)

// Router is one Junction router. Build it with New, then Start it and, when
// done, Shutdown; or Run it under a context.
type Router struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	auth    *auth.Authority
	hub     *bridge.Hub      // nil with the bridge, RPC and federation off
	link    *federation.Link // nil without federation
	wamp    *wamp.Server
	mqtt    *mqtt.Server

	httpSrv  *http.Server
	httpConn *connListener // connections the universal port decided are HTTP
	// wsWriteBufs lends WebSocket connections a write buffer for the time of
	// one message, so that an idle connection holds none.
	wsWriteBufs sync.Pool

	mu        sync.Mutex
	listeners []net.Listener
	httpAddr  net.Addr
	mqttAddr  net.Addr

	// Trusted proxies and accept rate limits of the two listeners.
	httpTrusted, mqttTrusted trustedSet
	httpRate, mqttRate       *acceptLimiter
	rateLog                  logLimiter

	open     atomic.Int64   // client connections holding a slot of limits.max_connections
	conns    sync.WaitGroup // every connection and accept loop goroutine
	draining atomic.Bool
	started  atomic.Bool
}

// New validates cfg and builds a router. It opens no sockets.
func New(cfg Config, log *slog.Logger) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	authority, err := auth.New(cfg.authConfig())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r := &Router{cfg: cfg, log: log, metrics: newMetrics(), auth: authority,
		httpRate: newAcceptLimiter(cfg.HTTP.AcceptRate), mqttRate: newAcceptLimiter(cfg.MQTT.AcceptRate)}
	// Validate has checked them.
	r.httpTrusted, _ = parseTrusted(cfg.HTTP.TrustedProxies)
	r.mqttTrusted, _ = parseTrusted(cfg.MQTT.TrustedProxies)
	l := cfg.Limits
	var hub *bridge.Hub
	fed := cfg.Fed.Enabled()
	if cfg.Bridge.Enabled || cfg.RPC.Enabled || fed {
		hub, err = bridge.New(bridge.Config{
			NoPubSub: !cfg.Bridge.Enabled,
			Realm:    cfg.mqttRealm(),
			Rules:    cfg.Bridge.bridgeRules(),
			QoS:      byte(cfg.Bridge.QoS),
			// MQTT 5 clients were promised this (CONNACK Maximum Packet Size).
			MaxPacket: l.MaxMessageSize,
			Authority: authority,
			Logger:    log,
			Metrics:   bridgeMetrics{r.metrics},
			RPC: bridge.RPCConfig{
				Enabled:         cfg.RPC.Enabled,
				CallTimeout:     cfg.RPC.CallTimeout.D(),
				Invoke:          cfg.RPC.Invoke,
				MaxPendingCalls: cfg.RPC.MaxPendingCalls,
			},
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	var realms []wamp.Realm
	for _, rc := range cfg.Realms {
		realms = append(realms, wamp.Realm{Name: rc.Name})
	}
	wcfg := wamp.Config{
		Realms:         realms,
		MaxMessageSize: l.MaxMessageSize,
		QueueSize:      l.WAMPQueue,
		WriteTimeout:   l.WriteTimeout.D(),
		PingInterval:   cfg.WAMP.PingInterval.D(),
		ConnectTimeout: l.ConnectTimeout.D(),
		Logger:         log,
		Metrics:        wampMetrics{r.metrics},
		Authority:      authority,
		CertAuthID:     cfg.HTTP.TLS.CertAuthID,

		WSCompressMinSize: cfg.HTTP.Compression.MinSize,
	}
	if hub != nil {
		// The hub decides what crosses (bridge/route.go): the engines hand
		// it every publication whatever the configuration.
		wcfg.Bridge = hub
		wcfg.Hub = hub
	}
	if fed {
		wcfg.Procedures = hub
		wcfg.Claims = hub
		wcfg.RealmFed = hub
	}
	r.wamp, err = wamp.New(wcfg)
	if err != nil {
		return nil, err
	}
	mcfg := mqtt.Config{
		MaxMessageSize:   l.MaxMessageSize,
		WriteQueue:       l.MQTTQueue,
		WriteBuffer:      l.MQTTWriteBuffer,
		MaxInflight:      l.MQTTInflight,
		WriteTimeout:     l.WriteTimeout.D(),
		ConnectTimeout:   l.ConnectTimeout.D(),
		MaxSessionExpiry: cfg.MQTT.MaxSessionExpiry.D(),
		MaxMessageExpiry: cfg.MQTT.MaxMessageExpiry.D(),
		MaxTopicAlias:    cfg.MQTT.MaxTopicAlias,
		Logger:           log,
		Metrics:          mqttMetrics{r.metrics},
		Authority:        authority,
		DefaultRealm:     cfg.mqttRealm(),
		CertAuthID:       cfg.MQTT.TLS.CertAuthID,

		MaxKeepAlive:      cfg.MQTT.MaxKeepAlive.D(),
		WSCompressMinSize: cfg.HTTP.Compression.MinSize,
	}
	if hub != nil {
		mcfg.Hub = hub
		mcfg.Sharer = hub
	}
	if fed {
		mcfg.Interest = hub
		mcfg.Sessions = hub
	}
	if hub != nil && cfg.RPC.Enabled {
		mcfg.RPC = mqttRPC{hub}
	}
	r.mqtt, err = mqtt.New(mcfg)
	if err != nil {
		r.wamp.Close()
		return nil, err
	}
	r.hub = hub
	if fed {
		lc, err := cfg.Fed.linkConfig()
		if err == nil {
			lc.Logger, lc.Metrics = log, fedMetrics{r.metrics}
			r.metrics.registerFederation()
			r.link, err = federation.New(lc, hub.FederationHandler())
		}
		if err != nil {
			r.wamp.Close()
			_ = r.mqtt.Close(context.Background())
			return nil, fmt.Errorf("%w: federation: %w", ErrConfig, err)
		}
		hub.ConnectFederation(r.link)
		if err := hub.ConnectClusterRPC(r.wamp.ClusterDealer(max(cfg.RPC.MaxPendingCalls, cfg.Fed.MaxCalls)), cfg.Fed.MaxCalls); err != nil {
			r.wamp.Close()
			_ = r.mqtt.Close(context.Background())
			return nil, fmt.Errorf("federation: %w", err)
		}
		hub.ConnectSessions(r.mqtt)
		hub.ConnectRealms(r.wamp)
	}
	if hub != nil {
		hub.Connect(r.mqtt, r.wamp.BridgeEngine())
		if cfg.RPC.Enabled {
			hub.ConnectDealer(r.wamp.Dealer(cfg.RPC.MaxPendingCalls))
		}
	}
	r.metrics.mqttInfo = func() *mqttCounters {
		i := r.mqtt.Info()
		return &mqttCounters{
			received: atomic.LoadInt64(&i.MessagesReceived), sent: atomic.LoadInt64(&i.MessagesSent),
			bytesIn: atomic.LoadInt64(&i.BytesReceived), bytesOut: atomic.LoadInt64(&i.BytesSent),
			dropped: atomic.LoadInt64(&i.MessagesDropped) + atomic.LoadInt64(&i.InflightDropped), retained: atomic.LoadInt64(&i.Retained),
			subscriptions: atomic.LoadInt64(&i.Subscriptions), inflight: atomic.LoadInt64(&i.Inflight),
		}
	}
	r.httpSrv = &http.Server{
		Handler:           r.handler(),
		ReadHeaderTimeout: l.ConnectTimeout.D(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// The universal port hands http.Server connections it has read a
		// byte of, so http.Server cannot see their TLS state itself.
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if state := tlsState(c); state != nil {
				ctx = context.WithValue(ctx, tlsStateKey{}, state)
			}
			if hc, ok := c.(*httpConn); ok {
				ctx = context.WithValue(ctx, httpConnKey{}, hc)
			}
			return ctx
		},
	}
	r.httpSrv.ConnState = r.httpConnState
	return r, nil
}

// Reload applies a new configuration's users, roles and permissions without
// dropping connections (SIGHUP). Everything else needs a restart: a change
// there is reported, not applied.
func (r *Router) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if realmNames(cfg) != realmNames(r.cfg) {
		return fmt.Errorf("%w: realms cannot be added or removed without a restart", ErrConfig)
	}
	if err := r.auth.Reload(cfg.authConfig()); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	r.log.Info("reloaded users, roles and permissions", "realms", len(cfg.Realms), "users", len(cfg.Auth.Users))
	return nil
}

func realmNames(c Config) string {
	var names []string
	for _, r := range c.Realms {
		names = append(names, r.Name)
	}
	return strings.Join(names, "\n")
}

// tlsStateKey is the context key of a request's TLS state.
type tlsStateKey struct{}

// tlsState returns the TLS state of c, looking through the universal port's
// wrapper; nil for plain connections.
func tlsState(c net.Conn) *tls.ConnectionState {
	if hc, ok := c.(*httpConn); ok {
		c = hc.Conn
	}
	if pc, ok := c.(*prefixConn); ok {
		c = pc.Conn
	}
	if tc, ok := c.(*tls.Conn); ok {
		state := tc.ConnectionState()
		return &state
	}
	return nil
}

// Start binds every configured listener and begins accepting. It returns an
// error, and binds nothing, if any address cannot be bound.
func (r *Router) Start() error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("router already started")
	}
	httpLn, err := r.listen(r.cfg.HTTP.Listen, r.cfg.HTTP.TLS, r.cfg.HTTP.ProxyProtocol, r.httpTrusted, net.KeepAliveConfig{})
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	var mqttLn net.Listener
	if r.cfg.MQTT.Listen != "" {
		// TCP keepalive on the MQTT port: SO_KEEPALIVE with the kernel's
		// timings (first probe after 2 h of silence), where Go's default
		// probes every connection silent for 15 s and costs four socket
		// options per accepted connection. MQTT has a keepalive of its own
		// (held to mqtt.max_keep_alive); TCP's only ends connections to peers
		// that vanished. The HTTP port keeps Go's default: WAMP has none.
		keepAlive := net.KeepAliveConfig{Enable: true, Idle: -1, Interval: -1, Count: -1}
		if mqttLn, err = r.listen(r.cfg.MQTT.Listen, r.cfg.MQTT.TLS, r.cfg.MQTT.ProxyProtocol, r.mqttTrusted, keepAlive); err != nil {
			_ = httpLn.Close()
			return fmt.Errorf("mqtt.listen: %w", err)
		}
	}
	r.mu.Lock()
	r.httpAddr = httpLn.Addr()
	r.listeners = append(r.listeners, httpLn)
	if mqttLn != nil {
		r.mqttAddr = mqttLn.Addr()
		r.listeners = append(r.listeners, mqttLn)
	}
	r.mu.Unlock()

	if r.link != nil {
		// Before the first client: it does not wait for Redis.
		if err := r.link.Start(context.Background()); err != nil {
			for _, ln := range r.listeners {
				_ = ln.Close()
			}
			return fmt.Errorf("federation: %w", err)
		}
	}
	r.httpConn = newConnListener(httpLn.Addr())
	r.goConn(func() { _ = r.httpSrv.Serve(r.httpConn) })
	r.goConn(func() { r.acceptLoop(httpLn, listenerHTTP, r.httpRate, r.handleUniversal) })
	scheme := map[bool]string{false: "http", true: "https"}[r.cfg.HTTP.TLS.Enabled()]
	wsScheme := map[bool]string{false: "ws", true: "wss"}[r.cfg.HTTP.TLS.Enabled()]
	r.log.Info("listening", "listener", "http", "address", httpLn.Addr().String(),
		"websocket", fmt.Sprintf("%s://%s%s", wsScheme, httpLn.Addr(), r.cfg.HTTP.WSPath),
		"health", fmt.Sprintf("%s://%s/healthz", scheme, httpLn.Addr()),
		"metrics", fmt.Sprintf("%s://%s/metrics", scheme, httpLn.Addr()),
		"universal", r.cfg.HTTP.Universal, "tls", r.cfg.HTTP.TLS.Enabled(),
		"proxy_protocol", r.cfg.HTTP.ProxyProtocol, "compression", r.cfg.HTTP.Compression.Enabled)
	if d := r.cfg.HTTP.Static; d != "" {
		abs, _ := filepath.Abs(d)
		r.log.Info("serving static files", "dir", abs, "url", fmt.Sprintf("%s://%s/", scheme, httpLn.Addr()))
	}
	if mqttLn != nil {
		r.goConn(func() { r.acceptLoop(mqttLn, listenerMQTT, r.mqttRate, r.handleMQTT) })
		r.log.Info("listening", "listener", "mqtt", "address", mqttLn.Addr().String(), "tls", r.cfg.MQTT.TLS.Enabled(),
			"proxy_protocol", r.cfg.MQTT.ProxyProtocol)
	} else {
		r.log.Info("MQTT over TCP is off (mqtt.listen is empty)")
	}
	return nil
}

// listen opens a listener; keepAlive is for its connections (the zero
// value: Go's default).
func (r *Router) listen(addr string, tc TLSConfig, proxyProtocol bool, trusted trustedSet, keepAlive net.KeepAliveConfig) (net.Listener, error) {
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	if proxyProtocol {
		// Under TLS: the PROXY header comes before the TLS handshake.
		ln = proxyListener(ln, trusted, r.cfg.Limits.ConnectTimeout.D())
	}
	if !tc.Enabled() {
		return ln, nil
	}
	cert, err := tls.LoadX509KeyPair(tc.CertFile, tc.KeyFile)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if tc.ClientCAFile != "" {
		pem, err := os.ReadFile(tc.ClientCAFile)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			_ = ln.Close()
			return nil, fmt.Errorf("loading client CA %s: no PEM certificates (%v)", tc.ClientCAFile, err)
		}
		conf.ClientCAs = pool
		conf.ClientAuth = tls.VerifyClientCertIfGiven
		if tc.ClientCerts == "required" {
			conf.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return tls.NewListener(ln, conf), nil
}

// HTTPAddr is the address the universal listener is bound to, once started.
func (r *Router) HTTPAddr() net.Addr { r.mu.Lock(); defer r.mu.Unlock(); return r.httpAddr }

// MQTTAddr is the address of the MQTT listener, or nil when it is off.
func (r *Router) MQTTAddr() net.Addr { r.mu.Lock(); defer r.mu.Unlock(); return r.mqttAddr }

// Run starts the router and serves until ctx ends, then drains for up to
// shutdown.drain_timeout.
func (r *Router) Run(ctx context.Context) error {
	if err := r.Start(); err != nil {
		return err
	}
	<-ctx.Done()
	drainCtx, cancel := context.WithTimeout(context.Background(), r.cfg.Shutdown.DrainTimeout.D())
	defer cancel()
	return r.Shutdown(drainCtx)
}

// Shutdown drains the router: it stops accepting, tells every client
// (MQTT 5 DISCONNECT 0x8B, WAMP GOODBYE wamp.close.system_shutdown), waits for
// them to go until ctx ends, then closes whatever is left. It returns nil
// when every client left in time.
func (r *Router) Shutdown(ctx context.Context) error {
	if !r.draining.CompareAndSwap(false, true) {
		return errors.New("router already shut down")
	}
	r.log.Info("draining: refusing new connections and disconnecting clients")
	r.mu.Lock()
	for _, ln := range r.listeners {
		_ = ln.Close()
	}
	r.mu.Unlock()
	if r.httpConn != nil {
		_ = r.httpConn.Close()
	}
	if r.hub != nil {
		// MQTT clients' WAMP sessions, and federation's, leave while the
		// dealer still runs.
		r.hub.CloseRPC()
		r.hub.CloseClusterRPC()
	}
	var errs []error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.wamp.Close() }()
	go func() {
		defer wg.Done()
		if err := r.mqtt.Close(ctx); err != nil {
			errs = append(errs, err)
		}
	}()
	wg.Wait()
	_ = r.httpSrv.Shutdown(ctx)
	done := make(chan struct{})
	go func() { r.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		_ = r.httpSrv.Close()
		errs = append(errs, fmt.Errorf("drain: %w", ctx.Err()))
		<-done
	}
	if r.hub != nil {
		// The MQTT server handed its sessions over: the hand-over's
		// goroutines end before the link closes.
		r.hub.CloseSessions()
	}
	if r.link != nil {
		// Last: what clients published while leaving is written, then the
		// router leaves the cluster (the others stop routing to it at once).
		linkCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := r.link.Close(linkCtx); err != nil {
			r.log.Warn("federation link did not close cleanly", "error", err)
		}
		cancel()
	}
	r.log.Info("stopped")
	return errors.Join(errs...)
}

// goConn runs f on a goroutine that Shutdown waits for.
func (r *Router) goConn(f func()) {
	r.conns.Add(1)
	go func() {
		defer r.conns.Done()
		f()
	}()
}

// Listener names, as the metrics label them.
const (
	listenerHTTP = "http"
	listenerMQTT = "mqtt"
)

func (r *Router) acceptLoop(ln net.Listener, listener string, limit *acceptLimiter, handle func(net.Conn)) {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			r.log.Warn("accept failed", "error", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !limit.allowListener() {
			// Before anything is read: the protocol is not known yet, so the
			// clearest answer is the cheapest, a closed connection. Counted
			// first, so the count holds when the client sees the close.
			r.rateRefused(listener, "rate", "") // the address may sit behind a PROXY header not read yet
			_ = c.Close()
			continue
		}
		r.goConn(func() { handle(c) })
	}
}

// rateRefused counts a connection refused by an accept rate limit and logs
// it, at most once a second per listener and reason (a spike refuses
// thousands).
func (r *Router) rateRefused(listener, reason, remote string) {
	r.metrics.rateRefusals.WithLabelValues(listener, reason).Inc()
	if n, ok := r.rateLog.allow(listener + "/" + reason); ok {
		key := "http.accept_rate"
		if listener == listenerMQTT {
			key = "mqtt.accept_rate"
		}
		r.log.Warn("connections refused: accept rate limit reached", "listener", listener, "reason", reason,
			"remote", remote, "refused_since_last_log", n, "config", key)
	}
}

// allowSource applies the per-source accept rate of a listener to a client
// whose real address is known (after any PROXY header or X-Forwarded-For).
func (r *Router) allowSource(listener, remote string) bool {
	limit := r.httpRate
	if listener == listenerMQTT {
		limit = r.mqttRate
	}
	if limit.allowSource(remote) {
		return true
	}
	r.rateRefused(listener, "source_rate", remote)
	return false
}

// logLimiter lets a line through at most once a second per key, and says
// how many were held back meanwhile.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func (l *logLimiter) allow(key string) (count int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last, l.held = map[string]time.Time{}, map[string]int{}
	}
	now := time.Now()
	l.held[key]++
	if now.Sub(l.last[key]) < time.Second {
		return 0, false
	}
	l.last[key] = now
	count = l.held[key]
	l.held[key] = 0
	return count, true
}

// acquire takes a connection slot, or reports that limits.max_connections is
// reached (and counts and logs the refusal).
func (r *Router) acquire(remote string) (release func(), ok bool) {
	if r.open.Add(1) > int64(r.cfg.Limits.MaxConnections) {
		r.open.Add(-1)
		r.metrics.refused("max_connections")
		r.log.Warn("connection refused: limits.max_connections reached",
			"remote", remote, "limit", r.cfg.Limits.MaxConnections)
		return nil, false
	}
	return func() { r.open.Add(-1) }, true
}

// mqttRPC gives the MQTT side its clients' RPC state from the hub, as the
// small interface the MQTT side defines.
type mqttRPC struct{ hub *bridge.Hub }

func (r mqttRPC) RPCClient(id auth.Identity, v5 bool) mqtt.RPCClient {
	if c := r.hub.RPCClient(id, v5); c != nil {
		return c
	}
	return nil // not a nil *bridge.RPCClient in an interface
}
