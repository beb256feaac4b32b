package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// The methods of the identities this package returns. The WAMP adapter may
// report a password login as "ticket".
const (
	methodAnonymous  = "anonymous"
	methodPassword   = "password"
	methodJWT        = "jwt"
	methodCRA        = "wampcra"
	methodCryptosign = "cryptosign"
	methodTLS        = "tls"
)

// Authority is the live authentication and authorization state. It is built
// from a Config by New and replaced as a whole by Reload, atomically: a
// caller sees either the old configuration or the new one, never a mix. The
// login throttle's counts survive Reload. All methods are safe for
// concurrent use.
type Authority struct {
	state    atomic.Pointer[snapshot]
	now      func() time.Time // the throttle's clock; tests replace it
	throttle throttle
	// hashing bounds concurrent password checks: each argon2id check takes
	// 64 MiB and a third of a second of a core, so a burst of logins must
	// queue rather than exhaust memory.
	hashing chan struct{}
	// generation counts configurations, so that callers caching a decision
	// (such as "this role may publish anywhere") know when to decide again.
	generation atomic.Uint64
}

// snapshot is one validated, compiled Config. It is never modified once
// stored.
type snapshot struct {
	realms   map[string]*realmState
	users    map[userKey]*userState
	byAuthID map[string][]*userState // for logins that name no realm
	jwt      *JWTVerifier            // nil: tokens are refused
	throttle ThrottleConfig
	// decoy is a configured user's password hash that an unknown user's
	// password is checked against (the answer ignored), so that a login
	// for an unknown user costs what one for a known user costs. It is ""
	// when no user has a password: every password login then fails without
	// hashing, alike for every authid, so timing reveals nothing and a
	// stream of bad logins costs no argon2 memory.
	decoy string
}

type userKey struct{ realm, authID string }

type realmState struct {
	roles         map[string]*compiledRole
	anonymousRole string // "": anonymous access is off
}

type userState struct {
	authID, realm, role string
	password            string  // hash, or ""
	cra                 *CRAKey // nil: no WAMP-CRA
	cryptosign          []ed25519.PublicKey
}

// New validates cfg and returns an Authority for it. Every problem found is
// reported, by its place in cfg, in an error that wraps ErrInvalidConfig.
func New(cfg Config) (*Authority, error) {
	s, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	a := &Authority{now: time.Now, hashing: make(chan struct{}, runtime.GOMAXPROCS(0))}
	a.throttle.max = defaultThrottleEntries
	a.state.Store(s)
	return a, nil
}

// Validate checks cfg as New does, building nothing that lasts: every
// error names the key's path.
func Validate(cfg Config) error {
	_, err := compile(cfg)
	return err
}

// Reload validates cfg fully and, only if it is valid, replaces the
// configuration: on error the Authority keeps the old one. Identities
// already issued stay valid; Allowed decides for them with the new rules.
func (a *Authority) Reload(cfg Config) error {
	s, err := compile(cfg)
	if err != nil {
		return err
	}
	a.state.Store(s)
	a.generation.Add(1)
	return nil
}

// Generation changes with every successful Reload.
func (a *Authority) Generation() uint64 { return a.generation.Load() }

// HasRealm reports whether realm is configured.
func (a *Authority) HasRealm(realm string) bool {
	_, ok := a.state.Load().realms[realm]
	return ok
}

// Anonymous returns the identity of a client that does not authenticate in
// realm: its AuthID is empty, for the caller to fill.
func (a *Authority) Anonymous(realm string) (Identity, error) {
	r, ok := a.state.Load().realms[realm]
	if !ok {
		return Identity{}, ErrUnknownRealm
	}
	if r.anonymousRole == "" {
		return Identity{}, ErrAnonymousOff
	}
	return Identity{Role: r.anonymousRole, Realm: realm, Method: methodAnonymous}, nil
}

// Password checks a password (MQTT username/password, WAMP ticket) against
// the user's hash. realm "" means the user's own realm; an authid defined in
// several realms then fails. Unknown users take as long as known ones.
func (a *Authority) Password(realm, authid, password string) (Identity, error) {
	st := a.state.Load()
	u, err := st.lookupUser(realm, authid)
	if errors.Is(err, ErrUnknownRealm) {
		return Identity{}, err
	}
	if st.decoy == "" {
		// No user has a password: nothing can match, whoever asks.
		return Identity{}, ErrBadCredentials
	}
	a.hashing <- struct{}{}
	defer func() { <-a.hashing }()
	if err != nil || u.password == "" {
		_ = verifyPassword(st.decoy, password) // its cost, not its answer
		return Identity{}, ErrBadCredentials
	}
	if !verifyPassword(u.password, password) {
		return Identity{}, ErrBadCredentials
	}
	return u.identity(methodPassword), nil
}

