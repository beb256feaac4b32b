package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"testing"

	"golang.org/x/crypto/pbkdf2"
)

// craClientSignature is what a WAMP-CRA client (autobahn, nexus) computes
// from its secret and the CHALLENGE: the key derived with PBKDF2 from the
// salt string, base64-encoded, is the HMAC key.
func craClientSignature(secret, salt string, iterations, keylen int, challenge string) string {
	dk := pbkdf2.Key([]byte(secret), []byte(salt), iterations, keylen, sha256.New)
	key := base64.StdEncoding.EncodeToString(dk)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(challenge))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestCRAAutobahnVectors(t *testing.T) {
	// autobahn/wamp/test/test_wamp_auth.py: test_derive_key (default 1000
	// iterations, 32 bytes) and test_compute_wcs (unsalted: the secret is
	// the key; the challenge is json.dumps([1, 2, 3])).
	if got, want := deriveCRAKey("L3L1YUE8Txlw", "salt123", 1000, 32), "qzcdsr9uu/L5hnss3kjNTRe490ETgA70ZBaB5rvnJ5Y="; got != want {
		t.Errorf("derive_key = %q, want %q", got, want)
	}
	if !VerifyCRA([]byte("L3L1YUE8Txlw"), "[1, 2, 3]", "1njQtmmeYO41N5EWEzD2kAjjEKRZ5kPZt/TzpYXOzR0=") {
		t.Error("compute_wcs vector does not verify")
	}
}

func TestCRARoundTrip(t *testing.T) {
	const secret = "s3cr3t"
	key, err := NewCRAKey(secret, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(key.Salt)
	if err != nil || len(raw) != 16 {
		t.Errorf("salt %q is not 16 bytes in standard base64", key.Salt)
	}
	if key.Iterations != 1000 || key.KeyLen != 32 {
		t.Errorf("key = %+v", key)
	}
	if want := base64.StdEncoding.EncodeToString(pbkdf2.Key([]byte(secret), []byte(key.Salt), 1000, 32, sha256.New)); key.Key != want {
		t.Errorf("Key = %q, want %q", key.Key, want)
	}
	other, err := NewCRAKey(secret, 1000, 32)
	if err != nil {
		t.Fatal(err)
	}
	if other.Salt == key.Salt || other.Key == key.Key {
		t.Error("two keys of the same secret share a salt")
	}

	cfg := baseConfig()
	cfg.Users[1].CRA = &key
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hk, salt, iterations, keylen, id, err := a.CRA("realm1", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if salt != key.Salt || iterations != 1000 || keylen != 32 {
		t.Errorf("CRA = salt %q, %d iterations, keylen %d", salt, iterations, keylen)
	}
	if want := (Identity{AuthID: "bob", Role: "user", Realm: "realm1", Method: "wampcra"}); id != want {
		t.Errorf("identity %+v, want %+v", id, want)
	}

	const challenge = `{"authid":"bob","authrole":"user","authmethod":"wampcra","authprovider":"static","nonce":"x1","timestamp":"2026-01-01T00:00:00.000Z","session":42}`
	sig := craClientSignature(secret, salt, iterations, keylen, challenge)
	tests := []struct {
		name           string
		challenge, sig string
		want           bool
	}{
		{"right", challenge, sig, true},
		{"unpadded", challenge, base64.RawStdEncoding.EncodeToString(mustB64(t, sig)), true},
		{"wrong secret", challenge, craClientSignature("S3cr3t", salt, iterations, keylen, challenge), false},
		{"other challenge", challenge + " ", sig, false},
		{"signature of another challenge", challenge, craClientSignature(secret, salt, iterations, keylen, "other"), false},
		{"garbage", challenge, "!!!", false},
		{"empty", challenge, "", false},
		{"truncated", challenge, sig[:20], false},
		{"empty challenge", "", craClientSignature(secret, salt, iterations, keylen, ""), false},
	}
	for _, tc := range tests {
		if got := VerifyCRA(hk, tc.challenge, tc.sig); got != tc.want {
			t.Errorf("%s: VerifyCRA = %v, want %v", tc.name, got, tc.want)
		}
	}
	if VerifyCRA(nil, challenge, sig) {
		t.Error("VerifyCRA with no key succeeded")
	}

	// Own realm, unknown users, users without a CRA key.
	if _, _, _, _, _, err := a.CRA("", "bob"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("CRA(\"\", bob) (two realms) error = %v", err)
	}
	if _, _, _, _, _, err := a.CRA("realm1", "mallory"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("CRA(mallory) error = %v", err)
	}
	if _, _, _, _, _, err := a.CRA("realm1", "alice"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("CRA(alice, no CRA key) error = %v", err)
	}
	if _, _, _, _, _, err := a.CRA("nope", "bob"); !errors.Is(err, ErrUnknownRealm) {
		t.Errorf("CRA(nope) error = %v", err)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewCRAKeyBounds(t *testing.T) {
	for _, tc := range []struct{ iterations, keylen int }{{0, 32}, {-1, 32}, {1000, 0}, {1000, -5}, {1000, 4096}} {
		if _, err := NewCRAKey("s", tc.iterations, tc.keylen); err == nil {
			t.Errorf("NewCRAKey(%d, %d) succeeded", tc.iterations, tc.keylen)
		}
	}
}
