package router

import (
	"crypto/tls"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/mqtt"
	"github.com/junctionmq/junction/wamp"
)

// subprotocols is every WebSocket subprotocol Junction speaks, in the order
// the refusal message lists them.
var subprotocols = append(append([]string{}, wamp.Subprotocols...), mqtt.Subprotocols...)

func (r *Router) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if r.draining.Load() {
			http.Error(w, "draining", http.StatusServiceUnavailable)
			return
		}
		// A router whose Redis link is down still serves its own clients
		// (local delivery never waits on Redis), so it stays ready; the body
		// says what it cannot do. Were it unready, a Redis outage would take
		// every router out of the load balancer at once.
		if r.link != nil {
			state := "down: messages for other routers are spooled"
			if r.link.Up() {
				state = fmt.Sprintf("up; other routers: %d", len(r.link.Nodes()))
			}
			fmt.Fprintf(w, "ready\nfederation: %s\n", state)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc(r.cfg.HTTP.WSPath, r.handleWebSocket)
	if r.cfg.HTTP.Static != "" {
		// "/" is the least specific pattern: the ones above keep their paths.
		mux.Handle("/", staticHandler(r.cfg.HTTP.Static))
	}
	// checkWSPath (Validate) registers these same patterns: keep them in step.
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// A request reached a handler: the connection is not garbage.
		if hc, ok := req.Context().Value(httpConnKey{}).(*httpConn); ok {
			hc.served.Store(true)
		}
		mux.ServeHTTP(w, req)
	})
}

// fixedPaths are the paths handler serves whatever the configuration.
var fixedPaths = []string{"/healthz", "/readyz", "/metrics"}

// checkWSPath reports what is wrong with http.ws_path as handler registers
// it, "" if nothing: net/http's ServeMux panics on a pattern it cannot
// parse ("/ws x", "/{") or one that another pattern already has ("/"
// beside http.static), and a fixed path would take WebSocket upgrades
// (GET requests) for itself.
func checkWSPath(wsPath string, static bool) (problem string) {
	if slices.Contains(fixedPaths, wsPath) {
		return fmt.Sprintf("%q is served by the router itself (%s): WebSocket upgrades there would never reach the WebSocket handler", wsPath, strings.Join(fixedPaths, ", "))
	}
	defer func() {
		if p := recover(); p != nil {
			problem = fmt.Sprintf("%q cannot be served: %v", wsPath, p)
			if static && wsPath == "/" {
				problem = `"/" is where http.static is served: give the WebSocket a path of its own, e.g. /ws`
			}
		}
	}()
	mux := http.NewServeMux()
	nop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, p := range fixedPaths {
		mux.Handle("GET "+p, nop)
	}
	mux.Handle(wsPath, nop)
	if static {
		mux.Handle("/", nop)
	}
	return ""
}

// staticHandler serves the files under dir (http.static) for GET and HEAD.
// A directory is served by its index.html and is never listed; a name that
// starts with "." (.git, .env) is not served; ".." cannot leave dir.
// Symbolic links inside dir are followed: whoever can place them can also
// copy the files.
func staticHandler(dir string) http.Handler {
	files := http.FileServerFS(staticFS{os.DirFS(dir)})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, req)
	})
}

// staticFS hides dot names and directories without an index.html, so that
// http.FileServerFS neither serves the one nor lists the other.
type staticFS struct{ fsys fs.FS }

func (s staticFS) Open(name string) (fs.File, error) {
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") && part != "." {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	f, err := s.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if st.IsDir() {
		if _, err := fs.Stat(s.fsys, path.Join(name, "index.html")); err != nil {
			_ = f.Close()
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		}
	}
	return f, nil
}