// Token checks a JSON Web Token. Its realm is the token's realm claim, else
// realm; if both are set they must agree. The token must name an authid and
// a role of that realm; no User entry is needed. Failures wrap
// ErrBadCredentials, with the reason in the text (for logs).
func (a *Authority) Token(realm, token string) (Identity, error) {
	return a.token(realm, "", token)
}

// TokenDefaultRealm checks a JSON Web Token for a client that has not chosen
// a realm (MQTT): its realm is the token's realm claim, else defaultRealm.
func (a *Authority) TokenDefaultRealm(defaultRealm, token string) (Identity, error) {
	return a.token("", defaultRealm, token)
}

func (a *Authority) token(realm, defaultRealm, token string) (Identity, error) {
	s := a.state.Load()
	if s.jwt == nil {
		return Identity{}, fmt.Errorf("%w: tokens are not accepted", ErrBadCredentials)
	}
	if _, ok := s.realms[realm]; realm != "" && !ok {
		return Identity{}, ErrUnknownRealm
	}
	claims, err := s.jwt.Verify(token)
	if err != nil {
		if errors.Is(err, ErrBadCredentials) {
			return Identity{}, err
		}
		return Identity{}, fmt.Errorf("%w: %w", ErrBadCredentials, err)
	}
	r := claims.Realm
	switch {
	case r == "" && realm == "":
		r = defaultRealm
	case r == "":
		r = realm
	case realm != "" && r != realm:
		return Identity{}, fmt.Errorf("%w: token is for realm %q, not %q", ErrBadCredentials, r, realm)
	}
	if r == "" {
		return Identity{}, fmt.Errorf("%w: token names no realm and none was given", ErrBadCredentials)
	}
	rs, ok := s.realms[r]
	if !ok {
		return Identity{}, fmt.Errorf("%w: token names unknown realm %q", ErrBadCredentials, r)
	}
	if claims.AuthID == "" {
		return Identity{}, fmt.Errorf("%w: token names no authid", ErrBadCredentials)
	}
	if _, ok := rs.roles[claims.Role]; !ok || claims.Role == "" {
		return Identity{}, fmt.Errorf("%w: token's role %q is not a role of realm %q", ErrBadCredentials, claims.Role, r)
	}
	return Identity{AuthID: claims.AuthID, Role: claims.Role, Realm: r, Method: methodJWT, Expires: claims.Expires.Add(s.jwt.leeway)}, nil
}

// Certificate returns the identity of a client whose verified TLS
// certificate names authid: the user must exist in realm, or in its own
// realm if realm is "".
func (a *Authority) Certificate(realm string, authid string) (Identity, error) {
	u, err := a.state.Load().lookupUser(realm, authid)
	if err != nil {
		return Identity{}, err
	}
	return u.identity(methodTLS), nil
}

// lookupUser finds a user by realm and authid, or by authid alone (if it is
// unique) when realm is "". The error is ErrUnknownRealm or
// ErrBadCredentials.
func (s *snapshot) lookupUser(realm, authid string) (*userState, error) {
	if realm == "" {
		if us := s.byAuthID[authid]; len(us) == 1 {
			return us[0], nil
		}
		return nil, ErrBadCredentials
	}
	if _, ok := s.realms[realm]; !ok {
		return nil, ErrUnknownRealm
	}
	if u := s.users[userKey{realm, authid}]; u != nil {
		return u, nil
	}
	return nil, ErrBadCredentials
}

func (u *userState) identity(method string) Identity {
	return Identity{AuthID: u.authID, Role: u.role, Realm: u.realm, Method: method}
}

