package wamp

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	nxauth "github.com/gammazero/nexus/v3/router/auth"
	nxwamp "github.com/gammazero/nexus/v3/wamp"

	"github.com/junctionmq/junction/auth"
	"github.com/junctionmq/junction/bridge"
	"github.com/junctionmq/junction/bridge/topic"
)

// Authority is what the WAMP side asks about identities and permissions;
// *auth.Authority implements it.
type Authority interface {
	Anonymous(realm string) (auth.Identity, error)
	Password(realm, authid, password string) (auth.Identity, error)
	Token(realm, token string) (auth.Identity, error)
	CRA(realm, authid string) (key []byte, salt string, iterations, keylen int, id auth.Identity, err error)
	CryptosignKeys(realm, authid string) ([]ed25519.PublicKey, auth.Identity, error)
	Certificate(realm, authid string) (auth.Identity, error)
	Allowed(id auth.Identity, action auth.Action, uri string, match topic.Match) bool
	Discloses(id auth.Identity, action auth.Action, uri string) bool
	Throttled(remote string) bool
	LoginFailed(remote string)
	LoginSucceeded(remote string)
}

// authn holds what every authenticator of one realm shares.
type authn struct {
	realm     string
	authority Authority
	metrics   Metrics
	log       *slog.Logger
	certFrom  string
	timeout   time.Duration // for the client's AUTHENTICATE
}

// connInfo reads the ConnInfo that serve put in HELLO.Details.transport.auth.
func connInfo(details nxwamp.Dict) auth.ConnInfo {
	transport, _ := nxwamp.AsDict(details["transport"])
	a, _ := nxwamp.AsDict(transport["auth"])
	info, _ := a["conn"].(auth.ConnInfo)
	return info
}

// login runs one authentication under the per-address throttle.
func (a *authn) login(details nxwamp.Dict, method string, f func(auth.ConnInfo) (auth.Identity, error)) (*nxwamp.Welcome, error) {
	info := connInfo(details)
	remote := info.Host()
	if a.authority.Throttled(remote) {
		a.metrics.AuthFailed("throttled")
		a.log.Info("WAMP login refused", "realm", a.realm, "remote", info.Remote, "method", method, "reason", auth.ErrThrottled)
		return nil, fmt.Errorf("%w: %s", auth.ErrThrottled, remote)
	}
	id, err := f(info)
	if err != nil {
		if !errors.Is(err, auth.ErrAnonymousOff) {
			a.authority.LoginFailed(remote)
		}
		a.metrics.AuthFailed(method)
		a.log.Info("WAMP login refused", "realm", a.realm, "remote", info.Remote, "method", method, "reason", err)
		// The client learns that it failed, not why (which key, claim or
		// secret was wrong): that is for the log.
		if errors.Is(err, auth.ErrAnonymousOff) {
			return nil, notAuthorized{fmt.Sprintf("anonymous access is off in realm %s", a.realm)}
		}
		return nil, auth.ErrBadCredentials
	}
	a.authority.LoginSucceeded(remote)
	extra := nxwamp.Dict{"method": id.Method}
	if !id.Expires.IsZero() {
		// The client learns when its token expires (and the session with
		// it, unless renewed by junction.session.reauthenticate); the peer
		// arms its timer from this.
		extra[authextraExpires] = id.Expires.UTC().Format(time.RFC3339Nano)
	}
	return &nxwamp.Welcome{Details: nxwamp.Dict{
		"authid":       id.AuthID,
		"authrole":     id.Role,
		"authmethod":   method,
		"authprovider": "junction",
		"authextra":    extra,
	}}, nil
}

// notAuthorized refuses a client that is who it says (or anonymous) but may
// not join: nexus ABORTs with wamp.error.not_authorized instead of
// authentication_failed (see third_party/nexus/JUNCTION-PATCHES.md).
type notAuthorized struct{ msg string }

func (e notAuthorized) Error() string           { return e.msg }
func (e notAuthorized) AbortReason() nxwamp.URI { return nxwamp.ErrNotAuthorized }

// challenge sends CHALLENGE and waits for the client's AUTHENTICATE.
func (a *authn) challenge(client nxwamp.Peer, method string, extra nxwamp.Dict) (*nxwamp.Authenticate, error) {
	if !nxwamp.TrySend(client, &nxwamp.Challenge{AuthMethod: method, Extra: extra}) {
		return nil, errors.New("cannot send CHALLENGE: client blocked")
	}
	msg, err := nxwamp.RecvTimeout(client, a.timeout)
	if err != nil {
		return nil, fmt.Errorf("waiting for AUTHENTICATE: %w", err)
	}
	rsp, ok := msg.(*nxwamp.Authenticate)
	if !ok {
		return nil, fmt.Errorf("got %v instead of AUTHENTICATE", msg.MessageType())
	}
	return rsp, nil
}

