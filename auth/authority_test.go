package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/argon2"

	"github.com/junctionmq/junction/bridge/topic"
)

// cheapHash is an argon2id PHC string with the smallest parameters
// checkPasswordHash accepts, so that logins in tests are fast.
func cheapHash(password string) string {
	salt := []byte("authority-salt16")
	key := argon2.IDKey([]byte(password), salt, 1, 8, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=8,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// baseConfig is a valid configuration that the validation cases break.
func baseConfig() Config {
	return Config{
		Realms: []Realm{
			{
				Name:          "realm1",
				AnonymousRole: "guest",
				Roles: []Role{
					{Name: "guest", Permissions: []Permission{{URI: "public.", Match: topic.MatchPrefix, Allow: []Action{ActionSubscribe}}}},
					{Name: "user", Permissions: []Permission{
						{URI: "devices.{authid}.", Match: topic.MatchPrefix, Allow: []Action{ActionPublish, ActionSubscribe}},
						{URI: "rpc..get", Match: topic.MatchWildcard, Allow: []Action{ActionCall}},
						{URI: "svc.echo", Match: topic.MatchExact, Allow: []Action{ActionRegister}, Disclose: true},
					}},
				},
			},
			{
				Name:  "realm2",
				Roles: []Role{{Name: "user"}, {Name: "admin"}},
			},
		},
		Users: []User{
			{AuthID: "alice", Realm: "realm1", Role: "user", Password: cheapHash("alice-pw")},
			{AuthID: "bob", Realm: "realm1", Role: "user"},
			{AuthID: "bob", Realm: "realm2", Role: "admin", Password: cheapHash("bob-pw")},
			{AuthID: "carol", Realm: "realm2", Role: "user", Password: cheapHash("carol-pw")},
		},
		Throttle: ThrottleConfig{MaxFailures: 5, Window: time.Minute, Block: 5 * time.Minute},
	}
}

func TestNewValid(t *testing.T) {
	a, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	if !a.HasRealm("realm1") || !a.HasRealm("realm2") || a.HasRealm("nope") || a.HasRealm("") {
		t.Error("HasRealm is wrong")
	}
	if _, err := New(Config{}); err != nil {
		t.Errorf("an empty configuration is valid (it refuses everyone): %v", err)
	}
}

func TestNewInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"realm without name", func(c *Config) { c.Realms[1].Name = "" }, `realms[1].name: empty`},
		{"realm twice", func(c *Config) { c.Realms[1].Name = "realm1" }, `realms[1]: realm "realm1" defined twice`},
		{"role twice", func(c *Config) { c.Realms[1].Roles[1].Name = "user" }, `realms[1].roles[1]: role "user" defined twice`},
		{"role without name", func(c *Config) { c.Realms[1].Roles[0].Name = "" }, `realms[1].roles[0].name: empty`},
		{"anonymous role not defined", func(c *Config) { c.Realms[0].AnonymousRole = "visitor" }, `realms[0].anonymous_role: role "visitor" not defined`},
		{"anonymous role of another realm", func(c *Config) { c.Realms[1].AnonymousRole = "guest" }, `realms[1].anonymous_role: role "guest" not defined`},
		{"bad match", func(c *Config) { c.Realms[0].Roles[1].Permissions[0].Match = "glob" }, `realms[0].roles[1].permissions[0].match: "glob" is not exact, prefix or wildcard`},
		{"empty match", func(c *Config) { c.Realms[0].Roles[1].Permissions[0].Match = "" }, `realms[0].roles[1].permissions[0].match: "" is not`},
		{"unknown action", func(c *Config) { c.Realms[0].Roles[1].Permissions[1].Allow = []Action{ActionCall, "execute"} }, `realms[0].roles[1].permissions[1].allow[1]: unknown action "execute"`},
		{"no action", func(c *Config) { c.Realms[0].Roles[1].Permissions[1].Allow = nil }, `realms[0].roles[1].permissions[1]: neither allow nor deny`},
		{"unknown deny action", func(c *Config) { c.Realms[0].Roles[1].Permissions[1].Deny = []Action{"execute"} }, `realms[0].roles[1].permissions[1].deny[0]: unknown action "execute"`},
		{"allow and deny one action", func(c *Config) {
			p := &c.Realms[0].Roles[1].Permissions[1]
			p.Deny = []Action{ActionRegister, p.Allow[0]}
		}, `realms[0].roles[1].permissions[1].deny[1]: "call" is also in allow`},
		{"disclose without allow", func(c *Config) {
			p := &c.Realms[0].Roles[1].Permissions[1]
			p.Allow, p.Deny, p.Disclose = nil, []Action{ActionCall}, true
		}, `realms[0].roles[1].permissions[1].disclose: a rule that allows nothing`},
		{"deny with bad uri", func(c *Config) {
			p := &c.Realms[0].Roles[1].Permissions[0]
			p.Allow, p.Deny, p.URI = nil, []Action{ActionPublish}, "devices.#"
		}, `realms[0].roles[1].permissions[0].uri: "devices.#": '#' is not a WAMP wildcard`},
		{"unknown placeholder", func(c *Config) { c.Realms[0].Roles[1].Permissions[0].URI = "devices.{user}." }, `realms[0].roles[1].permissions[0].uri: "devices.{user}.": unknown placeholder`},
		{"stray brace", func(c *Config) { c.Realms[0].Roles[1].Permissions[0].URI = "devices.{authid." }, `unknown placeholder`},
		{"mqtt wildcard", func(c *Config) { c.Realms[0].Roles[0].Permissions[0].URI = "public.#" }, `realms[0].roles[0].permissions[0].uri: "public.#": '#' is not a WAMP wildcard`},
		{"white space", func(c *Config) { c.Realms[0].Roles[0].Permissions[0].URI = "public. x" }, `contains white space`},
		{"exact with empty component", func(c *Config) { c.Realms[0].Roles[1].Permissions[2].URI = "svc..echo" }, `realms[0].roles[1].permissions[2].uri: "svc..echo": an exact rule cannot have an empty component`},
		{"exact empty", func(c *Config) { c.Realms[0].Roles[1].Permissions[2].URI = "" }, `an exact rule cannot have an empty component`},
		{"user without authid", func(c *Config) { c.Users[0].AuthID = "" }, `users[0].authid: empty`},
		{"user without realm", func(c *Config) { c.Users[2].Realm = "" }, `users[2].realm: empty`},
		{"user in unknown realm", func(c *Config) { c.Users[2].Realm = "nope" }, `users[2]: realm "nope" not defined`},
		{"user without role", func(c *Config) { c.Users[0].Role = "" }, `users[0].role: empty`},
		{"user role not in realm", func(c *Config) { c.Users[0].Role = "admin" }, `users[0].role: role "admin" not in realm "realm1"`},
		{"duplicate user", func(c *Config) { c.Users[3].AuthID = "bob" }, `users[3]: user "bob" defined twice in realm "realm2" (first at users[2])`},
		{"bad password hash", func(c *Config) { c.Users[0].Password = "hunter2" }, `users[0].password: unsupported password hash format`},
		{"argon2i hash", func(c *Config) { c.Users[0].Password = "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA" }, `users[0].password: unsupported password hash: only argon2id`},
		{"cryptosign key not hex", func(c *Config) { c.Users[1].CryptosignKeys = []string{strings.Repeat("zz", 32)} }, `users[1].cryptosign_keys[0]: not an Ed25519 public key in hex`},
		{"cryptosign key short", func(c *Config) {
			c.Users[1].CryptosignKeys = []string{strings.Repeat("ab", 32), strings.Repeat("ab", 31)}
		}, `users[1].cryptosign_keys[1]: not an Ed25519 public key in hex`},
		{"cra key not base64", func(c *Config) {
			c.Users[1].CRA = &CRAKey{Key: "not base64!", Salt: "s", Iterations: 100, KeyLen: 32}
		}, `users[1].cra: key: not standard base64`},
		{"cra key length", func(c *Config) {
			c.Users[1].CRA = &CRAKey{Key: base64.StdEncoding.EncodeToString(make([]byte, 16)), Salt: "s", Iterations: 100, KeyLen: 32}
		}, `users[1].cra: key: 16 bytes, but keylen is 32`},
		{"cra without salt", func(c *Config) {
			c.Users[1].CRA = &CRAKey{Key: base64.StdEncoding.EncodeToString(make([]byte, 32)), Iterations: 100, KeyLen: 32}
		}, `users[1].cra: salt: empty`},
		{"cra iterations", func(c *Config) {
			c.Users[1].CRA = &CRAKey{Key: base64.StdEncoding.EncodeToString(make([]byte, 32)), Salt: "s", KeyLen: 32}
		}, `users[1].cra: iterations: 0`},
		{"cra keylen", func(c *Config) {
			c.Users[1].CRA = &CRAKey{Key: "", Salt: "s", Iterations: 1, KeyLen: 0}
		}, `users[1].cra: keylen: 0`},
		{"jwt without keys", func(c *Config) { c.JWT = &JWTConfig{} }, `jwt: no keys`},
		{"jwt key file missing", func(c *Config) { c.JWT = &JWTConfig{KeyFiles: []string{"/nonexistent/key.pem"}} }, `jwt key file "/nonexistent/key.pem"`},
		{"throttle negative", func(c *Config) { c.Throttle.MaxFailures = -1 }, `throttle.max_failures: -1 is negative`},
		{"throttle without window", func(c *Config) { c.Throttle.Window = 0 }, `throttle.window: 0s: must be positive`},
		{"throttle without block", func(c *Config) { c.Throttle.Block = -time.Second }, `throttle.block: -1s: must be positive`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseConfig()
			tc.change(&cfg)
			a, err := New(cfg)
			if err == nil {
				t.Fatalf("New accepted the configuration")
			}
			if a != nil {
				t.Error("New returned an Authority with an error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Count(err.Error(), ErrInvalidConfig.Error()) != 1 {
				t.Errorf("error %q repeats %q", err, ErrInvalidConfig)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	cfg := baseConfig()
	cfg.Realms[0].AnonymousRole = "visitor"
	cfg.Users[0].Role = "admin"
	cfg.Throttle.MaxFailures = -1
	_, err := New(cfg)
	if err == nil {
		t.Fatal("New accepted the configuration")
	}
	for _, want := range []string{"realms[0].anonymous_role", "users[0].role", "throttle.max_failures"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestNewCopiesConfig(t *testing.T) {
	cfg := baseConfig()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Realms[0].Roles[1].Permissions[0].URI = ""
	cfg.Realms[0].Roles[1].Permissions[0].Match = topic.MatchPrefix
	cfg.Users[0].Role = "guest"
	id, err := a.Password("realm1", "alice", "alice-pw")
	if err != nil || id.Role != "user" {
		t.Fatalf("Password = %+v, %v", id, err)
	}
	if a.Allowed(id, ActionPublish, "x", topic.MatchExact) || !a.Allowed(id, ActionPublish, "devices.alice.x", topic.MatchExact) {
		t.Error("changing the Config after New changed the Authority")
	}
}

func TestAnonymous(t *testing.T) {
	a, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Anonymous("realm1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Identity{Role: "guest", Realm: "realm1", Method: "anonymous"}); id != want {
		t.Errorf("Anonymous = %+v, want %+v", id, want)
	}
	if _, err := a.Anonymous("realm2"); !errors.Is(err, ErrAnonymousOff) {
		t.Errorf("Anonymous(realm2) error = %v, want ErrAnonymousOff", err)
	}
	if _, err := a.Anonymous("nope"); !errors.Is(err, ErrUnknownRealm) {
		t.Errorf("Anonymous(nope) error = %v, want ErrUnknownRealm", err)
	}
}

func TestPassword(t *testing.T) {
	a, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                    string
		realm, authid, password string
		want                    Identity
		wantErr                 error
	}{
		{"right", "realm1", "alice", "alice-pw", Identity{AuthID: "alice", Role: "user", Realm: "realm1", Method: "password"}, nil},
		{"own realm", "", "alice", "alice-pw", Identity{AuthID: "alice", Role: "user", Realm: "realm1", Method: "password"}, nil},
		{"own realm 2", "", "carol", "carol-pw", Identity{AuthID: "carol", Role: "user", Realm: "realm2", Method: "password"}, nil},
		{"wrong password", "realm1", "alice", "alice-PW", Identity{}, ErrBadCredentials},
		{"empty password", "realm1", "alice", "", Identity{}, ErrBadCredentials},
		{"unknown user", "realm1", "mallory", "alice-pw", Identity{}, ErrBadCredentials},
		{"unknown user, own realm", "", "mallory", "x", Identity{}, ErrBadCredentials},
		{"user of another realm", "realm1", "carol", "carol-pw", Identity{}, ErrBadCredentials},
		{"user without password", "realm1", "bob", "", Identity{}, ErrBadCredentials},
		{"user in the other realm", "realm2", "bob", "bob-pw", Identity{AuthID: "bob", Role: "admin", Realm: "realm2", Method: "password"}, nil},
		{"authid in two realms, no realm", "", "bob", "bob-pw", Identity{}, ErrBadCredentials},
		{"unknown realm", "nope", "alice", "alice-pw", Identity{}, ErrUnknownRealm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // unknown users cost a full argon2id hash
			id, err := a.Password(tc.realm, tc.authid, tc.password)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if id != tc.want {
				t.Errorf("identity = %+v, want %+v", id, tc.want)
			}
		})
	}
}

func TestCertificate(t *testing.T) {
	a, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Certificate("realm1", "bob")
	if want := (Identity{AuthID: "bob", Role: "user", Realm: "realm1", Method: "tls"}); err != nil || id != want {
		t.Errorf("Certificate(realm1, bob) = %+v, %v; want %+v", id, err, want)
	}
	id, err = a.Certificate("", "carol")
	if want := (Identity{AuthID: "carol", Role: "user", Realm: "realm2", Method: "tls"}); err != nil || id != want {
		t.Errorf("Certificate(\"\", carol) = %+v, %v; want %+v", id, err, want)
	}
	for _, tc := range []struct {
		realm, authid string
		want          error
	}{
		{"realm1", "carol", ErrBadCredentials},
		{"realm1", "mallory", ErrBadCredentials},
		{"", "bob", ErrBadCredentials}, // in two realms
		{"", "", ErrBadCredentials},
		{"nope", "bob", ErrUnknownRealm},
	} {
		if _, err := a.Certificate(tc.realm, tc.authid); !errors.Is(err, tc.want) {
			t.Errorf("Certificate(%q, %q) error = %v, want %v", tc.realm, tc.authid, err, tc.want)
		}
	}
}

// jwtFixture writes an Ed25519 public key for a JWTConfig and signs tokens
// with its private key.
type jwtFixture struct {
	priv    ed25519.PrivateKey
	keyFile string
}

func newJWTFixture(t *testing.T) *jwtFixture {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "jwt.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &jwtFixture{priv: priv, keyFile: file}
}

func (f *jwtFixture) sign(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(f.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestToken(t *testing.T) {
	f := newJWTFixture(t)
	other := newJWTFixture(t)
	cfg := baseConfig()
	cfg.JWT = &JWTConfig{KeyFiles: []string{f.keyFile}}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	claims := func(kv ...any) jwt.MapClaims {
		c := jwt.MapClaims{"exp": exp}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
				continue
			}
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	tests := []struct {
		name    string
		realm   string
		token   string
		want    Identity
		wantErr error
	}{
		{"realm claim", "", f.sign(t, claims("sub", "dev7", "role", "user", "realm", "realm1")),
			Identity{AuthID: "dev7", Role: "user", Realm: "realm1", Method: "jwt"}, nil},
		{"realm claim and the same realm", "realm1", f.sign(t, claims("sub", "dev7", "role", "user", "realm", "realm1")),
			Identity{AuthID: "dev7", Role: "user", Realm: "realm1", Method: "jwt"}, nil},
		{"realm argument", "realm2", f.sign(t, claims("sub", "dev7", "role", "admin")),
			Identity{AuthID: "dev7", Role: "admin", Realm: "realm2", Method: "jwt"}, nil},
		{"configured user, token's role", "realm1", f.sign(t, claims("sub", "alice", "role", "guest")),
			Identity{AuthID: "alice", Role: "guest", Realm: "realm1", Method: "jwt"}, nil},
		{"realms disagree", "realm2", f.sign(t, claims("sub", "dev7", "role", "user", "realm", "realm1")), Identity{}, ErrBadCredentials},
		{"no realm at all", "", f.sign(t, claims("sub", "dev7", "role", "user")), Identity{}, ErrBadCredentials},
		{"unknown realm claim", "", f.sign(t, claims("sub", "dev7", "role", "user", "realm", "nope")), Identity{}, ErrBadCredentials},
		{"unknown realm argument", "nope", f.sign(t, claims("sub", "dev7", "role", "user")), Identity{}, ErrUnknownRealm},
		{"no role", "realm1", f.sign(t, claims("sub", "dev7")), Identity{}, ErrBadCredentials},
		{"empty role", "realm1", f.sign(t, claims("sub", "dev7", "role", "")), Identity{}, ErrBadCredentials},
		{"role of another realm", "realm2", f.sign(t, claims("sub", "dev7", "role", "guest")), Identity{}, ErrBadCredentials},
		{"no authid", "realm1", f.sign(t, claims("role", "user")), Identity{}, ErrBadCredentials},
		{"expired", "realm1", f.sign(t, claims("sub", "dev7", "role", "user", "exp", time.Now().Add(-time.Hour).Unix())), Identity{}, ErrBadCredentials},
		{"other key", "realm1", other.sign(t, claims("sub", "dev7", "role", "user")), Identity{}, ErrBadCredentials},
		{"garbage", "realm1", "not.a.token", Identity{}, ErrBadCredentials},
		{"empty", "realm1", "", Identity{}, ErrBadCredentials},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := a.Token(tc.realm, tc.token)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil {
				// Expires is exp: the configured leeway is 0.
				if want := time.Unix(exp, 0); !id.Expires.Equal(want) {
					t.Errorf("Expires = %v, want %v (exp)", id.Expires, want)
				}
				id.Expires = time.Time{}
			}
			if id != tc.want {
				t.Errorf("identity = %+v, want %+v", id, tc.want)
			}
		})
	}
	// With a leeway, a token's identity expires when the token would be
	// refused: exp plus the leeway.
	cfg.JWT.Leeway = 30 * time.Second
	if err := a.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	id, err := a.Token("realm1", f.sign(t, claims("sub", "dev7", "role", "user")))
	if err != nil || !id.Expires.Equal(time.Unix(exp, 0).Add(30*time.Second)) {
		t.Errorf("with leeway 30s: Expires = %v (%v), want exp + 30s", id.Expires, err)
	}

	t.Run("tokens off", func(t *testing.T) {
		a, err := New(baseConfig())
		if err != nil {
			t.Fatal(err)
		}
		_, err = a.Token("realm1", f.sign(t, claims("sub", "dev7", "role", "user")))
		if !errors.Is(err, ErrBadCredentials) {
			t.Errorf("error = %v, want ErrBadCredentials", err)
		}
	})
}

func TestReload(t *testing.T) {
	a, err := New(baseConfig())
	if err != nil {
		t.Fatal(err)
	}
	alice, err := a.Password("realm1", "alice", "alice-pw")
	if err != nil {
		t.Fatal(err)
	}
	if !a.Allowed(alice, ActionPublish, "devices.alice.t", topic.MatchExact) {
		t.Fatal("alice may not publish under devices.alice.")
	}

	// A bad configuration is refused and changes nothing.
	bad := baseConfig()
	bad.Realms = bad.Realms[:1]
	bad.Realms[0].Roles[1].Permissions = nil
	if err := a.Reload(bad); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Reload(bad) = %v, want ErrInvalidConfig", err)
	}
	if !a.HasRealm("realm2") || !a.Allowed(alice, ActionPublish, "devices.alice.t", topic.MatchExact) {
		t.Error("a refused Reload changed the state")
	}
	if _, err := a.Password("realm2", "carol", "carol-pw"); err != nil {
		t.Errorf("a refused Reload changed the users: %v", err)
	}

	// A good one replaces everything.
	good := baseConfig()
	good.Realms[0].Roles[1].Permissions = []Permission{{URI: "devices.{authid}.status", Match: topic.MatchExact, Allow: []Action{ActionPublish}}}
	good.Realms[0].AnonymousRole = ""
	good.Realms[1].AnonymousRole = "user"
	good.Users = good.Users[:1]
	good.Users[0].Password = cheapHash("new-pw")
	if err := a.Reload(good); err != nil {
		t.Fatalf("Reload(good): %v", err)
	}
	if a.Allowed(alice, ActionPublish, "devices.alice.t", topic.MatchExact) || !a.Allowed(alice, ActionPublish, "devices.alice.status", topic.MatchExact) {
		t.Error("Reload did not replace the rules")
	}
	if _, err := a.Password("realm1", "alice", "alice-pw"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("old password after Reload: %v", err)
	}
	if _, err := a.Password("realm1", "alice", "new-pw"); err != nil {
		t.Errorf("new password after Reload: %v", err)
	}
	if _, err := a.Password("realm2", "carol", "carol-pw"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("removed user after Reload: %v", err)
	}
	if _, err := a.Anonymous("realm1"); !errors.Is(err, ErrAnonymousOff) {
		t.Errorf("Anonymous(realm1) after Reload: %v", err)
	}
	if _, err := a.Anonymous("realm2"); err != nil {
		t.Errorf("Anonymous(realm2) after Reload: %v", err)
	}
	// An anonymous identity issued before follows its realm's new setting.
	anon := Identity{AuthID: "a1", Role: "guest", Realm: "realm1", Method: "anonymous"}
	if a.Allowed(anon, ActionSubscribe, "public.x", topic.MatchExact) {
		t.Error("an anonymous identity keeps its rights after anonymous access was turned off")
	}
}

// TestConcurrentUse runs every entry point against Reload; run with -race.
func TestConcurrentUse(t *testing.T) {
	cfgs := [2]Config{baseConfig(), baseConfig()}
	cfgs[1].Realms[0].Roles[1].Permissions[0].URI = "devices.{authid}.x."
	a, err := New(cfgs[0])
	if err != nil {
		t.Fatal(err)
	}
	id := Identity{AuthID: "alice", Role: "user", Realm: "realm1"}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				remote := fmt.Sprintf("10.0.%d.%d:1234", g, i%7)
				a.Allowed(id, ActionPublish, "devices.alice.x.y", topic.MatchExact)
				a.Allowed(id, ActionSubscribe, "devices.alice..y", topic.MatchWildcard)
				a.Discloses(id, ActionRegister, "svc.echo")
				a.HasRealm("realm2")
				if _, err := a.Anonymous("realm1"); err != nil {
					t.Error(err)
					return
				}
				a.Throttled(remote)
				a.LoginFailed(remote)
				if i%5 == 0 {
					a.LoginSucceeded(remote)
				}
				if _, err := a.Certificate("realm1", "alice"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 50; i++ {
			if err := a.Reload(cfgs[i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	wg.Wait()
}

func TestMethodsOfIdentities(t *testing.T) {
	// The WAMP adapter maps these to authmethod; keep them stable.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key, err := NewCRAKey("s", 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	cfg := baseConfig()
	cfg.Users[1].CRA = &key
	cfg.Users[1].CryptosignKeys = []string{hex.EncodeToString(pub)}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, _, id, err := a.CRA("realm1", "bob")
	if err != nil || id.Method != "wampcra" {
		t.Errorf("CRA identity %+v, %v", id, err)
	}
	_, id, err = a.CryptosignKeys("realm1", "bob")
	if err != nil || id.Method != "cryptosign" {
		t.Errorf("cryptosign identity %+v, %v", id, err)
	}
}