// compile validates cfg and builds a snapshot of it. It copies what it keeps,
// so that the caller may reuse cfg.
func compile(cfg Config) (*snapshot, error) {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	s := &snapshot{
		realms:   make(map[string]*realmState, len(cfg.Realms)),
		users:    make(map[userKey]*userState, len(cfg.Users)),
		byAuthID: make(map[string][]*userState, len(cfg.Users)),
		throttle: cfg.Throttle,
	}

	for i, r := range cfg.Realms {
		path := fmt.Sprintf("realms[%d]", i)
		if r.Name == "" {
			bad("%s.name: empty", path)
			continue
		}
		if _, dup := s.realms[r.Name]; dup {
			bad("%s: realm %q defined twice", path, r.Name)
			continue
		}
		rs := &realmState{roles: make(map[string]*compiledRole, len(r.Roles)), anonymousRole: r.AnonymousRole}
		s.realms[r.Name] = rs
		for j, role := range r.Roles {
			rpath := fmt.Sprintf("%s.roles[%d]", path, j)
			if role.Name == "" {
				bad("%s.name: empty", rpath)
				continue
			}
			if _, dup := rs.roles[role.Name]; dup {
				bad("%s: role %q defined twice", rpath, role.Name)
				continue
			}
			cr, errs := compileRole(role, rpath)
			problems = append(problems, errs...)
			rs.roles[role.Name] = cr
		}
		if r.AnonymousRole != "" {
			if _, ok := rs.roles[r.AnonymousRole]; !ok {
				bad("%s.anonymous_role: role %q not defined", path, r.AnonymousRole)
			}
		}
	}

	firstDef := make(map[userKey]int, len(cfg.Users))
	for i, u := range cfg.Users {
		path := fmt.Sprintf("users[%d]", i)
		if u.AuthID == "" {
			bad("%s.authid: empty", path)
		}
		rs, realmOK := s.realms[u.Realm]
		switch {
		case u.Realm == "":
			bad("%s.realm: empty", path)
		case !realmOK:
			bad("%s: realm %q not defined", path, u.Realm)
		case u.Role == "":
			bad("%s.role: empty", path)
		default:
			if _, ok := rs.roles[u.Role]; !ok {
				bad("%s.role: role %q not in realm %q", path, u.Role, u.Realm)
			}
		}
		key := userKey{u.Realm, u.AuthID}
		if first, dup := firstDef[key]; dup {
			bad("%s: user %q defined twice in realm %q (first at users[%d])", path, u.AuthID, u.Realm, first)
			continue
		}
		firstDef[key] = i

		us := &userState{authID: u.AuthID, realm: u.Realm, role: u.Role, password: u.Password}
		if u.Password != "" {
			if err := checkPasswordHash(u.Password); err != nil {
				bad("%s.password: %s", path, configReason(err))
			}
		}
		if u.CRA != nil {
			if err := checkCRAKey(*u.CRA); err != nil {
				bad("%s.cra: %s", path, err)
			}
			k := *u.CRA
			us.cra = &k
		}
		for j, h := range u.CryptosignKeys {
			pub, err := hex.DecodeString(h)
			if err != nil || len(pub) != ed25519.PublicKeySize {
				bad("%s.cryptosign_keys[%d]: not an Ed25519 public key in hex (want %d hex digits)", path, j, 2*ed25519.PublicKeySize)
				continue
			}
			us.cryptosign = append(us.cryptosign, ed25519.PublicKey(pub))
		}
		s.users[key] = us
		s.byAuthID[u.AuthID] = append(s.byAuthID[u.AuthID], us)
		if s.decoy == "" && us.password != "" {
			s.decoy = us.password
		}
	}

	if cfg.JWT != nil {
		v, err := NewJWTVerifier(*cfg.JWT)
		if err != nil {
			reason := configReason(err)
			if !strings.HasPrefix(reason, "jwt") {
				reason = "jwt: " + reason
			}
			bad("%s", reason)
		}
		s.jwt = v
	}

	t := cfg.Throttle
	switch {
	case t.MaxFailures < 0:
		bad("throttle.max_failures: %d is negative (0 turns throttling off)", t.MaxFailures)
	case t.MaxFailures > 0:
		if t.Window <= 0 {
			bad("throttle.window: %v: must be positive when max_failures is set", t.Window)
		}
		if t.Block <= 0 {
			bad("throttle.block: %v: must be positive when max_failures is set", t.Block)
		}
	}

	if len(problems) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
	}
	return s, nil
}

// configReason is err's text without a leading "invalid auth configuration: ",
// for errors from helpers that wrap ErrInvalidConfig themselves.
func configReason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrInvalidConfig.Error()+": ")
}

// checkCRAKey validates a stored WAMP-CRA key.
func checkCRAKey(k CRAKey) error {
	switch {
	case k.Salt == "":
		return errors.New("salt: empty")
	case k.Iterations < 1:
		return fmt.Errorf("iterations: %d: must be at least 1", k.Iterations)
	case k.KeyLen < 1 || k.KeyLen > maxCRAKeyLen:
		return fmt.Errorf("keylen: %d: out of range 1..%d", k.KeyLen, maxCRAKeyLen)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(k.Key)
	if err != nil {
		return errors.New("key: not standard base64 (see NewCRAKey)")
	}
	if len(raw) != k.KeyLen {
		return fmt.Errorf("key: %d bytes, but keylen is %d", len(raw), k.KeyLen)
	}
	return nil
}
