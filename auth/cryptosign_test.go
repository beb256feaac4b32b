package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestVerifyCryptosign(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, otherPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	challenge := make([]byte, 32)
	earlier := make([]byte, 32)
	rand.Read(challenge)
	rand.Read(earlier)
	// What autobahn sends: signature || signed message.
	signed := func(k ed25519.PrivateKey, msg []byte) string {
		return hex.EncodeToString(append(ed25519.Sign(k, msg), msg...))
	}
	sigOnly := func(k ed25519.PrivateKey, msg []byte) string { return hex.EncodeToString(ed25519.Sign(k, msg)) }
	zero := make([]byte, 32)

	tests := []struct {
		name string
		pub  ed25519.PublicKey
		sig  string
		want bool
	}{
		{"96 bytes", pub, signed(priv, challenge), true},
		{"64 bytes", pub, sigOnly(priv, challenge), true},
		{"upper-case hex", pub, strings.ToUpper(signed(priv, challenge)), true},
		{"replay of an earlier AUTHENTICATE", pub, signed(priv, earlier), false},
		{"replayed signature, this challenge appended", pub, sigOnly(priv, earlier) + hex.EncodeToString(challenge), false},
		{"replay, 64 bytes", pub, sigOnly(priv, earlier), false},
		{"signature over zeros (nexus v3.3.0 accepted this)", pub, signed(priv, zero), false},
		{"right signature, other message appended", pub, sigOnly(priv, challenge) + hex.EncodeToString(earlier), false},
		{"wrong key", pub, signed(otherPriv, challenge), false},
		{"right signature, other public key", otherPub, signed(priv, challenge), false},
		{"garbage hex", pub, "zz" + signed(priv, challenge)[2:], false},
		{"odd length", pub, signed(priv, challenge)[1:], false},
		{"95 bytes", pub, signed(priv, challenge)[:190], false},
		{"97 bytes", pub, signed(priv, challenge) + "00", false},
		{"empty", pub, "", false},
		{"short public key", pub[:31], signed(priv, challenge), false},
		{"no public key", nil, signed(priv, challenge), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := VerifyCryptosign(tc.pub, challenge, tc.sig); got != tc.want {
				t.Errorf("VerifyCryptosign = %v, want %v", got, tc.want)
			}
		})
	}
	if VerifyCryptosign(pub, nil, hex.EncodeToString(ed25519.Sign(priv, nil))) {
		t.Error("an empty challenge verified")
	}
}

func TestCryptosignKeys(t *testing.T) {
	pub1, _, _ := ed25519.GenerateKey(rand.Reader)
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	cfg := baseConfig()
	cfg.Users[1].CryptosignKeys = []string{hex.EncodeToString(pub1), strings.ToUpper(hex.EncodeToString(pub2))}
	cfg.Users[3].CryptosignKeys = []string{hex.EncodeToString(pub2)}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	keys, id, err := a.CryptosignKeys("realm1", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !bytes.Equal(keys[0], pub1) || !bytes.Equal(keys[1], pub2) {
		t.Errorf("keys = %x", keys)
	}
	if want := (Identity{AuthID: "bob", Role: "user", Realm: "realm1", Method: "cryptosign"}); id != want {
		t.Errorf("identity = %+v, want %+v", id, want)
	}
	keys[0][0] ^= 0xff // the caller's copy
	again, _, _ := a.CryptosignKeys("realm1", "bob")
	if !bytes.Equal(again[0], pub1) {
		t.Error("changing the returned key changed the Authority's")
	}

	if _, id, err := a.CryptosignKeys("", "carol"); err != nil || id.Realm != "realm2" {
		t.Errorf("CryptosignKeys(\"\", carol) = %+v, %v", id, err)
	}
	for _, tc := range []struct {
		realm, authid string
		want          error
	}{
		{"realm1", "alice", ErrBadCredentials}, // no keys
		{"realm1", "mallory", ErrBadCredentials},
		{"", "bob", ErrBadCredentials}, // in two realms
		{"nope", "bob", ErrUnknownRealm},
	} {
		if _, _, err := a.CryptosignKeys(tc.realm, tc.authid); !errors.Is(err, tc.want) {
			t.Errorf("CryptosignKeys(%q, %q) error = %v, want %v", tc.realm, tc.authid, err, tc.want)
		}
	}
}
