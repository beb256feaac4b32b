package auth

import (
	"bytes"
	"cmp"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms a JWTVerifier accepts, one per key type.
const (
	algRS256 = "RS256" // RSA, PKCS #1 v1.5, SHA-256
	algES256 = "ES256" // ECDSA P-256, SHA-256
	algEdDSA = "EdDSA" // Ed25519
	algHS256 = "HS256" // HMAC-SHA-256
)

// Limits on keys and tokens.
const (
	jwtMinHMACSecret = 32       // bytes: HS256's output size (RFC 7518 §3.2)
	jwtMinRSABits    = 2048     // RFC 7518 §3.3
	jwtMaxRSABits    = 16384    // beyond this, verification becomes a denial of service
	jwtMaxKeyFile    = 1 << 20  // bytes read from a key, secret or JWKS file
	jwtMaxTokenLen   = 16 << 10 // bytes; longer tokens are refused unparsed
)

// JWTVerifier verifies JSON Web Tokens against the keys of a JWTConfig. It
// is immutable once built and safe for concurrent use.
type JWTVerifier struct {
	keys       []jwtKey
	algs       []string // the algorithms of keys, each once: what a token's alg may be
	issuer     string
	audience   string
	leeway     time.Duration
	authIDName string
	roleName   string
	realmName  string
}

// jwtKey is one verification key, pinned to one algorithm.
type jwtKey struct {
	alg string
	kid string // only for JWKS keys that have one
	key any    // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
}

// JWTClaims are what Verify extracts from a valid token.
type JWTClaims struct {
	AuthID, Role, Realm string
	Expires             time.Time
}

// NewJWTVerifier loads the keys of cfg: PEM public keys or certificates
// (RSA → RS256, ECDSA P-256 → ES256, Ed25519 → EdDSA), HMAC secret files
// (HS256; the content minus trailing CR/LF, at least 32 bytes) and a JSON Web
// Key Set file (kty RSA, EC with crv P-256, OKP with crv Ed25519, oct; keys
// with "use":"enc" are skipped). At least one key is required. Errors wrap
// ErrInvalidConfig and name the file.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	v := &JWTVerifier{
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		leeway:     cfg.Leeway,
		authIDName: cmp.Or(cfg.AuthIDClaim, "sub"),
		roleName:   cmp.Or(cfg.RoleClaim, "role"),
		realmName:  cmp.Or(cfg.RealmClaim, "realm"),
	}
	if cfg.Leeway < 0 {
		return nil, fmt.Errorf("%w: jwt: negative leeway %v", ErrInvalidConfig, cfg.Leeway)
	}
	for _, file := range cfg.KeyFiles {
		keys, err := jwtLoadPEM(file)
		if err != nil {
			return nil, fmt.Errorf("%w: jwt key file %q: %w", ErrInvalidConfig, file, err)
		}
		v.keys = append(v.keys, keys...)
	}
	for _, file := range cfg.HMACSecretFiles {
		secret, err := jwtLoadHMACSecret(file)
		if err != nil {
			return nil, fmt.Errorf("%w: jwt HMAC secret file %q: %w", ErrInvalidConfig, file, err)
		}
		v.keys = append(v.keys, jwtKey{alg: algHS256, key: secret})
	}
	if cfg.JWKSFile != "" {
		keys, err := jwtLoadJWKS(cfg.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("%w: jwt JWKS file %q: %w", ErrInvalidConfig, cfg.JWKSFile, err)
		}
		v.keys = append(v.keys, keys...)
	}
	if len(v.keys) == 0 {
		return nil, fmt.Errorf("%w: jwt: no keys: give key files, HMAC secret files or a JWKS file", ErrInvalidConfig)
	}
	for _, k := range v.keys {
		if !slices.Contains(v.algs, k.alg) {
			v.algs = append(v.algs, k.alg)
		}
	}
	return v, nil
}