// anonymousAuth answers clients that offer no credentials in HELLO. A browser
// may still carry a JWT on the upgrade request, and a device a TLS client
// certificate; both count before anonymous access.
type anonymousAuth struct{ *authn }

func (anonymousAuth) AuthMethod() string { return "anonymous" }

func (a anonymousAuth) Authenticate(sid nxwamp.ID, details nxwamp.Dict, _ nxwamp.Peer) (*nxwamp.Welcome, error) {
	return a.login(details, "anonymous", func(info auth.ConnInfo) (auth.Identity, error) {
		if tok := info.Token; tok != "" {
			return a.authority.Token(a.realm, tok)
		}
		if authid := auth.CertAuthID(info.TLS, a.certFrom); authid != "" {
			if id, err := a.authority.Certificate(a.realm, authid); err == nil {
				return id, nil
			}
		}
		id, err := a.authority.Anonymous(a.realm)
		if err != nil {
			return id, err
		}
		id.AuthID = fmt.Sprintf("anonymous-%x", uint64(sid))
		return id, nil
	})
}

// ticketAuth checks a ticket: a password of the HELLO's authid, or a JWT.
type ticketAuth struct{ *authn }

func (ticketAuth) AuthMethod() string { return "ticket" }

func (a ticketAuth) Authenticate(_ nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	return a.login(details, "ticket", func(auth.ConnInfo) (auth.Identity, error) {
		authid, _ := nxwamp.AsString(details["authid"])
		rsp, err := a.challenge(client, "ticket", nxwamp.Dict{})
		if err != nil {
			return auth.Identity{}, err
		}
		if auth.LooksLikeJWT(rsp.Signature) {
			id, err := a.authority.Token(a.realm, rsp.Signature)
			if err == nil && authid != "" && authid != id.AuthID {
				return auth.Identity{}, fmt.Errorf("%w: HELLO authid %q is not the token's", auth.ErrBadCredentials, authid)
			}
			return id, err
		}
		return a.authority.Password(a.realm, authid, rsp.Signature)
	})
}

// craAuth is WAMP-CRA with salted keys.
type craAuth struct{ *authn }

func (craAuth) AuthMethod() string { return "wampcra" }

func (a craAuth) Authenticate(sid nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	return a.login(details, "wampcra", func(auth.ConnInfo) (auth.Identity, error) {
		authid, _ := nxwamp.AsString(details["authid"])
		key, salt, iterations, keylen, id, lookupErr := a.authority.CRA(a.realm, authid)
		if lookupErr != nil {
			// Challenge anyway, with a key nobody has, so that the answer
			// does not tell which authids exist.
			key, salt, iterations, keylen = randomBytes(32), base64.StdEncoding.EncodeToString(randomBytes(16)), 1000, 32
			id = auth.Identity{AuthID: authid, Role: "user"}
		}
		ch, err := json.Marshal(map[string]any{
			"authid": authid, "authrole": id.Role, "authmethod": "wampcra", "authprovider": "junction",
			"nonce": hex.EncodeToString(randomBytes(16)), "timestamp": time.Now().UTC().Format(time.RFC3339), "session": uint64(sid),
		})
		if err != nil {
			return auth.Identity{}, err
		}
		rsp, err := a.challenge(client, "wampcra", nxwamp.Dict{
			"challenge": string(ch), "salt": salt, "iterations": iterations, "keylen": keylen,
		})
		if err != nil {
			return auth.Identity{}, err
		}
		if lookupErr != nil || !auth.VerifyCRA(key, string(ch), rsp.Signature) {
			return auth.Identity{}, fmt.Errorf("%w: wampcra signature", auth.ErrBadCredentials)
		}
		return id, nil
	})
}

// cryptosignAuth is WAMP-cryptosign. Unlike nexus v3.3.0's, it requires the
// signature to be over the challenge this session was sent, so a captured
// AUTHENTICATE cannot be replayed.
type cryptosignAuth struct{ *authn }

func (cryptosignAuth) AuthMethod() string { return "cryptosign" }

func (a cryptosignAuth) Authenticate(_ nxwamp.ID, details nxwamp.Dict, client nxwamp.Peer) (*nxwamp.Welcome, error) {
	return a.login(details, "cryptosign", func(auth.ConnInfo) (auth.Identity, error) {
		authid, _ := nxwamp.AsString(details["authid"])
		keys, id, lookupErr := a.authority.CryptosignKeys(a.realm, authid)
		var offered []byte
		if extra, ok := nxwamp.AsDict(details["authextra"]); ok {
			if pk, ok := nxwamp.AsString(extra["pubkey"]); ok {
				offered, _ = hex.DecodeString(pk)
			}
		}
		challenge := randomBytes(32)
		rsp, err := a.challenge(client, "cryptosign", nxwamp.Dict{"challenge": hex.EncodeToString(challenge)})
		if err != nil {
			return auth.Identity{}, err
		}
		if lookupErr == nil {
			for _, k := range keys {
				if offered != nil && !equalBytes(offered, k) {
					continue
				}
				if auth.VerifyCryptosign(k, challenge, rsp.Signature) {
					return id, nil
				}
			}
		}
		return auth.Identity{}, fmt.Errorf("%w: cryptosign signature", auth.ErrBadCredentials)
	})
}

