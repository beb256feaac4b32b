package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// Authority is what the MQTT side asks about identities and permissions;
// *auth.Authority implements it.
type Authority interface {
	Anonymous(realm string) (auth.Identity, error)
	Password(realm, authid, password string) (auth.Identity, error)
	TokenDefaultRealm(defaultRealm, token string) (auth.Identity, error)
	Certificate(realm, authid string) (auth.Identity, error)
	Allowed(id auth.Identity, action auth.Action, uri string, match topic.Match) bool
	Throttled(remote string) bool
	LoginFailed(remote string)
	LoginSucceeded(remote string)
	Generation() uint64
}

// session is what the hook knows of one client's MQTT session. It outlives
// the connection when the session persists: messages are still delivered,
// and so checked, while the client is away.
type session struct {
	client *mochi.Client // the connection that established it
	id     auth.Identity
	// Whether the role allows publishing and subscribing anywhere, so that
	// the checks mochi makes for every delivery cost a lookup; decided again
	// after a reload.
	wide atomic.Pointer[wideGrants]
}

type wideGrants struct {
	generation               uint64
	publishAll, subscribeAll bool
}

// grants returns s's wide grants under the current configuration.
func (h *authHook) grants(s *session) *wideGrants {
	gen := h.authority.Generation()
	if g := s.wide.Load(); g != nil && g.generation == gen {
		return g
	}
	g := &wideGrants{
		generation:   gen,
		publishAll:   h.authority.Allowed(s.id, auth.ActionPublish, "", topic.MatchPrefix),
		subscribeAll: h.authority.Allowed(s.id, auth.ActionSubscribe, "", topic.MatchPrefix),
	}
	s.wide.Store(g)
	return g
}

// authHook authenticates MQTT clients and applies the permissions of their
// role on canonical URIs, as the WAMP side does:
//
//   - CONNECT: username/password (a password that is a JWT is checked as
//     one), else a JWT on the WebSocket upgrade, else a TLS client
//     certificate, else anonymous. Bad credentials: CONNACK 0x86 (v5) / 0x04;
//     anonymous access off or a forbidden will topic: 0x87 / 0x05.
//   - SUBSCRIBE: each filter is granted only if every topic it can match is
//     allowed; a refused one gets 0x87 (v5) / 0x80 in its SUBACK slot.
//   - PUBLISH: a refused message reaches no one. v5 QoS 1/2 publishers get
//     PUBACK/PUBREC 0x87; 3.1.1 publishers get their acknowledgement (mochi
//     would disconnect them) and the message is dropped.
type authHook struct {
	mochi.HookBase
	authority    Authority
	defaultRealm string
	certFrom     string
	server       *mochi.Server
	metrics      Metrics
	log          *slog.Logger
	rpc          bool   // $rpc/ and $rpc-reply/ are RPC: see rpcHook
	maxKeepAlive uint16 // seconds; 0: no cap

	mu       sync.RWMutex
	sessions map[string]*session // by client id

	// expiries end the connections whose JWT expires: one timer per such
	// connection (time.AfterFunc: no goroutine while it waits), stopped
	// when the connection ends.
	expMu    sync.Mutex
	expiries map[*mochi.Client]*time.Timer
}

// AuthMethodJWT is the MQTT 5 Authentication Method of a CONNECT whose
// Authentication Data is a JWT, and of the AUTH packets that renew it.
const AuthMethodJWT = "jwt"

// codeTokenExpired is the DISCONNECT reason an MQTT 5 client gets when the
// JWT it logged in with expires: 0xA0 Maximum connect time, "the connection
// is closed because it has been connected too long", which tells the client
// that it may reconnect (with a fresh token), where 0x87 Not authorized
// would say it may not.
var codeTokenExpired = packets.Code{Code: packets.ErrMaxConnectTime.Code, Reason: "token expired"}