// Verify checks a token: its signature by a configured key; its alg, which
// must be that of a configured key ("none" never is, and an HMAC alg is never
// tried against an asymmetric key); exp, required; nbf if present; iss and
// aud when configured; Leeway applies to exp and nbf. It returns the claims
// named by AuthIDClaim (a non-empty string, required), RoleClaim and
// RealmClaim (strings, optional). A token whose header has a kid matching a
// JWKS key is tried against that key only; otherwise against every key of
// its alg that has no kid, or, if the token has no kid, every key of its alg.
// Every failure wraps ErrBadCredentials (and the jwt library's error when
// there is one) with a reason for logs; the token is never included.
func (v *JWTVerifier) Verify(token string) (JWTClaims, error) {
	if v == nil {
		return JWTClaims{}, fmt.Errorf("%w: jwt: tokens are not accepted", ErrBadCredentials)
	}
	if len(token) > jwtMaxTokenLen {
		return JWTClaims{}, fmt.Errorf("%w: jwt: token of %d bytes is longer than the maximum %d", ErrBadCredentials, len(token), jwtMaxTokenLen)
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(v.leeway),
		jwt.WithStrictDecoding(),
	}
	if v.issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.issuer))
	}
	if v.audience != "" {
		opts = append(opts, jwt.WithAudience(v.audience))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.NewParser(opts...).ParseWithClaims(token, claims, v.keyFunc); err != nil {
		return JWTClaims{}, fmt.Errorf("%w: jwt: %w", ErrBadCredentials, err)
	}
	var out JWTClaims
	var err error
	if out.AuthID, err = jwtStringClaim(claims, v.authIDName); err != nil {
		return JWTClaims{}, err
	}
	if out.AuthID == "" {
		return JWTClaims{}, fmt.Errorf("%w: jwt: missing or empty %q claim", ErrBadCredentials, v.authIDName)
	}
	if out.Role, err = jwtStringClaim(claims, v.roleName); err != nil {
		return JWTClaims{}, err
	}
	if out.Realm, err = jwtStringClaim(claims, v.realmName); err != nil {
		return JWTClaims{}, err
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil { // cannot happen after WithExpirationRequired
		return JWTClaims{}, fmt.Errorf("%w: jwt: missing exp claim", ErrBadCredentials)
	}
	out.Expires = exp.Time
	return out, nil
}

// keyFunc picks the keys a token may be verified with. The parser has already
// refused an alg outside v.algs, so there is at least one key of the alg.
func (v *JWTVerifier) keyFunc(t *jwt.Token) (any, error) {
	if _, ok := t.Header["crit"]; ok {
		// RFC 7515 §4.1.11: unknown critical extensions must be refused, and
		// none are known here.
		return nil, errors.New("token has critical header extensions (crit), none of which are supported")
	}
	alg := t.Method.Alg()
	var kid string
	if raw, ok := t.Header["kid"]; ok {
		s, ok := raw.(string)
		if !ok {
			return nil, errors.New("kid header is not a string")
		}
		kid = s
	}
	var byKid, noKid, all []jwt.VerificationKey
	for _, k := range v.keys {
		if k.alg != alg {
			continue
		}
		all = append(all, k.key)
		switch {
		case k.kid == "":
			noKid = append(noKid, k.key)
		case k.kid == kid:
			byKid = append(byKid, k.key)
		}
	}
	var keys []jwt.VerificationKey
	switch {
	case kid == "":
		keys = all
	case len(byKid) > 0:
		keys = byKid
	default:
		keys = noKid
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("no configured %s key with kid %q", alg, kid)
	}
	return jwt.VerificationKeySet{Keys: keys}, nil
}

// jwtStringClaim returns claim name, "" if absent; a present claim that is not
// a string is an error wrapping ErrBadCredentials.
func jwtStringClaim(claims jwt.MapClaims, name string) (string, error) {
	raw, ok := claims[name]
	if !ok || raw == nil {
		return "", nil
	}
	s, ok := raw.(string)
	if !ok {
		return "", fmt.Errorf("%w: jwt: claim %q is a %T, not a string", ErrBadCredentials, name, raw)
	}
	return s, nil
}

// jwtLoadHMACSecret reads an HS256 secret file: its content minus trailing CR
// and LF characters, which must be at least 32 bytes and must not be a PEM
// block (a public key used as an HMAC secret is the alg confusion attack).
func jwtLoadHMACSecret(file string) ([]byte, error) {
	data, err := jwtReadFile(file)
	if err != nil {
		return nil, err
	}
	secret := bytes.TrimRight(data, "\r\n")
	if len(secret) < jwtMinHMACSecret {
		return nil, fmt.Errorf("HMAC secret of %d bytes is shorter than the minimum %d", len(secret), jwtMinHMACSecret)
	}
	if bytes.Contains(secret, []byte("-----BEGIN ")) {
		return nil, errors.New("HMAC secret is a PEM block; HS256 needs a random secret, not a key or certificate")
	}
	return secret, nil
}

func jwtReadFile(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(f, jwtMaxKeyFile+1)); err != nil {
		return nil, err
	}
	if buf.Len() > jwtMaxKeyFile {
		return nil, fmt.Errorf("larger than %d bytes", jwtMaxKeyFile)
	}
	return buf.Bytes(), nil
}

