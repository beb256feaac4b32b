package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtTestKeys are generated once per test binary: RSA generation is slow
// under the race detector.
type jwtTestKeys struct {
	rsa, rsa2     *rsa.PrivateKey
	ec, ec2       *ecdsa.PrivateKey
	ed, ed2       ed25519.PrivateKey
	hmac, hmac2   []byte
	jwksEC        *ecdsa.PrivateKey // kid "ec-1" in the JWKS
	jwksRSA       *rsa.PrivateKey   // kid "rsa-2" in the JWKS
	rsaPEM, ecPEM []byte            // PUBLIC KEY blocks
}

var jwtTestKeysOnce = sync.OnceValues(func() (*jwtTestKeys, error) {
	k := &jwtTestKeys{}
	var err error
	for _, p := range []**rsa.PrivateKey{&k.rsa, &k.rsa2, &k.jwksRSA} {
		if *p, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, err
		}
	}
	for _, p := range []**ecdsa.PrivateKey{&k.ec, &k.ec2, &k.jwksEC} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	for _, p := range []*ed25519.PrivateKey{&k.ed, &k.ed2} {
		if _, *p, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, err
		}
	}
	k.hmac = []byte(strings.Repeat("s", 40))
	k.hmac2 = []byte(strings.Repeat("t", 40))
	if k.rsaPEM, err = jwtTestPublicPEM(&k.rsa.PublicKey); err != nil {
		return nil, err
	}
	if k.ecPEM, err = jwtTestPublicPEM(&k.ec.PublicKey); err != nil {
		return nil, err
	}
	return k, nil
})

func jwtTestKeysFor(t *testing.T) *jwtTestKeys {
	t.Helper()
	k, err := jwtTestKeysOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func jwtTestPublicPEM(pub any) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// jwtTestSelfSignedPEM is a CERTIFICATE block for priv's public key.
func jwtTestSelfSignedPEM(t *testing.T, priv ed25519.PrivateKey) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "issuer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func jwtTestWriteFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func jwtTestB64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func jwtTestRSAJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
		"n": jwtTestB64u(pub.N.Bytes()), "e": jwtTestB64u(big.NewInt(int64(pub.E)).Bytes())}
}

func jwtTestECJWK(t *testing.T, kid string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	b, err := pub.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "crv": "P-256", "x": jwtTestB64u(b[1:33]), "y": jwtTestB64u(b[33:])}
}

