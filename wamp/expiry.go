package wamp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/client"
	nxrouter "github.com/gammazero/nexus/v3/router"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge/topic"
)

// ReauthenticateProcedure renews the JWT a session joined with: call it with
// a fresh token (the only positional argument, or the keyword "token") for
// the same authid and role before the session's token expires, and the
// session lasts until the new one does. Any session may call it; no client
// may register anything that could match it. The result is a dict with
// "expires" (RFC 3339). Errors: wamp.error.not_authorized (the session did
// not join with a token, or the token names another authid or role),
// wamp.error.authentication_failed (the token is not valid),
// wamp.error.invalid_argument (no token).
const ReauthenticateProcedure = "junction.session.reauthenticate"

// ErrTokenExpired is the reason of the GOODBYE that ends a session whose
// JWT expired.
const ErrTokenExpired nxwamp.URI = "junction.error.token_expired"

// authextraExpires is the WELCOME authextra key that tells a client (and
// the peer, which arms its timer from it) when its token expires.
const authextraExpires = "expires"

// sessionKey names a session: ids are unique per realm.
type sessionKey struct {
	realm string
	id    nxwamp.ID
}

// expiring holds the sessions that joined with a token and so can renew it:
// the reauthenticate procedure finds the caller's peer here.
type expiring struct {
	mu sync.Mutex
	m  map[sessionKey]*peer
}

func (e *expiring) add(k sessionKey, p *peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = make(map[sessionKey]*peer)
	}
	e.m[k] = p
}

func (e *expiring) remove(k sessionKey, p *peer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m[k] == p {
		delete(e.m, k)
	}
}

func (e *expiring) get(k sessionKey) *peer {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.m[k]
}

// welcomed arms the session's expiry from its WELCOME: the authextra
// "expires" that login set for a token.
func (p *peer) welcomed(m *nxwamp.Welcome) {
	extra, _ := nxwamp.AsDict(m.Details["authextra"])
	s, _ := nxwamp.AsString(extra[authextraExpires])
	if s == "" {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return
	}
	p.endMu.Lock()
	p.sid = m.ID
	realm := p.realm
	p.endMu.Unlock()
	if p.cfg.expiring != nil {
		p.cfg.expiring.add(sessionKey{realm, m.ID}, p)
	}
	p.expireAt(at)
}

// expireAt ends the session at t, replacing an earlier time: one
// time.AfterFunc per session that joined with a token, no goroutine while
// it waits, stopped when the session ends.
func (p *peer) expireAt(t time.Time) {
	p.endMu.Lock()
	defer p.endMu.Unlock()
	if p.expiry != nil {
		p.expiry.Stop()
	}
	if p.expiryDone {
		return
	}
	p.expires = t
	var timer *time.Timer
	timer = time.AfterFunc(time.Until(t), func() {
		p.endMu.Lock()
		current := p.expiry == timer && !p.expiryDone
		p.endMu.Unlock()
		if current {
			p.tokenExpired(t)
		}
	})
	p.expiry = timer
}

// stopExpiry stops the session's expiry for good, when it ends.
func (p *peer) stopExpiry() {
	p.endMu.Lock()
	p.expiryDone = true
	if p.expiry != nil {
		p.expiry.Stop()
	}
	k, registered := sessionKey{p.realm, p.sid}, p.sid != 0
	p.endMu.Unlock()
	if registered && p.cfg.expiring != nil {
		p.cfg.expiring.remove(k, p)
	}
}

// tokenExpired ends the session with GOODBYE junction.error.token_expired
// (through nexus, which forgets the session's registrations and
// subscriptions as for wamp.session.kill).
func (p *peer) tokenExpired(at time.Time) {
	p.ended(reasonTokenExpired, fmt.Sprintf("token expired at %s", at.UTC().Format(time.RFC3339)))
	p.endMu.Lock()
	realm, sid := p.realm, p.sid
	p.endMu.Unlock()
	if p.cfg.kill == nil {
		p.Close()
		return
	}
	if err := p.cfg.kill(realm, sid, ErrTokenExpired, "the token this session joined with has expired"); err != nil {
		// Already gone from nexus: close the connection anyway (on the
		// timer's goroutine: Close waits for the peer's reader and writer,
		// which end with the connection).
		p.log.Debug("ending a session whose token expired", "error", err)
		p.Close()
	}
}