func (h *authHook) ID() string { return "junction-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish,
		mochi.OnDisconnect, mochi.OnClientExpired, mochi.OnAuthPacket, mochi.OnSessionEstablished:
		return true
	}
	return false
}

func (h *authHook) session(cl *mochi.Client) *session {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.sessions[cl.ID]
}

// OnConnect authenticates. On refusal it sends the CONNACK itself and returns
// an error, which makes mochi close the connection.
func (h *authHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	info := connInfoOf(cl)
	remote := info.Host()
	q, _ := cl.Net.Conn.(*queuedConn)
	if q != nil {
		q.identify(cl.ID, "")
	}
	refuse := func(code packets.Code, method string, err error) error {
		h.metrics.AuthFailed(method)
		if q != nil {
			// Said once, in the line that ends the connection.
			reason := ReasonAuthFailed
			if code == packets.ErrNotAuthorized {
				reason = ReasonNotAuthorized
			}
			q.ended(reason, fmt.Sprintf("%s: %v", method, err))
		} else {
			h.log.Info("MQTT connection refused", "client", cl.ID, "remote", info.Remote, "method", method, "reason", err)
		}
		_ = h.server.SendConnack(cl, connackCode(cl, code), false, nil)
		return code
	}
	if h.authority.Throttled(remote) {
		return refuse(packets.ErrBadUsernameOrPassword, "throttled", auth.ErrThrottled)
	}
	var (
		id     auth.Identity
		err    error
		method string
	)
	switch tok := info.Token; {
	case pk.Properties.AuthenticationMethod != "":
		// MQTT 5 enhanced authentication: only "jwt", the token in one
		// step (CONNECT's Authentication Data), renewable by AUTH.
		method = "jwt"
		if pk.Properties.AuthenticationMethod != AuthMethodJWT {
			return refuse(packets.ErrBadAuthenticationMethod, method,
				fmt.Errorf("authentication method %q is not supported (only %q)", pk.Properties.AuthenticationMethod, AuthMethodJWT))
		}
		id, err = h.authority.TokenDefaultRealm(h.defaultRealm, string(pk.Properties.AuthenticationData))
	case len(pk.Connect.Username) > 0 || len(pk.Connect.Password) > 0:
		password := string(pk.Connect.Password)
		if auth.LooksLikeJWT(password) {
			method = "jwt"
			id, err = h.authority.TokenDefaultRealm(h.defaultRealm, password)
		} else {
			method = "password"
			id, err = h.authority.Password("", string(pk.Connect.Username), password)
		}
	case tok != "":
		method = "jwt"
		id, err = h.authority.TokenDefaultRealm(h.defaultRealm, tok)
	case auth.CertAuthID(info.TLS, h.certFrom) != "":
		method = "tls"
		id, err = h.authority.Certificate("", auth.CertAuthID(info.TLS, h.certFrom))
	default:
		method = "anonymous"
		id, err = h.authority.Anonymous(h.defaultRealm)
		id.AuthID = cl.ID
	}
	if errors.Is(err, auth.ErrAnonymousOff) {
		return refuse(packets.ErrNotAuthorized, method, err)
	}
	if err != nil {
		h.authority.LoginFailed(remote)
		return refuse(packets.ErrBadUsernameOrPassword, method, err)
	}
	h.authority.LoginSucceeded(remote)
	id.ClientID = cl.ID
	// A client id names a session, with its subscriptions and queued
	// messages: only the identity that made it may take it over.
	if prev := h.session(cl); prev != nil && (prev.id.AuthID != id.AuthID || prev.id.Realm != id.Realm) {
		return refuse(packets.ErrNotAuthorized, method, errors.New("client id belongs to another identity's session"))
	}
	// mochi sends wills without asking anyone: refuse a will the client
	// could not publish itself, as Mosquitto does.
	if cl.Properties.Will.Flag == 1 &&
		!h.authority.Allowed(id, auth.ActionPublish, topic.TopicToURI(cl.Properties.Will.TopicName), topic.MatchExact) {
		h.metrics.Denied("publish")
		return refuse(packets.ErrNotAuthorized, method, errors.New("will topic not allowed"))
	}
	s := &session{client: cl, id: id}
	h.mu.Lock()
	h.sessions[cl.ID] = s // a new connection with the same client id takes the session over
	h.mu.Unlock()
	if h.log.Enabled(context.Background(), slog.LevelDebug) { // its arguments cost allocations even when not logged
		h.log.Debug("MQTT client authenticated", "client", cl.ID, "authid", id.AuthID, "role", id.Role, "realm", id.Realm, "method", method)
	}
	if q != nil {
		q.identify(cl.ID, id.AuthID)
	}
	h.capKeepAlive(cl)
	return nil
}