func jwtTestJWKS(t *testing.T, keys ...map[string]any) []byte {
	t.Helper()
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jwtTestSign mints a token; kid, if not empty, goes in the header.
func jwtTestSign(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// jwtTestUnsigned crafts a token by hand with the given header and no signature.
func jwtTestUnsigned(t *testing.T, header string, claims jwt.MapClaims) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return jwtTestB64u([]byte(header)) + "." + jwtTestB64u(payload) + "."
}

const (
	jwtTestIssuer   = "https://issuer.example"
	jwtTestAudience = "junction"
)

// jwtTestVerifierConfig writes every kind of key to a temporary directory.
func jwtTestVerifierConfig(t *testing.T) JWTConfig {
	t.Helper()
	k := jwtTestKeysFor(t)
	dir := t.TempDir()
	return JWTConfig{
		KeyFiles: []string{
			jwtTestWriteFile(t, dir, "rsa.pem", k.rsaPEM),
			jwtTestWriteFile(t, dir, "ec.pem", k.ecPEM),
			jwtTestWriteFile(t, dir, "ed.crt", jwtTestSelfSignedPEM(t, k.ed)),
		},
		HMACSecretFiles: []string{jwtTestWriteFile(t, dir, "hmac.secret", append(append([]byte{}, k.hmac...), "\n"...))},
		JWKSFile: jwtTestWriteFile(t, dir, "jwks.json", jwtTestJWKS(t,
			jwtTestECJWK(t, "ec-1", &k.jwksEC.PublicKey),
			jwtTestRSAJWK("rsa-2", &k.jwksRSA.PublicKey))),
		Issuer:   jwtTestIssuer,
		Audience: jwtTestAudience,
		Leeway:   30 * time.Second,
	}
}

func TestJWTVerify(t *testing.T) {
	t.Parallel()
	k := jwtTestKeysFor(t)
	v, err := NewJWTVerifier(jwtTestVerifierConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	exp := now.Add(time.Hour).Unix()
	// claims returns valid claims with the changes applied; a nil value
	// deletes the claim.
	claims := func(changes jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "alice", "role": "admin", "realm": "realm1",
			"iss": jwtTestIssuer, "aud": jwtTestAudience, "exp": exp, "iat": now.Unix()}
		for name, val := range changes {
			if val == nil {
				delete(c, name)
			} else {
				c[name] = val
			}
		}
		return c
	}
	rsaPubPEM := k.rsaPEM
	want := JWTClaims{AuthID: "alice", Role: "admin", Realm: "realm1", Expires: time.Unix(exp, 0)}

	tests := []struct {
		name   string
		token  string
		want   *JWTClaims // nil: refused
		wantIs error      // for refusals, the jwt library's error, if a specific one
	}{
		{name: "RS256", token: jwtTestSign(t, jwt.SigningMethodRS256, k.rsa, "", claims(nil)), want: &want},
		{name: "ES256", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)), want: &want},
		{name: "EdDSA from certificate", token: jwtTestSign(t, jwt.SigningMethodEdDSA, k.ed, "", claims(nil)), want: &want},
		{name: "HS256", token: jwtTestSign(t, jwt.SigningMethodHS256, k.hmac, "", claims(nil)), want: &want},
		{name: "JWKS ES256 kid ec-1", token: jwtTestSign(t, jwt.SigningMethodES256, k.jwksEC, "ec-1", claims(nil)), want: &want},
		{name: "JWKS RS256 kid rsa-2", token: jwtTestSign(t, jwt.SigningMethodRS256, k.jwksRSA, "rsa-2", claims(nil)), want: &want},
		{name: "JWKS key without kid in the token", token: jwtTestSign(t, jwt.SigningMethodES256, k.jwksEC, "", claims(nil)), want: &want},
		{name: "PEM key, token with unknown kid", token: jwtTestSign(t, jwt.SigningMethodRS256, k.rsa, "other", claims(nil)), want: &want},
		{
			name:  "role and realm optional",
			token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"role": nil, "realm": nil})),
			want:  &JWTClaims{AuthID: "alice", Expires: time.Unix(exp, 0)},
		},
		{name: "aud array", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"aud": []string{"other", jwtTestAudience}})), want: &want},
		{
			name:  "expired within leeway",
			token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"exp": now.Add(-5 * time.Second).Unix()})),
			want:  &JWTClaims{AuthID: "alice", Role: "admin", Realm: "realm1", Expires: time.Unix(now.Add(-5*time.Second).Unix(), 0)},
		},
		{name: "nbf past", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"nbf": now.Add(-time.Minute).Unix()})), want: &want},
		{name: "nbf within leeway", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"nbf": now.Add(5 * time.Second).Unix()})), want: &want},

		{name: "expired", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"exp": now.Add(-time.Hour).Unix()})), wantIs: jwt.ErrTokenExpired},
		{name: "nbf in the future", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"nbf": now.Add(time.Hour).Unix()})), wantIs: jwt.ErrTokenNotValidYet},
		{name: "wrong audience", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"aud": "other"})), wantIs: jwt.ErrTokenInvalidAudience},
		{name: "missing audience", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"aud": nil})), wantIs: jwt.ErrTokenRequiredClaimMissing},
		{name: "wrong issuer", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"iss": "https://evil.example"})), wantIs: jwt.ErrTokenInvalidIssuer},
		{name: "missing issuer", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"iss": nil})), wantIs: jwt.ErrTokenRequiredClaimMissing},
		{name: "missing exp", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"exp": nil})), wantIs: jwt.ErrTokenRequiredClaimMissing},
		{name: "exp not a number", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"exp": "tomorrow"})), wantIs: jwt.ErrTokenInvalidClaims},
		{name: "missing sub", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"sub": nil}))},
		{name: "empty sub", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"sub": ""}))},
		{name: "sub not a string", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"sub": 42}))},
		{name: "role not a string", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"role": []string{"admin"}}))},
		{name: "realm not a string", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"realm": true}))},

		{name: "wrong RSA key", token: jwtTestSign(t, jwt.SigningMethodRS256, k.rsa2, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "wrong ECDSA key", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec2, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "wrong Ed25519 key", token: jwtTestSign(t, jwt.SigningMethodEdDSA, k.ed2, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "wrong HMAC secret", token: jwtTestSign(t, jwt.SigningMethodHS256, k.hmac2, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "HMAC secret with the newline", token: jwtTestSign(t, jwt.SigningMethodHS256, append(append([]byte{}, k.hmac...), '\n'), "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "kid selects the JWKS key", token: jwtTestSign(t, jwt.SigningMethodRS256, k.jwksRSA, "ec-1", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "JWKS kid, other key", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "ec-1", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "tampered payload", token: func() string {
			parts := strings.Split(jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)), ".")
			parts[1] = strings.Split(jwtTestSign(t, jwt.SigningMethodES256, k.ec2, "", claims(jwt.MapClaims{"sub": "root"})), ".")[1]
			return strings.Join(parts, ".")
		}(), wantIs: jwt.ErrTokenSignatureInvalid},

		{name: "alg none", token: jwtTestUnsigned(t, `{"alg":"none","typ":"JWT"}`, claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "alg None", token: jwtTestUnsigned(t, `{"alg":"None","typ":"JWT"}`, claims(nil))},
		{name: "alg none with a signature", token: jwtTestUnsigned(t, `{"alg":"none","typ":"JWT"}`, claims(nil)) + "c2ln"},
		{name: "HS256 with the RSA public key as secret (alg confusion)", token: jwtTestSign(t, jwt.SigningMethodHS256, rsaPubPEM, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "HS256 with the RSA public key, trimmed", token: jwtTestSign(t, jwt.SigningMethodHS256, []byte(strings.TrimSpace(string(rsaPubPEM))), "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "RS384 with a configured RSA key", token: jwtTestSign(t, jwt.SigningMethodRS384, k.rsa, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "PS256 with a configured RSA key", token: jwtTestSign(t, jwt.SigningMethodPS256, k.rsa, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "HS512 with the HMAC secret", token: jwtTestSign(t, jwt.SigningMethodHS512, k.hmac, "", claims(nil)), wantIs: jwt.ErrTokenSignatureInvalid},
		{name: "kid not a string", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil))
			tok.Header["kid"] = 1
			s, err := tok.SignedString(k.ec)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), wantIs: jwt.ErrTokenUnverifiable},
		{name: "crit header", token: func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims(nil))
			tok.Header["crit"] = []string{"exp"}
			s, err := tok.SignedString(k.ec)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}(), wantIs: jwt.ErrTokenUnverifiable},

		{name: "garbage", token: "garbage", wantIs: jwt.ErrTokenMalformed},
		{name: "empty", token: "", wantIs: jwt.ErrTokenMalformed},
		{name: "three garbage segments", token: "not.a.token", wantIs: jwt.ErrTokenMalformed},
		{name: "four segments", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(nil)) + ".x", wantIs: jwt.ErrTokenMalformed},
		{name: "padded base64", token: func() string {
			parts := strings.Split(jwtTestSign(t, jwt.SigningMethodHS256, k.hmac, "", claims(nil)), ".")
			return parts[0] + "==." + parts[1] + "." + parts[2]
		}(), wantIs: jwt.ErrTokenMalformed},
		{name: "too long", token: jwtTestSign(t, jwt.SigningMethodES256, k.ec, "", claims(jwt.MapClaims{"pad": strings.Repeat("x", 20000)}))},
	}
	// Not parallel: the cases are quick, and the ones near exp and nbf are
	// signed against now (a parallel subtest can wait for a slot longer than
	// the leeway on a loaded machine).
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := v.Verify(tc.token)
			if tc.want != nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got != *tc.want {
					t.Errorf("Verify = %+v, want %+v", got, *tc.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token: %+v", got)
			}
			t.Logf("refused: %v", err)
			if !errors.Is(err, ErrBadCredentials) {
				t.Errorf("error %v does not wrap ErrBadCredentials", err)
			}
			if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tc.wantIs)
			}
			if got != (JWTClaims{}) {
				t.Errorf("Verify returned claims %+v with an error", got)
			}
			for _, part := range strings.Split(tc.token, ".") {
				if len(part) > 8 && strings.Contains(err.Error(), part) {
					t.Errorf("error %q includes part of the token", err)
				}
			}
		})
	}
}