// jwtLoadPEM reads every PEM block of a file: PUBLIC KEY (PKIX), RSA
// PUBLIC KEY (PKCS #1) or CERTIFICATE. Private keys are refused: the router
// needs only the public half.
func jwtLoadPEM(file string) ([]jwtKey, error) {
	data, err := jwtReadFile(file)
	if err != nil {
		return nil, err
	}
	var keys []jwtKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
		case "CERTIFICATE":
			var cert *x509.Certificate
			if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = cert.PublicKey
			}
		default:
			if strings.Contains(block.Type, "PRIVATE KEY") {
				return nil, fmt.Errorf("PEM block %d is a private key (%s): give the public key only", n, block.Type)
			}
			return nil, fmt.Errorf("PEM block %d: unsupported type %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", n, block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		k, err := jwtPublicKey(pub)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block found")
	}
	return keys, nil
}

// jwtPublicKey pins a public key to its algorithm, checking it is usable.
func jwtPublicKey(pub any) (jwtKey, error) {
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if err := jwtCheckRSA(pub); err != nil {
			return jwtKey{}, err
		}
		return jwtKey{alg: algRS256, key: pub}, nil
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return jwtKey{}, fmt.Errorf("ECDSA curve %s is not supported: want P-256 (ES256)", pub.Curve.Params().Name)
		}
		return jwtKey{alg: algES256, key: pub}, nil
	case ed25519.PublicKey:
		return jwtKey{alg: algEdDSA, key: pub}, nil
	default:
		return jwtKey{}, fmt.Errorf("unsupported public key type %T: want RSA, ECDSA P-256 or Ed25519", pub)
	}
}

func jwtCheckRSA(pub *rsa.PublicKey) error {
	bits := pub.N.BitLen()
	if bits < jwtMinRSABits || bits > jwtMaxRSABits {
		return fmt.Errorf("RSA key of %d bits: want %d to %d", bits, jwtMinRSABits, jwtMaxRSABits)
	}
	if pub.E < 3 || pub.E%2 == 0 {
		return fmt.Errorf("RSA public exponent %d is invalid", pub.E)
	}
	return nil
}

// jwkKey is the subset of RFC 7517/7518/8037 fields a verification key uses.
type jwkKey struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
	K   string `json:"k"`
	D   string `json:"d"`
}