// OnSessionEstablished starts the expiry of a connection that logged in
// with a JWT, once CONNACK is sent: from here on OnDisconnect is sure to
// stop it.
func (h *authHook) OnSessionEstablished(cl *mochi.Client, _ packets.Packet) {
	if s := h.session(cl); s != nil && s.client == cl && !s.id.Expires.IsZero() {
		h.expireAt(cl, s.id)
	}
}

// expireAt ends cl when id's credentials expire (a JWT's exp), replacing
// the time an earlier token set; an identity that does not expire stops it.
func (h *authHook) expireAt(cl *mochi.Client, id auth.Identity) {
	h.expMu.Lock()
	defer h.expMu.Unlock()
	if t := h.expiries[cl]; t != nil {
		t.Stop()
		delete(h.expiries, cl)
	}
	if id.Expires.IsZero() {
		return
	}
	if h.expiries == nil {
		h.expiries = make(map[*mochi.Client]*time.Timer)
	}
	var t *time.Timer
	t = time.AfterFunc(time.Until(id.Expires), func() {
		h.expMu.Lock()
		current := h.expiries[cl] == t
		if current {
			delete(h.expiries, cl)
		}
		h.expMu.Unlock()
		if current { // not renewed or ended meanwhile
			h.tokenExpired(cl, id)
		}
	})
	h.expiries[cl] = t
}

// stopExpiry forgets cl's expiry timer, when its connection ends.
func (h *authHook) stopExpiry(cl *mochi.Client) {
	h.expMu.Lock()
	defer h.expMu.Unlock()
	if t := h.expiries[cl]; t != nil {
		t.Stop()
		delete(h.expiries, cl)
	}
}

// tokenExpired ends a connection whose token has expired: MQTT 5 clients
// get DISCONNECT 0xA0, 3.1.1 clients (which have no server DISCONNECT) are
// closed.
func (h *authHook) tokenExpired(cl *mochi.Client, id auth.Identity) {
	detail := fmt.Sprintf("token expired at %s", id.Expires.UTC().Format(time.RFC3339))
	if q, ok := cl.Net.Conn.(*queuedConn); ok {
		q.ended(ReasonTokenExpired, detail) // said in the line that ends the connection
	} else {
		h.log.Info("MQTT client's token expired", "client", cl.ID, "authid", id.AuthID, "expires", id.Expires)
	}
	_ = h.server.DisconnectClient(cl, codeTokenExpired)
}

