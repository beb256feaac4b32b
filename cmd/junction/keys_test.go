package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/junctionmq/junction/auth"
)

// runPasswd runs `junction passwd args...` with stdin.
func runPasswd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newPasswdCmd(&out, strings.NewReader(stdin))
	cmd.SetArgs(args)
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	return out.String(), err
}

// runToken runs `junction token args...`.
func runToken(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := newTokenCmd(&out)
	cmd.SetArgs(args)
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	return out.String(), err
}

// argon2idMatches checks an argon2id PHC string independently of the auth
// package (whose verifyPassword is unexported): parse it, derive, compare.
func argon2idMatches(t *testing.T, phc, password string) bool {
	t.Helper()
	var m, tm uint32
	var p uint8
	f := strings.Split(phc, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != "v=19" {
		t.Fatalf("not an argon2id PHC string: %q", phc)
	}
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &tm, &p); err != nil {
		t.Fatalf("parameters %q: %v", f[3], err)
	}
	if m != 65536 || tm != 3 || p != 2 {
		t.Errorf("parameters m=%d,t=%d,p=%d, want m=65536,t=3,p=2", m, tm, p)
	}
	salt, err := base64.RawStdEncoding.DecodeString(f[4])
	if err != nil || len(salt) != 16 {
		t.Fatalf("salt %q: %v, %d bytes", f[4], err, len(salt))
	}
	key, err := base64.RawStdEncoding.DecodeString(f[5])
	if err != nil || len(key) != 32 {
		t.Fatalf("key %q: %v, %d bytes", f[5], err, len(key))
	}
	return subtle.ConstantTimeCompare(argon2.IDKey([]byte(password), salt, tm, m, p, 32), key) == 1
}

func TestPasswdCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stdin, password string
		args                  []string
	}{
		{"stdin", "hunter2\n", "hunter2", nil},
		{"--password-stdin", "correct horse battery staple\n", "correct horse battery staple", []string{"--password-stdin"}},
		{"CRLF, no trailing newline kept", "s3cret\r\n", "s3cret", nil},
		{"no newline at EOF", "s3cret", "s3cret", nil},
		{"first line only, spaces kept", " pw with spaces \nsecond line\n", " pw with spaces ", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runPasswd(t, tc.stdin, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			hash, ok := strings.CutSuffix(out, "\n")
			if !ok || strings.Contains(hash, "\n") {
				t.Fatalf("output %q is not one line", out)
			}
			if !argon2idMatches(t, hash, tc.password) {
				t.Error("the hash does not match the password")
			}
			if argon2idMatches(t, hash, tc.password+"x") {
				t.Error("the hash matches a wrong password")
			}
		})
	}
}

func TestPasswdCommandErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, stdin string
		args        []string
	}{
		{"empty stdin", "", nil},
		{"empty line", "\n", nil},
		{"CRLF only", "\r\n", nil},
		{"password as an argument", "pw\n", []string{"pw"}},
		{"too long", strings.Repeat("x", 64<<10+1), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if out, err := runPasswd(t, tc.stdin, tc.args...); err == nil || out != "" {
				t.Errorf("passwd = %q, %v; want an error and no output", out, err)
			}
		})
	}
}

func writeTestFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pemFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	return writeTestFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func pkcs8(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pkix(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestTokenCommandVerifies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := writeTestFile(t, dir, "hmac.secret", []byte(strings.Repeat("k", 48)+"\n"))
	rsaPub := pemFile(t, dir, "rsa.pub", "PUBLIC KEY", pkix(t, &rsaKey.PublicKey))
	ecPub := pemFile(t, dir, "ec.pub", "PUBLIC KEY", pkix(t, &ecKey.PublicKey))
	edPub := pemFile(t, dir, "ed.pub", "PUBLIC KEY", pkix(t, edKey.Public()))
	tests := []struct {
		name, alg, key string
		cfg            auth.JWTConfig // the verifier's keys
	}{
		{"RS256 PKCS #8", "RS256", pemFile(t, dir, "rsa8.key", "PRIVATE KEY", pkcs8(t, rsaKey)), auth.JWTConfig{KeyFiles: []string{rsaPub}}},
		{"RS256 PKCS #1", "RS256", pemFile(t, dir, "rsa1.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), auth.JWTConfig{KeyFiles: []string{rsaPub}}},
		{"ES256 PKCS #8", "ES256", pemFile(t, dir, "ec8.key", "PRIVATE KEY", pkcs8(t, ecKey)), auth.JWTConfig{KeyFiles: []string{ecPub}}},
		{"ES256 SEC 1", "ES256", pemFile(t, dir, "ec1.key", "EC PRIVATE KEY", ecDER), auth.JWTConfig{KeyFiles: []string{ecPub}}},
		{"EdDSA", "EdDSA", pemFile(t, dir, "ed.key", "PRIVATE KEY", pkcs8(t, edKey)), auth.JWTConfig{KeyFiles: []string{edPub}}},
		{"eddsa, any case", "eddsa", pemFile(t, dir, "ed2.key", "PRIVATE KEY", pkcs8(t, edKey)), auth.JWTConfig{KeyFiles: []string{edPub}}},
		{"HS256", "HS256", secret, auth.JWTConfig{HMACSecretFiles: []string{secret}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := tc.cfg
			cfg.Issuer, cfg.Audience = "https://junction.test", "junction"
			v, err := auth.NewJWTVerifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			out, err := runToken(t, "--key", tc.key, "--alg", tc.alg, "--sub", "alice", "--role", "admin",
				"--realm", "realm1", "--aud", "junction", "--iss", "https://junction.test", "--ttl", "10m")
			if err != nil {
				t.Fatal(err)
			}
			token, ok := strings.CutSuffix(out, "\n")
			if !ok || strings.ContainsAny(token, "\n ") || strings.Count(token, ".") != 2 {
				t.Fatalf("output %q is not one token and a newline", out)
			}
			got, err := v.Verify(token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.AuthID != "alice" || got.Role != "admin" || got.Realm != "realm1" {
				t.Errorf("claims %+v", got)
			}
			if lo, hi := before.Add(10*time.Minute-time.Second), time.Now().Add(10*time.Minute+time.Second); got.Expires.Before(lo) || got.Expires.After(hi) {
				t.Errorf("expires %v, want about 10m from now", got.Expires)
			}
			// Without --aud the verifier, which requires one, refuses it.
			out, err = runToken(t, "--key", tc.key, "--alg", tc.alg, "--sub", "alice", "--iss", "https://junction.test")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(strings.TrimSpace(out)); !errors.Is(err, auth.ErrBadCredentials) {
				t.Errorf("token without aud: %v, want refused", err)
			}
		})
	}

	t.Run("kid selects a JWKS key", func(t *testing.T) {
		t.Parallel()
		pt, _ := edKey.Public().(ed25519.PublicKey)
		jwks := writeTestFile(t, t.TempDir(), "jwks.json", fmt.Appendf(nil,
			`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed-1","x":%q}]}`, base64.RawURLEncoding.EncodeToString(pt)))
		v, err := auth.NewJWTVerifier(auth.JWTConfig{JWKSFile: jwks})
		if err != nil {
			t.Fatal(err)
		}
		key := pemFile(t, t.TempDir(), "ed.key", "PRIVATE KEY", pkcs8(t, edKey))
		for kid, ok := range map[string]bool{"ed-1": true, "ed-2": false} {
			out, err := runToken(t, "--key", key, "--alg", "EdDSA", "--sub", "bob", "--kid", kid)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(strings.TrimSpace(out)); (err == nil) != ok {
				t.Errorf("kid %s: Verify = %v, want ok=%v", kid, err, ok)
			}
		}
	})
}

func TestTokenCommandErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSmall, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile := pemFile(t, dir, "rsa.key", "PRIVATE KEY", pkcs8(t, rsaKey))
	rsaPub := pemFile(t, dir, "rsa.pub", "PUBLIC KEY", pkix(t, &rsaKey.PublicKey))
	ecFile := pemFile(t, dir, "ec.key", "PRIVATE KEY", pkcs8(t, ecKey))
	edFile := pemFile(t, dir, "ed.key", "PRIVATE KEY", pkcs8(t, edKey))
	secret := writeTestFile(t, dir, "hmac.secret", []byte(strings.Repeat("k", 48)))
	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"alg none", []string{"--key", secret, "--alg", "none", "--sub", "a"}, "none"},
		{"alg NONE", []string{"--key", secret, "--alg", "NONE", "--sub", "a"}, "none"},
		{"alg HS512", []string{"--key", secret, "--alg", "HS512", "--sub", "a"}, "not supported"},
		{"alg PS256", []string{"--key", rsaFile, "--alg", "PS256", "--sub", "a"}, "not supported"},
		{"RSA key for ES256", []string{"--key", rsaFile, "--alg", "ES256", "--sub", "a"}, "signs RS256, not ES256"},
		{"EC key for RS256", []string{"--key", ecFile, "--alg", "RS256", "--sub", "a"}, "signs ES256, not RS256"},
		{"EC key for EdDSA", []string{"--key", ecFile, "--alg", "EdDSA", "--sub", "a"}, "signs ES256, not EdDSA"},
		{"Ed25519 key for ES256", []string{"--key", edFile, "--alg", "ES256", "--sub", "a"}, "signs EdDSA, not ES256"},
		{"P-384 key for ES256", []string{"--key", pemFile(t, dir, "p384.key", "PRIVATE KEY", pkcs8(t, p384)), "--alg", "ES256", "--sub", "a"}, "P-384"},
		{"RSA 1024", []string{"--key", pemFile(t, dir, "rsa1024.key", "PRIVATE KEY", pkcs8(t, rsaSmall)), "--alg", "RS256", "--sub", "a"}, "1024 bits"},
		{"private key PEM for HS256", []string{"--key", rsaFile, "--alg", "HS256", "--sub", "a"}, "PEM"},
		{"public key PEM for HS256 (confusion)", []string{"--key", rsaPub, "--alg", "HS256", "--sub", "a"}, "PEM"},
		{"public key for RS256", []string{"--key", rsaPub, "--alg", "RS256", "--sub", "a"}, "private key"},
		{"secret for RS256", []string{"--key", secret, "--alg", "RS256", "--sub", "a"}, "not a PEM file"},
		{"short secret", []string{"--key", writeTestFile(t, dir, "short", []byte("short\n")), "--alg", "HS256", "--sub", "a"}, "shorter"},
		{"missing key file", []string{"--key", filepath.Join(dir, "absent"), "--alg", "HS256", "--sub", "a"}, "absent"},
		{"missing --sub", []string{"--key", secret, "--alg", "HS256"}, "sub"},
		{"empty --sub", []string{"--key", secret, "--alg", "HS256", "--sub", ""}, "sub"},
		{"no --alg, a P-384 key", []string{"--key", pemFile(t, dir, "p384b.key", "PRIVATE KEY", pkcs8(t, p384)), "--sub", "a"}, "signs none"},
		{"no --alg, a public key", []string{"--key", rsaPub, "--sub", "a"}, "private key"},
		{"no --alg, a DER key", []string{"--key", writeTestFile(t, dir, "rsa.der", pkcs8(t, rsaKey)), "--sub", "a"}, "DER"},
		{"no --alg, a short secret", []string{"--key", writeTestFile(t, dir, "short2", []byte("short\n")), "--sub", "a"}, "shorter"},
		{"no --alg, a small RSA key", []string{"--key", pemFile(t, dir, "rsa1024b.key", "PRIVATE KEY", pkcs8(t, rsaSmall)), "--sub", "a"}, "1024 bits"},
		{"missing --key", []string{"--alg", "HS256", "--sub", "a"}, "key"},
		{"zero ttl", []string{"--key", secret, "--alg", "HS256", "--sub", "a", "--ttl", "0s"}, "ttl"},
		{"negative ttl", []string{"--key", secret, "--alg", "HS256", "--sub", "a", "--ttl", "-1h"}, "ttl"},
		{"positional argument", []string{"--key", secret, "--alg", "HS256", "--sub", "a", "extra"}, "unknown command"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runToken(t, tc.args...)
			if err == nil {
				t.Fatalf("token succeeded: %q", out)
			}
			if out != "" {
				t.Errorf("output %q with an error", out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestTokenInfersTheAlgorithm: without --alg the key decides it.
func TestTokenInfersTheAlgorithm(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	secret := writeTestFile(t, dir, "hmac.secret", []byte(strings.Repeat("k", 48)+"\n"))
	tests := []struct {
		name, key, alg string
		verifier       auth.JWTConfig
	}{
		{"RSA, PKCS #8", pemFile(t, dir, "rsa8.key", "PRIVATE KEY", pkcs8(t, rsaKey)), "RS256",
			auth.JWTConfig{KeyFiles: []string{pemFile(t, dir, "rsa.pub", "PUBLIC KEY", pkix(t, &rsaKey.PublicKey))}}},
		{"RSA, PKCS #1", pemFile(t, dir, "rsa1.key", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "RS256",
			auth.JWTConfig{KeyFiles: []string{pemFile(t, dir, "rsa1.pub", "PUBLIC KEY", pkix(t, &rsaKey.PublicKey))}}},
		{"EC P-256, SEC 1", pemFile(t, dir, "ec1.key", "EC PRIVATE KEY", ecDER), "ES256",
			auth.JWTConfig{KeyFiles: []string{pemFile(t, dir, "ec.pub", "PUBLIC KEY", pkix(t, &ecKey.PublicKey))}}},
		{"Ed25519", pemFile(t, dir, "ed.key", "PRIVATE KEY", pkcs8(t, edKey)), "EdDSA",
			auth.JWTConfig{KeyFiles: []string{pemFile(t, dir, "ed.pub", "PUBLIC KEY", pkix(t, edKey.Public()))}}},
		{"a secret", secret, "HS256", auth.JWTConfig{HMACSecretFiles: []string{secret}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := runToken(t, "--key", tc.key, "--sub", "alice", "--role", "admin")
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimSpace(out)
			header, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
			if err != nil || !strings.Contains(string(header), `"alg":"`+tc.alg+`"`) {
				t.Fatalf("header %s (%v), want alg %s", header, err, tc.alg)
			}
			v, err := auth.NewJWTVerifier(tc.verifier)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := v.Verify(token); err != nil || got.AuthID != "alice" {
				t.Fatalf("Verify: %+v %v", got, err)
			}
			// --alg still decides when given, and must match the key.
			other := map[bool]string{true: "ES256", false: "RS256"}[tc.alg == "RS256"]
			if _, err := runToken(t, "--key", tc.key, "--sub", "alice", "--alg", other); err == nil {
				t.Fatalf("--alg %s accepted for a %s key", other, tc.alg)
			}
			if _, err := runToken(t, "--key", tc.key, "--sub", "alice", "--alg", tc.alg); err != nil {
				t.Fatalf("--alg %s: %v", tc.alg, err)
			}
		})
	}
}