// tlsAuth takes the identity of a verified TLS client certificate.
type tlsAuth struct{ *authn }

func (tlsAuth) AuthMethod() string { return "tls" }

func (a tlsAuth) Authenticate(_ nxwamp.ID, details nxwamp.Dict, _ nxwamp.Peer) (*nxwamp.Welcome, error) {
	return a.login(details, "tls", func(info auth.ConnInfo) (auth.Identity, error) {
		authid := auth.CertAuthID(info.TLS, a.certFrom)
		if authid == "" {
			return auth.Identity{}, fmt.Errorf("%w: no verified client certificate", auth.ErrBadCredentials)
		}
		return a.authority.Certificate(a.realm, authid)
	})
}

func (a *authn) authenticators() []nxauth.Authenticator {
	return []nxauth.Authenticator{anonymousAuth{a}, ticketAuth{a}, craAuth{a}, cryptosignAuth{a}, tlsAuth{a}}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail on supported platforms
	return b
}

func equalBytes(a []byte, b ed25519.PublicKey) bool { return string(a) == string(b) }

// authorizer applies the realm's permissions to every message a session
// sends after WELCOME. nexus answers a refusal with ERROR
// wamp.error.not_authorized.
type authorizer struct {
	realm     string
	authority Authority
	metrics   Metrics
	log       *slog.Logger
	hub       Hub    // nil: publications stay in WAMP on this router
	claims    Claims // set with federation
}

func (z authorizer) Authorize(sess *nxwamp.Session, msg nxwamp.Message) (bool, error) {
	var (
		action auth.Action
		uri    nxwamp.URI
		match  = topic.MatchExact
		opts   nxwamp.Dict
	)
	switch m := msg.(type) {
	case *nxwamp.Publish:
		action, uri, opts = auth.ActionPublish, m.Topic, m.Options
	case *nxwamp.Call:
		action, uri, opts = auth.ActionCall, m.Procedure, m.Options
	case *nxwamp.Subscribe:
		action, uri = auth.ActionSubscribe, m.Topic
		match = matchOption(m.Options)
	case *nxwamp.Register:
		action, uri = auth.ActionRegister, m.Procedure
		match = matchOption(m.Options)
	default:
		return true, nil
	}
	// Renewing one's own token is every session's right, and the procedure
	// is the router's alone: no client may register what could match it.
	switch {
	case action == auth.ActionCall && uri == ReauthenticateProcedure:
		return true, nil
	case action == auth.ActionRegister && mayMatchReauthenticate(string(uri), match):
		z.metrics.Denied(string(action))
		z.log.Info("WAMP registration refused: it could receive "+ReauthenticateProcedure, "realm", z.realm, "uri", string(uri), "match", string(match))
		return false, nil
	}
	authid, _ := nxwamp.AsString(sess.Details["authid"])
	role, _ := nxwamp.AsString(sess.Details["authrole"])
	id := auth.Identity{AuthID: authid, Role: role, Realm: z.realm}
	if !z.authority.Allowed(id, action, string(uri), match) {
		z.metrics.Denied(string(action))
		z.log.Info("WAMP action refused", "realm", z.realm, "authid", authid, "role", role,
			"action", string(action), "uri", string(uri), "match", string(match))
		return false, nil
	}
	if (action == auth.ActionPublish || action == auth.ActionCall) && z.authority.Discloses(id, action, string(uri)) {
		if opts == nil {
			opts = nxwamp.Dict{}
			switch m := msg.(type) {
			case *nxwamp.Publish:
				m.Options = opts
			case *nxwamp.Call:
				m.Options = opts
			}
		}
		opts[nxwamp.OptDiscloseMe] = true
	}
	if m, ok := msg.(*nxwamp.Publish); ok && z.hub != nil {
		pub := publication(z.realm, m)
		if d, _ := m.Options[nxwamp.OptDiscloseMe].(bool); d {
			// Other routers' subscribers see who published.
			pub.WAMP.Disclose = &bridge.Disclosed{AuthID: authid, AuthRole: role}
		}
		_, _ = z.hub.Publish(pub) // a publication has no error to answer with
	}
	return true, nil
}

func matchOption(opts nxwamp.Dict) topic.Match {
	m, _ := nxwamp.AsString(opts["match"])
	return topic.Match(m).OrExact()
}