// OnAuthPacket renews a JWT (MQTT 5 re-authentication, 4.12.1): a client
// that connected with Authentication Method "jwt" sends AUTH 0x19 with the
// same method and a fresh token as Authentication Data. The token must name
// the same authid, realm and role; then the connection lasts until the new
// token expires, and the client gets AUTH 0x00. Any failure ends the
// connection with DISCONNECT 0x87 (a bad or foreign token), 0x8C (another
// method) or 0x82 (AUTH without a method at CONNECT).
func (h *authHook) OnAuthPacket(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	q, _ := cl.Net.Conn.(*queuedConn)
	fail := func(code packets.Code, reason string, err error) (packets.Packet, error) {
		if q != nil {
			q.ended(reason, fmt.Sprintf("re-authentication: %v", err))
		} else {
			h.log.Info("MQTT re-authentication refused", "client", cl.ID, "reason", err)
		}
		return pk, code
	}
	s := h.session(cl)
	switch {
	case s == nil || s.client != cl:
		return fail(packets.ErrNotAuthorized, ReasonNotAuthorized, errors.New("no session"))
	case cl.Properties.Props.AuthenticationMethod == "":
		return fail(packets.ErrProtocolViolation, ReasonProtocolError, errors.New("AUTH from a client that gave no authentication method in CONNECT"))
	case pk.ReasonCode != packets.CodeReAuthenticate.Code:
		return fail(packets.ErrProtocolViolation, ReasonProtocolError, fmt.Errorf("AUTH reason %#x: only re-authentication (0x19) is expected", pk.ReasonCode))
	case pk.Properties.AuthenticationMethod != cl.Properties.Props.AuthenticationMethod:
		return fail(packets.ErrBadAuthenticationMethod, ReasonAuthFailed, fmt.Errorf("method %q, not %q as in CONNECT", pk.Properties.AuthenticationMethod, cl.Properties.Props.AuthenticationMethod))
	}
	remote := connInfoOf(cl).Host()
	id, err := h.authority.TokenDefaultRealm(h.defaultRealm, string(pk.Properties.AuthenticationData))
	if err == nil && (id.AuthID != s.id.AuthID || id.Realm != s.id.Realm || id.Role != s.id.Role) {
		err = fmt.Errorf("%w: token for %s (role %s, realm %s), not the connection's %s (role %s, realm %s)",
			auth.ErrBadCredentials, id.AuthID, id.Role, id.Realm, s.id.AuthID, s.id.Role, s.id.Realm)
	}
	if err != nil {
		h.authority.LoginFailed(remote)
		h.metrics.AuthFailed("jwt")
		return fail(packets.ErrNotAuthorized, ReasonAuthFailed, err)
	}
	h.authority.LoginSucceeded(remote)
	h.expireAt(cl, id)
	h.log.Debug("MQTT client re-authenticated", "client", cl.ID, "authid", id.AuthID, "expires", id.Expires)
	err = cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Auth},
		ReasonCode:  packets.CodeSuccess.Code,
		Properties:  packets.Properties{AuthenticationMethod: AuthMethodJWT},
	})
	return pk, err
}

// capKeepAlive holds a client that asked for a longer keep alive than
// mqtt.max_keep_alive, or for none (0), to the cap. mochi then sets the read
// deadline to 1.5 times it (right after OnConnect) and, for MQTT 5, sends it
// in CONNACK as Server Keep Alive, which the client must use instead of its
// own. A 3.1.1 client cannot be told: it is disconnected when it stays
// silent longer.
func (h *authHook) capKeepAlive(cl *mochi.Client) {
	if h.maxKeepAlive == 0 {
		return
	}
	if cl.State.Keepalive == 0 || cl.State.Keepalive > h.maxKeepAlive {
		cl.State.Keepalive = h.maxKeepAlive
		cl.State.ServerKeepalive = true
	}
}

// OnConnectAuthenticate admits the clients OnConnect accepted.
func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, _ packets.Packet) bool {
	s := h.session(cl)
	return s != nil && s.client == cl
}

