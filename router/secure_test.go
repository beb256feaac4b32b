package router

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/junctionmq/junction/auth"
)

// secureFixture is a router configured with every authentication method and
// a few roles, and the credentials its clients use. Passwords and secrets are
// made here; only hashes and public keys go into the config.
type secureFixture struct {
	r   *Router
	dir string

	// Users of realm1 (password = the authid + "-pw"):
	//   sensor-1 (device): also WAMP-CRA secret craSecret and cryptosign key signKey
	//   alice (browser), backend (service);
	//   sensor-2 (device): TLS client certificate only.
	// Realm locked: ops (service); no anonymous access.
	craSecret string
	signKey   ed25519.PrivateKey
	otherKey  ed25519.PrivateKey // not configured anywhere

	jwtKey     *ecdsa.PrivateKey // ES256, trusted
	jwtRogue   *ecdsa.PrivateKey // ES256, not trusted
	hmacSecret []byte            // HS256, trusted

	serverTLS  TLSConfig // the listeners' TLS, for tests that turn it on (withTLS)
	caPool     *x509.CertPool
	clientCert tls.Certificate // CN sensor-2, signed by the CA
	caFile     string
}

// permissions of the fixture's roles. realm1 lets anonymous clients only
// read public.*.
var fixtureRoles = []RoleConfig{
	{Name: "guest", Permissions: []PermissionConfig{
		{URI: "public.", Match: "prefix", Allow: []string{"subscribe"}},
		{URI: "public.guestbook", Match: "exact", Allow: []string{"publish"}},
	}},
	{Name: "device", Permissions: []PermissionConfig{
		{URI: "devices.{authid}.", Match: "prefix", Allow: []string{"publish", "subscribe"}},
		{URI: "public.", Match: "prefix", Allow: []string{"subscribe"}},
		{URI: "com.acme.device.{authid}.", Match: "prefix", Allow: []string{"register"}},
	}},
	{Name: "browser", Permissions: []PermissionConfig{
		{URI: "devices.", Match: "prefix", Allow: []string{"subscribe"}},
		{URI: "public.", Match: "prefix", Allow: []string{"publish", "subscribe"}},
		{URI: "devices..cmd", Match: "wildcard", Allow: []string{"publish"}},
		{URI: "com.acme.", Match: "prefix", Allow: []string{"call"}},
	}},
	{Name: "service", Permissions: []PermissionConfig{
		{URI: "", Match: "prefix", Allow: []string{"publish", "subscribe", "call", "register"}, Disclose: true},
	}},
}