// handleWebSocket negotiates the protocol from the client's subprotocol offer
// and hands the upgraded connection to the WAMP or MQTT side.
func (r *Router) handleWebSocket(w http.ResponseWriter, req *http.Request) {
	// The client's address: behind a trusted proxy, the one it forwards for.
	remote := clientAddr(req, r.httpTrusted)
	if !websocket.IsWebSocketUpgrade(req) {
		r.refuse(w, remote, http.StatusBadRequest, "not_websocket",
			fmt.Sprintf("this endpoint takes WebSocket connections with one of the subprotocols: %s\n", strings.Join(subprotocols, ", ")))
		return
	}
	offered := websocket.Subprotocols(req)
	chosen := chooseSubprotocol(offered)
	if chosen == "" {
		r.refuse(w, remote, http.StatusBadRequest, "no_subprotocol",
			fmt.Sprintf("no supported WebSocket subprotocol offered (offered: %q); Junction accepts: %s\n",
				offered, strings.Join(subprotocols, ", ")))
		return
	}
	if origin := req.Header.Get("Origin"); origin != "" && !originAllowed(origin, r.cfg.HTTP.AllowedOrigins) {
		r.refuse(w, remote, http.StatusForbidden, "origin",
			fmt.Sprintf("origin %q is not allowed (http.allowed_origins)\n", origin))
		return
	}
	if r.draining.Load() {
		r.refuse(w, remote, http.StatusServiceUnavailable, "draining", "server is shutting down\n")
		return
	}
	if !r.allowSource(listenerHTTP, remote) {
		w.Header().Set("Retry-After", "1")
		r.refuse(w, remote, http.StatusServiceUnavailable, "", "too many connections from your address; retry later (http.accept_rate)\n")
		return
	}
	release, ok := r.acquire(remote)
	if !ok {
		r.refuse(w, remote, http.StatusServiceUnavailable, "", "connection limit reached\n")
		return
	}
	handedOff := false
	defer func() {
		if !handedOff {
			release()
		}
	}()
	upgrader := websocket.Upgrader{
		HandshakeTimeout: r.cfg.Limits.ConnectTimeout.D(),
		CheckOrigin:      func(*http.Request) bool { return true }, // checked above
		// Memory per idle connection: write buffers come from a pool and are
		// held only while a message is written, and the read buffer is
		// gorilla's own 1 KiB one, not the HTTP server's 4 KiB one (larger
		// frames take several reads).
		ReadBufferSize:  1024,
		WriteBufferPool: &r.wsWriteBufs,
		// permessage-deflate without context takeover (all gorilla does):
		// compressors are pooled per message, so an idle connection holds
		// none. Reads are bounded after inflating by the WAMP and MQTT sides
		// (gorilla's read limit counts compressed bytes).
		EnableCompression: r.cfg.HTTP.Compression.Enabled,
	}
	deflate := r.cfg.HTTP.Compression.Enabled && offersDeflate(req.Header)
	// With no Upgrader.Subprotocols gorilla echoes the one in this header.
	hdr := http.Header{}
	hdr.Set("Sec-WebSocket-Protocol", chosen)
	ws, err := upgrader.Upgrade(w, req, hdr)
	if err != nil {
		// gorilla has answered with an HTTP error.
		r.metrics.refused("upgrade")
		r.log.Info("WebSocket upgrade failed", "remote", remote, "error", err)
		return
	}
	if deflate {
		if err := ws.SetCompressionLevel(r.cfg.HTTP.Compression.Level); err != nil {
			r.log.Warn("WebSocket compression level refused", "level", r.cfg.HTTP.Compression.Level, "error", err)
		}
		r.metrics.deflate.WithLabelValues(protocolOf(chosen)).Inc()
	}
	state, _ := req.Context().Value(tlsStateKey{}).(*tls.ConnectionState)
	info := auth.ConnInfo{Remote: remote, Token: auth.TokenFromRequest(req, r.cfg.Auth.JWT.Cookie), TLS: state}
	// The session runs on a goroutine of its own and this handler returns,
	// so that net/http lets go of what it holds for the request (its 4 KiB
	// read and write buffers, the handler's stack) instead of keeping it for
	// the connection's whole life. Shutdown waits for the goroutine.
	handedOff = true
	r.goConn(func() {
		defer release()
		if wamp.IsSubprotocol(chosen) {
			r.wamp.ServeWebSocket(ws, info)
		} else {
			r.mqtt.ServeWebSocket(ws, info)
		}
	})
}

// offersDeflate reports whether a WebSocket upgrade offers
// permessage-deflate, which gorilla then accepts when compression is on.
func offersDeflate(h http.Header) bool {
	for _, line := range h.Values("Sec-WebSocket-Extensions") {
		for _, ext := range strings.Split(line, ",") {
			name, _, _ := strings.Cut(ext, ";")
			if strings.EqualFold(strings.TrimSpace(name), "permessage-deflate") {
				return true
			}
		}
	}
	return false
}

func protocolOf(subprotocol string) string {
	if wamp.IsSubprotocol(subprotocol) {
		return "wamp"
	}
	return "mqtt"
}

// refuse answers a handshake with an HTTP error, counts and logs it. An empty
// reason means it was counted already.
func (r *Router) refuse(w http.ResponseWriter, remote string, status int, reason, body string) {
	if reason != "" {
		r.metrics.refused(reason)
	}
	r.log.Info("WebSocket handshake refused", "remote", remote, "status", status, "reason", reason,
		"detail", strings.TrimSpace(body))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// chooseSubprotocol picks the first subprotocol in the client's offer, which
// lists them in its order of preference, that Junction speaks.
func chooseSubprotocol(offered []string) string {
	for _, o := range offered {
		if wamp.IsSubprotocol(o) || mqtt.IsSubprotocol(o) {
			return o
		}
	}
	return ""
}

// originAllowed matches an Origin header against the allowed patterns: "*",
// an exact origin, or an origin with one "*" standing for a run of characters
// without "/" (e.g. "https://*.example.com").
func originAllowed(origin string, allowed []string) bool {
	origin = strings.ToLower(origin)
	for _, pattern := range allowed {
		pattern = strings.ToLower(pattern)
		if pattern == "*" || pattern == origin {
			return true
		}
		prefix, suffix, ok := strings.Cut(pattern, "*")
		if ok && len(origin) >= len(prefix)+len(suffix) &&
			strings.HasPrefix(origin, prefix) && strings.HasSuffix(origin, suffix) &&
			!strings.Contains(origin[len(prefix):len(origin)-len(suffix)], "/") {
			return true
		}
	}
	return false
}