// OnACLCheck is asked for each PUBLISH (write) and for each SUBSCRIBE filter
// and each delivery (read).
func (h *authHook) OnACLCheck(cl *mochi.Client, name string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	s := h.session(cl)
	if s == nil {
		return false
	}
	if write {
		// 3.1.1 publishers are refused in OnPublish, where they can be
		// acknowledged rather than disconnected; calls and results are the
		// RPC hook's to check.
		if cl.Properties.ProtocolVersion < 5 || h.grants(s).publishAll || h.rpc && bridge.IsRPCTopic(name) {
			return true
		}
		return h.allowPublish(s, name)
	}
	if h.rpc {
		if procs := bridge.RegistrationPatterns(name); procs != nil {
			return h.allowRegister(cl, s, name, procs)
		}
		if _, f, ok := topic.CutShare(name); ok {
			if bridge.IsRPCTopic(f) {
				h.log.Info("MQTT shared subscription to $rpc/ refused: a registration is shared already", "client", cl.ID, "filter", name)
				return false
			}
		}
	}
	if h.grants(s).subscribeAll {
		return true
	}
	for _, p := range topic.FilterPatterns(name) {
		if !h.authority.Allowed(s.id, auth.ActionSubscribe, p.URI, p.Match) {
			h.metrics.Denied("subscribe")
			h.log.Info("MQTT subscription refused", "client", cl.ID, "authid", s.id.AuthID, "role", s.id.Role, "filter", name)
			return false
		}
	}
	return true
}

// allowRegister decides a subscription to "$rpc/<filter>", which registers
// the procedures the filter names (and a delivery of an invocation on one):
// the register permission must cover every procedure it can match.
func (h *authHook) allowRegister(cl *mochi.Client, s *session, filter string, procs []topic.Pattern) bool {
	for _, p := range procs {
		if !h.authority.Allowed(s.id, auth.ActionRegister, p.URI, p.Match) {
			h.metrics.Denied("register")
			h.log.Info("MQTT registration refused", "client", cl.ID, "authid", s.id.AuthID, "role", s.id.Role, "filter", filter)
			return false
		}
	}
	return true
}

func (h *authHook) allowPublish(s *session, name string) bool {
	if h.authority.Allowed(s.id, auth.ActionPublish, topic.TopicToURI(name), topic.MatchExact) {
		return true
	}
	h.metrics.Denied("publish")
	h.log.Info("MQTT publish refused", "client", s.id.ClientID, "authid", s.id.AuthID, "role", s.id.Role, "topic", name)
	return false
}

// OnPublish refuses 3.1.1 publishes: acknowledged, delivered to no one.
func (h *authHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline || cl.Properties.ProtocolVersion >= 5 || h.rpc && bridge.IsRPCTopic(pk.TopicName) {
		return pk, nil
	}
	s := h.session(cl)
	if s == nil || !h.grants(s).publishAll && !h.allowPublish(s, pk.TopicName) {
		return pk, packets.CodeSuccessIgnore
	}
	return pk, nil
}

// OnDisconnect forgets a client whose session ends with its connection.
func (h *authHook) OnDisconnect(cl *mochi.Client, _ error, expire bool) {
	h.stopExpiry(cl)
	if expire {
		h.forget(cl)
	}
}

// OnClientExpired forgets a persistent session that expired.
func (h *authHook) OnClientExpired(cl *mochi.Client) { h.forget(cl) }

func (h *authHook) forget(cl *mochi.Client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[cl.ID]; s != nil && s.client == cl { // not a session taken over since
		delete(h.sessions, cl.ID)
	}
}

// connackCode is the CONNACK code for a refusal. MQTT 3.1.1 has its own
// return codes, and mochi's table maps bad credentials to 0x05 (not
// authorized) and leaves not authorized unmapped: 3.1.1 says 0x04 and 0x05.
func connackCode(cl *mochi.Client, code packets.Code) packets.Code {
	if cl.Properties.ProtocolVersion >= 5 {
		return code
	}
	switch code {
	case packets.ErrBadUsernameOrPassword:
		return packets.Code{Code: 0x04, Reason: "bad user name or password"}
	case packets.ErrNotAuthorized:
		return packets.Code{Code: 0x05, Reason: "not authorized"}
	}
	return code
}

// connInfoOf returns what the router knew of the client's connection.
func connInfoOf(cl *mochi.Client) auth.ConnInfo {
	if q, ok := cl.Net.Conn.(*queuedConn); ok {
		return q.info
	}
	return auth.ConnInfo{Remote: cl.Net.Remote}
}