func newSecureFixture(t testing.TB, mutate func(*Config, *secureFixture)) *secureFixture {
	t.Helper()
	f := &secureFixture{dir: t.TempDir(), craSecret: "cra-secret-of-sensor-1"}
	var err error
	_, f.signKey, _ = ed25519.GenerateKey(rand.Reader)
	_, f.otherKey, _ = ed25519.GenerateKey(rand.Reader)
	f.jwtKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.jwtRogue, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.hmacSecret = []byte("0123456789abcdef0123456789abcdef-hs256")

	pubDER, err := x509.MarshalPKIXPublicKey(&f.jwtKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	jwtPub := f.write(t, "jwt-es256.pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	hmacFile := f.write(t, "jwt-hs256.secret", f.hmacSecret)
	certFile, keyFile := f.makePKI(t)

	// sensor-1's password is an argon2id hash, in the form `junction
	// passwd` makes but with the smallest parameters the configuration
	// accepts (a login verifies with the hash's own parameters; at
	// passwd's, 64 MiB and 3 passes, each login took seconds under -race on
	// a loaded machine, past the clients' connect timeouts). The others are
	// bcrypt at its lowest cost.
	argon := func(pw string) string {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		key := argon2.IDKey([]byte(pw), salt, 1, 8, 1, 32)
		return fmt.Sprintf("$argon2id$v=19$m=8,t=1,p=1$%s$%s",
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	}
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	cra, err := auth.NewCRAKey(f.craSecret, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	f.r = startRouter(t, func(c *Config) {
		c.Realms = []RealmConfig{
			{Name: "realm1", Anonymous: true, AnonymousRole: "guest", Roles: fixtureRoles},
			{Name: "locked", Roles: fixtureRoles},
		}
		c.Auth.Users = []UserConfig{
			{AuthID: "sensor-1", Realm: "realm1", Role: "device", Password: argon("sensor-1-pw"),
				CRA:            &CRAConfig{Key: cra.Key, Salt: cra.Salt, Iterations: cra.Iterations, KeyLen: cra.KeyLen},
				CryptosignKeys: []string{hex.EncodeToString(f.signKey.Public().(ed25519.PublicKey))}},
			{AuthID: "alice", Realm: "realm1", Role: "browser", Password: hash("alice-pw")},
			{AuthID: "backend", Realm: "realm1", Role: "service", Password: hash("backend-pw")},
			{AuthID: "sensor-2", Realm: "realm1", Role: "device"},
			{AuthID: "ops", Realm: "locked", Role: "service", Password: hash("ops-pw")},
		}
		c.Auth.JWT = JWTConfig{
			KeyFiles: []string{jwtPub}, HMACSecretFiles: []string{hmacFile},
			Issuer: "junction-test", Audience: "junction", Leeway: Duration(5 * time.Second),
			AuthIDClaim: "sub", RoleClaim: "role", RealmClaim: "realm", Cookie: "junction_token",
		}
		// High enough that tests of refusals do not block loopback; the
		// throttle test sets its own.
		c.Auth.Throttle = ThrottleConfig{MaxFailures: 1000, Window: Duration(time.Minute), Block: Duration(time.Minute)}
		f.serverTLS = TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: f.caFile, ClientCerts: "optional", CertAuthID: "cn"}
		if mutate != nil {
			mutate(c, f)
		}
	})
	return f
}

// withTLS turns TLS with client certificates on for both listeners.
func withTLS(c *Config, f *secureFixture) {
	c.HTTP.TLS = f.serverTLS
	c.MQTT.TLS = f.serverTLS
}

func (f *secureFixture) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// makePKI makes a CA, a server certificate for 127.0.0.1 and a client
// certificate for sensor-2, and returns the server's cert and key files.
func (f *secureFixture) makePKI(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "junction test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	f.caPool = x509.NewCertPool()
	f.caPool.AddCert(ca)
	f.caFile = f.write(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))

	issue := func(serial int64, cn string, server bool) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature,
		}
		if server {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		} else {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	keyPEM := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: b})
	}
	srvDER, srvKey := issue(2, "127.0.0.1", true)
	certFile = f.write(t, "server.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}))
	keyFile = f.write(t, "server-key.pem", keyPEM(srvKey))
	cliDER, cliKey := issue(3, "sensor-2", false)
	cliCertPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cliDER})
	cliKeyPEM := keyPEM(cliKey)
	f.write(t, "sensor-2.pem", cliCertPEM)
	f.write(t, "sensor-2-key.pem", cliKeyPEM)
	var err2 error
	f.clientCert, err2 = tls.X509KeyPair(cliCertPEM, cliKeyPEM)
	if err2 != nil {
		t.Fatal(err2)
	}
	return certFile, keyFile
}

// tlsConfig is a client TLS config trusting the fixture's CA, with the
// sensor-2 certificate when withCert.
func (f *secureFixture) tlsConfig(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: f.caPool, MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{f.clientCert}
	}
	return c
}

// token mints a JWT with the trusted ES256 key. Claims default to a valid
// token for sub, role and realm.
func (f *secureFixture) token(t testing.TB, sub, role, realm string, mutate func(jwt.MapClaims)) string {
	t.Helper()
	return signToken(t, jwt.SigningMethodES256, f.jwtKey, sub, role, realm, mutate)
}

// signToken mints a JWT for sub, role and realm, valid for an hour, with
// the claims the fixture requires (iss, aud), signed by key with method:
// the fixture's trusted keys, or a key it does not trust.
func signToken(t testing.TB, method jwt.SigningMethod, key any, sub, role, realm string, mutate func(jwt.MapClaims)) string {
	t.Helper()
	claims := jwt.MapClaims{
		"sub": sub, "role": role, "realm": realm, "iss": "junction-test", "aud": "junction",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	if mutate != nil {
		mutate(claims)
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func authHash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	return string(h), err
}