// jwtLoadJWKS reads a JSON Web Key Set: {"keys":[…]}. Keys with "use":"enc" are
// skipped; every other key must be usable, and kids must be unique.
func jwtLoadJWKS(file string) ([]jwtKey, error) {
	data, err := jwtReadFile(file)
	if err != nil {
		return nil, err
	}
	var set struct {
		Keys []jwkKey `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("not a JSON Web Key Set: %w", err)
	}
	var keys []jwtKey
	kids := map[string]bool{}
	for i, j := range set.Keys {
		if j.Use == "enc" {
			continue
		}
		name := fmt.Sprintf("key %d", i)
		if j.Kid != "" {
			name = fmt.Sprintf("key %d (kid %q)", i, j.Kid)
			if kids[j.Kid] {
				return nil, fmt.Errorf("%s: duplicate kid", name)
			}
			kids[j.Kid] = true
		}
		if j.Use != "" && j.Use != "sig" {
			return nil, fmt.Errorf("%s: unsupported use %q", name, j.Use)
		}
		k, err := jwtParseJWK(j)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		k.kid = j.Kid
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("no signature keys in the key set")
	}
	return keys, nil
}

func jwtParseJWK(j jwkKey) (jwtKey, error) {
	if j.D != "" {
		return jwtKey{}, errors.New("holds private key material (d): give the public key only")
	}
	var k jwtKey
	var want []string // acceptable values of the JWK's own alg, if it has one
	switch j.Kty {
	case "RSA":
		n, err := jwkDecode("n", j.N)
		if err != nil {
			return k, err
		}
		e, err := jwkDecode("e", j.E)
		if err != nil {
			return k, err
		}
		if len(e) == 0 || len(e) > 4 {
			return k, errors.New("RSA exponent e of invalid length")
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if err := jwtCheckRSA(pub); err != nil {
			return k, err
		}
		k, want = jwtKey{alg: algRS256, key: pub}, []string{algRS256}
	case "EC":
		if j.Crv != "P-256" {
			return k, fmt.Errorf("EC curve %q is not supported: want P-256 (ES256)", j.Crv)
		}
		x, err := jwkDecode("x", j.X)
		if err != nil {
			return k, err
		}
		y, err := jwkDecode("y", j.Y)
		if err != nil {
			return k, err
		}
		if len(x) != 32 || len(y) != 32 {
			return k, errors.New("P-256 coordinates x and y must be 32 bytes each")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, fmt.Errorf("invalid P-256 point: %w", err)
		}
		k, want = jwtKey{alg: algES256, key: pub}, []string{algES256}
	case "OKP":
		if j.Crv != "Ed25519" {
			return k, fmt.Errorf("OKP curve %q is not supported: want Ed25519 (EdDSA)", j.Crv)
		}
		x, err := jwkDecode("x", j.X)
		if err != nil {
			return k, err
		}
		if len(x) != ed25519.PublicKeySize {
			return k, fmt.Errorf("Ed25519 key x must be %d bytes", ed25519.PublicKeySize)
		}
		k, want = jwtKey{alg: algEdDSA, key: ed25519.PublicKey(x)}, []string{algEdDSA, "Ed25519"}
	case "oct":
		secret, err := jwkDecode("k", j.K)
		if err != nil {
			return k, err
		}
		if len(secret) < jwtMinHMACSecret {
			return k, fmt.Errorf("symmetric key of %d bytes is shorter than the minimum %d", len(secret), jwtMinHMACSecret)
		}
		k, want = jwtKey{alg: algHS256, key: secret}, []string{algHS256}
	default:
		return k, fmt.Errorf("key type (kty) %q is not supported: want RSA, EC, OKP or oct", j.Kty)
	}
	if j.Alg != "" && !slices.Contains(want, j.Alg) {
		return k, fmt.Errorf("alg %q does not match key type %s: want %s", j.Alg, j.Kty, want[0])
	}
	return k, nil
}

// jwkDecode decodes a base64url JWK member, tolerating padding.
func jwkDecode(name, s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing %q", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("%q is not base64url", name)
	}
	return b, nil
}