// TestJWTVerifyConfusionAsymmetricOnly: with only asymmetric keys, HS256 is
// not even an acceptable alg.
func TestJWTVerifyConfusionAsymmetricOnly(t *testing.T) {
	t.Parallel()
	k := jwtTestKeysFor(t)
	dir := t.TempDir()
	file := jwtTestWriteFile(t, dir, "rsa.pem", k.rsaPEM)
	v, err := NewJWTVerifier(JWTConfig{KeyFiles: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{"sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()}
	if _, err := v.Verify(jwtTestSign(t, jwt.SigningMethodRS256, k.rsa, "", c)); err != nil {
		t.Fatalf("valid RS256 token refused: %v", err)
	}
	for _, secret := range [][]byte{k.rsaPEM, []byte(strings.TrimSpace(string(k.rsaPEM))), x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)} {
		_, err := v.Verify(jwtTestSign(t, jwt.SigningMethodHS256, secret, "", c))
		if !errors.Is(err, ErrBadCredentials) || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Errorf("HS256 token with the RSA public key as secret: %v, want refused", err)
		}
	}
}

func TestJWTVerifyClaimNames(t *testing.T) {
	t.Parallel()
	k := jwtTestKeysFor(t)
	dir := t.TempDir()
	cfg := JWTConfig{
		HMACSecretFiles: []string{jwtTestWriteFile(t, dir, "secret", k.hmac)},
		AuthIDClaim:     "email",
		RoleClaim:       "https://junction/role",
		RealmClaim:      "tenant",
	}
	v, err := NewJWTVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).Unix()
	got, err := v.Verify(jwtTestSign(t, jwt.SigningMethodHS256, k.hmac, "", jwt.MapClaims{
		"sub": "ignored", "role": "ignored", "realm": "ignored",
		"email": "bob@example.com", "https://junction/role": "user", "tenant": "acme", "exp": exp,
	}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (JWTClaims{AuthID: "bob@example.com", Role: "user", Realm: "acme", Expires: time.Unix(exp, 0)}); got != want {
		t.Errorf("Verify = %+v, want %+v", got, want)
	}
	// Neither iss nor aud is configured: neither is required.
	if _, err := v.Verify(jwtTestSign(t, jwt.SigningMethodHS256, k.hmac, "", jwt.MapClaims{"sub": "bob", "exp": exp})); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("token without the email claim: %v, want refused", err)
	}
}

// TestJWTVerifyJWKSKeyTypes loads every supported kty from a JWKS and checks
// that kid selects between two keys of the same type.
func TestJWTVerifyJWKSKeyTypes(t *testing.T) {
	t.Parallel()
	k := jwtTestKeysFor(t)
	dir := t.TempDir()
	edPub := k.ed.Public().(ed25519.PublicKey)
	file := jwtTestWriteFile(t, dir, "jwks.json", jwtTestJWKS(t,
		jwtTestECJWK(t, "a", &k.ec.PublicKey),
		jwtTestECJWK(t, "b", &k.ec2.PublicKey),
		jwtTestRSAJWK("r", &k.rsa.PublicKey),
		map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "e", "alg": "EdDSA", "x": jwtTestB64u(edPub)},
		map[string]any{"kty": "oct", "kid": "h", "k": jwtTestB64u(k.hmac)},
		map[string]any{"kty": "RSA", "use": "enc", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"}, // skipped
	))
	v, err := NewJWTVerifier(JWTConfig{JWKSFile: file})
	if err != nil {
		t.Fatal(err)
	}
	c := jwt.MapClaims{"sub": "carol", "exp": time.Now().Add(time.Hour).Unix()}
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
		ok     bool
	}{
		{"EC kid a", jwt.SigningMethodES256, k.ec, "a", true},
		{"EC kid b", jwt.SigningMethodES256, k.ec2, "b", true},
		{"EC no kid", jwt.SigningMethodES256, k.ec2, "", true},
		{"EC key b under kid a", jwt.SigningMethodES256, k.ec2, "a", false},
		{"EC key a under kid b", jwt.SigningMethodES256, k.ec, "b", false},
		{"EC unknown kid", jwt.SigningMethodES256, k.ec, "z", false},
		{"RSA", jwt.SigningMethodRS256, k.rsa, "r", true},
		{"Ed25519", jwt.SigningMethodEdDSA, k.ed, "e", true},
		{"oct", jwt.SigningMethodHS256, k.hmac, "h", true},
		{"oct under the RSA kid", jwt.SigningMethodHS256, k.hmac, "r", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(jwtTestSign(t, tc.method, tc.key, tc.kid, c))
			switch {
			case tc.ok && err != nil:
				t.Errorf("Verify: %v", err)
			case tc.ok && got.AuthID != "carol":
				t.Errorf("AuthID = %q", got.AuthID)
			case !tc.ok && !errors.Is(err, ErrBadCredentials):
				t.Errorf("Verify = %v, want refused", err)
			}
		})
	}
}