// mayMatchReauthenticate reports whether a registration of uri with match
// could receive calls of ReauthenticateProcedure.
func mayMatchReauthenticate(uri string, match topic.Match) bool {
	switch match {
	case topic.MatchPrefix:
		return strings.HasPrefix(ReauthenticateProcedure, uri)
	case topic.MatchWildcard:
		return topic.MatchComponents(strings.Split(uri, "."), ReauthenticateProcedure)
	default:
		return uri == ReauthenticateProcedure
	}
}

// reauthenticator is the in-process callee of ReauthenticateProcedure in
// one realm.
type reauthenticator struct {
	realm     string
	authority Authority
	expiring  *expiring
	metrics   Metrics
	log       *slog.Logger
}

// startReauthenticators registers ReauthenticateProcedure in every realm.
// Local sessions are not subject to the Authorizer, so no permission is
// needed, and no claim is made with federation.
func startReauthenticators(nexus nxrouter.Router, cfg Config, e *expiring, log *slog.Logger) ([]*client.Client, error) {
	var clients []*client.Client
	for _, r := range cfg.Realms {
		c, err := client.ConnectLocal(nexus, client.Config{
			Realm: r.Name, HelloDetails: nxwamp.Dict{"authid": "junction-session"}, Logger: nexusLogger{log},
		})
		if err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("reauthenticate session in realm %s: %w", r.Name, err)
		}
		clients = append(clients, c)
		ra := &reauthenticator{realm: r.Name, authority: cfg.Authority, expiring: e, metrics: cfg.Metrics, log: log}
		if err := c.Register(ReauthenticateProcedure, ra.handle, nxwamp.Dict{nxwamp.OptDiscloseCaller: true}); err != nil {
			closeAll(clients)
			return nil, fmt.Errorf("registering %s in realm %s: %w", ReauthenticateProcedure, r.Name, err)
		}
	}
	return clients, nil
}

func closeAll(cs []*client.Client) {
	for _, c := range cs {
		_ = c.Close()
	}
}

func (ra *reauthenticator) handle(_ context.Context, inv *nxwamp.Invocation) client.InvokeResult {
	fail := func(uri nxwamp.URI, msg string) client.InvokeResult {
		return client.InvokeResult{Err: uri, Args: nxwamp.List{msg}}
	}
	caller, _ := nxwamp.AsID(inv.Details["caller"])
	authid, _ := nxwamp.AsString(inv.Details["caller_authid"])
	role, _ := nxwamp.AsString(inv.Details["caller_authrole"])
	var token string
	if len(inv.Arguments) > 0 {
		token, _ = nxwamp.AsString(inv.Arguments[0])
	} else {
		token, _ = nxwamp.AsString(inv.ArgumentsKw["token"])
	}
	if token == "" {
		return fail(nxwamp.ErrInvalidArgument, "want a token: the first argument, or keyword token")
	}
	p := ra.expiring.get(sessionKey{ra.realm, caller})
	if p == nil {
		return fail(nxwamp.ErrNotAuthorized, "this session did not join with a token")
	}
	id, err := ra.authority.Token(ra.realm, token)
	if err == nil && (id.AuthID != authid || id.Role != role) {
		err = fmt.Errorf("%w: token for %s (role %s), not the session's %s (role %s)", auth.ErrBadCredentials, id.AuthID, id.Role, authid, role)
	}
	if err != nil {
		ra.metrics.AuthFailed("jwt")
		ra.log.Info("WAMP re-authentication refused", "realm", ra.realm, "session", uint64(caller), "authid", authid, "reason", err)
		if errors.Is(err, auth.ErrBadCredentials) && id.AuthID != "" {
			return fail(nxwamp.ErrNotAuthorized, "the token is for another identity")
		}
		return fail(nxwamp.ErrAuthenticationFailed, "the token is not valid")
	}
	p.expireAt(id.Expires)
	ra.log.Debug("WAMP session re-authenticated", "realm", ra.realm, "session", uint64(caller), "authid", authid, "expires", id.Expires)
	return client.InvokeResult{Args: nxwamp.List{nxwamp.Dict{authextraExpires: id.Expires.UTC().Format(time.RFC3339Nano)}}}
}
