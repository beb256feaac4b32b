// Package auth decides who a client is and what it may do, for WAMP and MQTT
// alike. It knows nothing of nexus or mochi: wamp/ and mqtt/ adapt it.
//
// Identities come from shared authenticators (anonymous per realm, passwords
// as MQTT username/password or WAMP ticket, WAMP-CRA, JWT, WAMP-cryptosign,
// TLS client certificates). Permissions are rules on canonical URIs (the WAMP
// form: MQTT a/b/c is a.b.c), so that one rule decides for a WAMP subscribe to
// a.b and an MQTT subscribe to a/b. URIs, match policies and the matcher are
// the hub's vocabulary, package bridge/topic, which auth shares with the hub
// and federation.
package auth

import (
	"errors"
	"time"

	"github.com/junctionmq/junction/bridge/topic"
)

// Action is what a permission allows.
type Action string

// The four actions of WAMP's authorization model; MQTT publish and subscribe
// map onto the first two, MQTT RPC onto the last two.
const (
	ActionPublish   Action = "publish"
	ActionSubscribe Action = "subscribe"
	ActionCall      Action = "call"
	ActionRegister  Action = "register"
)

// Permission is one rule of a role. URI may contain {authid} and {clientid},
// replaced by the client's authid and (MQTT) client id before matching; a
// client whose authid or client id contains a '.', '#', '+' or '*' never
// matches such an allow rule, and is refused every request of a deny rule's
// action (see Allowed).
//
// A rule allows the actions in Allow and denies those in Deny; it must name
// at least one action, and no action in both. A deny wins over every allow
// of the role.
type Permission struct {
	URI      string
	Match    topic.Match // how URI matches, as package topic says (WAMP's semantics)
	Allow    []Action
	Deny     []Action
	Disclose bool // the caller's or publisher's identity is disclosed to callees and subscribers (allow rules only)
}

// Role is a named set of permissions within a realm.
type Role struct {
	Name        string
	Permissions []Permission
}

// Realm holds roles. AnonymousRole is the role of clients that do not
// authenticate; empty means anonymous access is off.
type Realm struct {
	Name          string
	Roles         []Role
	AnonymousRole string
}

// User is a configured identity.
type User struct {
	AuthID string
	Realm  string
	Role   string
	// Password is an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)
	// or a bcrypt hash ($2a$, $2b$, $2y$); see HashPassword. Used for MQTT
	// username/password and the WAMP ticket method.
	Password string
	// CRA is the salted WAMP-CRA secret; see NewCRAKey.
	CRA *CRAKey
	// CryptosignKeys are hex Ed25519 public keys accepted for WAMP-cryptosign.
	CryptosignKeys []string
}

// CRAKey is a WAMP-CRA key stored salted: Key is
// base64(PBKDF2-HMAC-SHA256(secret, Salt, Iterations, KeyLen)), which is what
// the client derives from its secret and the salt the router sends it.
type CRAKey struct {
	Key        string
	Salt       string
	Iterations int
	KeyLen     int
}

// JWTConfig accepts JSON Web Tokens signed by one of the configured keys.
type JWTConfig struct {
	// KeyFiles are PEM files: RSA (RS256), ECDSA P-256 (ES256) or Ed25519
	// (EdDSA) public keys or certificates. HMACSecretFiles hold HS256 secrets.
	// JWKSFile is a JSON Web Key Set file. At least one key is required.
	KeyFiles        []string
	HMACSecretFiles []string
	JWKSFile        string
	Issuer          string        // required iss, if set
	Audience        string        // required aud, if set
	Leeway          time.Duration // clock skew allowed on exp and nbf
	AuthIDClaim     string        // default "sub"
	RoleClaim       string        // default "role"
	RealmClaim      string        // default "realm"
}

// ThrottleConfig limits failed logins per remote address.
type ThrottleConfig struct {
	MaxFailures int           // failures within Window before the address is blocked; 0 turns throttling off
	Window      time.Duration // how long a failure counts
	Block       time.Duration // how long a blocked address is refused
}

// Config is everything an Authority needs.
type Config struct {
	Realms   []Realm
	Users    []User
	JWT      *JWTConfig // nil: tokens are refused
	Throttle ThrottleConfig
}

// Identity is an authenticated client.
type Identity struct {
	AuthID   string
	Role     string
	Realm    string
	Method   string // anonymous, password, ticket, wampcra, jwt, cryptosign, tls
	ClientID string // MQTT client id; empty for WAMP
	// Expires is when the credentials stop being valid: for a JWT its exp
	// plus the configured leeway, the moment the token would be refused.
	// The connection it authenticated ends then, unless the client
	// re-authenticates. Zero: never (every other method).
	Expires time.Time
}

// Errors that callers branch on. Every authentication failure wraps
// ErrBadCredentials, whatever the cause, so that a client learns nothing.
var (
	ErrBadCredentials = errors.New("bad credentials")
	ErrAnonymousOff   = errors.New("anonymous access is off in this realm")
	ErrUnknownRealm   = errors.New("unknown realm")
	ErrThrottled      = errors.New("too many failed logins from this address")
	ErrInvalidConfig  = errors.New("invalid auth configuration")
)