func TestNewJWTVerifierErrors(t *testing.T) {
	t.Parallel()
	k := jwtTestKeysFor(t)
	dir := t.TempDir()
	w := func(name string, data []byte) string { return jwtTestWriteFile(t, dir, name, data) }
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM, err := jwtTestPublicPEM(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024PEM, err := jwtTestPublicPEM(&rsa1024.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(k.ec)
	if err != nil {
		t.Fatal(err)
	}
	ecPoint := jwtTestECJWK(t, "x", &k.ec.PublicKey)
	offCurve := jwtTestECJWK(t, "x", &k.ec.PublicKey)
	offCurve["y"] = ecPoint["x"]
	withAlg := func(m map[string]any, alg string) map[string]any {
		c := map[string]any{}
		for k, v := range m {
			c[k] = v
		}
		c["alg"] = alg
		return c
	}

	tests := []struct {
		name string
		cfg  JWTConfig
		file string // the file the error must name
	}{
		{"no keys", JWTConfig{Issuer: "x"}, ""},
		{"missing key file", JWTConfig{KeyFiles: []string{filepath.Join(dir, "absent.pem")}}, "absent.pem"},
		{"not PEM", JWTConfig{KeyFiles: []string{w("notpem", []byte("hello"))}}, "notpem"},
		{"private key", JWTConfig{KeyFiles: []string{w("priv.pem", pemOf("PRIVATE KEY", pkcs8))}}, "priv.pem"},
		{"P-384", JWTConfig{KeyFiles: []string{w("p384.pem", p384PEM)}}, "p384.pem"},
		{"RSA 1024", JWTConfig{KeyFiles: []string{w("rsa1024.pem", rsa1024PEM)}}, "rsa1024.pem"},
		{"corrupt DER", JWTConfig{KeyFiles: []string{w("corrupt.pem", pemOf("PUBLIC KEY", []byte("nope")))}}, "corrupt.pem"},
		{"second block bad", JWTConfig{KeyFiles: []string{w("two.pem", append(append([]byte{}, k.ecPEM...), pemOf("PUBLIC KEY", []byte("x"))...))}}, "two.pem"},
		{"missing secret file", JWTConfig{HMACSecretFiles: []string{filepath.Join(dir, "absent.secret")}}, "absent.secret"},
		{"short secret", JWTConfig{HMACSecretFiles: []string{w("short.secret", []byte(strings.Repeat("s", 31)+"\n"))}}, "short.secret"},
		{"PEM as secret", JWTConfig{HMACSecretFiles: []string{w("pem.secret", k.rsaPEM)}}, "pem.secret"},
		{"huge secret file", JWTConfig{HMACSecretFiles: []string{w("huge.secret", make([]byte, 2<<20))}}, "huge.secret"},
		{"missing JWKS", JWTConfig{JWKSFile: filepath.Join(dir, "absent.json")}, "absent.json"},
		{"JWKS not JSON", JWTConfig{JWKSFile: w("bad.json", []byte("{"))}, "bad.json"},
		{"JWKS empty", JWTConfig{JWKSFile: w("empty.json", jwtTestJWKS(t))}, "empty.json"},
		{"JWKS only enc keys", JWTConfig{JWKSFile: w("enc.json", jwtTestJWKS(t, map[string]any{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}))}, "enc.json"},
		{"JWKS unknown kty", JWTConfig{JWKSFile: w("kty.json", jwtTestJWKS(t, map[string]any{"kty": "XYZ"}))}, "kty.json"},
		{"JWKS P-384", JWTConfig{JWKSFile: w("crv.json", jwtTestJWKS(t, map[string]any{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}))}, "crv.json"},
		{"JWKS point off the curve", JWTConfig{JWKSFile: w("curve.json", jwtTestJWKS(t, offCurve))}, "curve.json"},
		{"JWKS alg mismatch", JWTConfig{JWKSFile: w("alg.json", jwtTestJWKS(t, withAlg(ecPoint, "HS256")))}, "alg.json"},
		{"JWKS RSA alg PS256", JWTConfig{JWKSFile: w("ps.json", jwtTestJWKS(t, withAlg(jwtTestRSAJWK("r", &k.rsa.PublicKey), "PS256")))}, "ps.json"},
		{"JWKS private key", JWTConfig{JWKSFile: w("d.json", jwtTestJWKS(t, withAlg(map[string]any{"kty": "OKP", "crv": "Ed25519", "x": jwtTestB64u(k.ed.Public().(ed25519.PublicKey)), "d": jwtTestB64u(k.ed.Seed())}, "EdDSA")))}, "d.json"},
		{"JWKS duplicate kid", JWTConfig{JWKSFile: w("dup.json", jwtTestJWKS(t, ecPoint, ecPoint))}, "dup.json"},
		{"JWKS short oct", JWTConfig{JWKSFile: w("oct.json", jwtTestJWKS(t, map[string]any{"kty": "oct", "k": jwtTestB64u([]byte("short"))}))}, "oct.json"},
		{"JWKS RSA 1024", JWTConfig{JWKSFile: w("r1024.json", jwtTestJWKS(t, jwtTestRSAJWK("r", &rsa1024.PublicKey)))}, "r1024.json"},
		{"JWKS bad base64", JWTConfig{JWKSFile: w("b64.json", jwtTestJWKS(t, map[string]any{"kty": "OKP", "crv": "Ed25519", "x": "!!!"}))}, "b64.json"},
		{"negative leeway", JWTConfig{KeyFiles: []string{w("ok.pem", k.ecPEM)}, Leeway: -time.Second}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, err := NewJWTVerifier(tc.cfg)
			if err == nil {
				t.Fatalf("NewJWTVerifier accepted the configuration: %+v", v)
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error %v does not wrap ErrInvalidConfig", err)
			}
			if tc.file != "" && !strings.Contains(err.Error(), tc.file) {
				t.Errorf("error %v does not name %s", err, tc.file)
			}
		})
	}
}

func TestJWTVerifierNil(t *testing.T) {
	t.Parallel()
	var v *JWTVerifier
	if _, err := v.Verify("x.y.z"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("nil verifier: %v, want ErrBadCredentials", err)
	}
}
