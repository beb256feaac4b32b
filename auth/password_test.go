package auth

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// testArgon2Hash builds an argon2id PHC string with the given parameters:
// cheap parameters keep the tests fast, and verifyPassword must honour the
// parameters of the hash rather than its defaults.
func testArgon2Hash(password string, m, t uint32, p uint8) string {
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// b64 is unpadded standard base64 of n bytes of 'x'.
func pwTestB64(n int) string {
	return base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("x", n)))
}

func TestHashPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=3,p=2\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	for _, password := range []string{"correct horse battery staple", "", "pässwörd ☃"} {
		t.Run(fmt.Sprintf("len%d", len(password)), func(t *testing.T) {
			t.Parallel()
			hash, err := HashPassword(password)
			if err != nil {
				t.Fatal(err)
			}
			if !phc.MatchString(hash) {
				t.Fatalf("HashPassword = %q, not an argon2id PHC string with the default parameters", hash)
			}
			if err := checkPasswordHash(hash); err != nil {
				t.Errorf("checkPasswordHash(HashPassword()) = %v", err)
			}
			if !verifyPassword(hash, password) {
				t.Error("verifyPassword(HashPassword(p), p) = false")
			}
			if verifyPassword(hash, password+"x") {
				t.Error("verifyPassword accepts a wrong password")
			}
		})
	}
}

func TestHashPasswordSalted(t *testing.T) {
	t.Parallel()
	a, err := HashPassword("same")
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("same")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
}

func TestVerifyPassword(t *testing.T) {
	t.Parallel()
	bc, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	b := string(bc)
	if !strings.HasPrefix(b, "$2a$") {
		t.Fatalf("bcrypt produced %q, expected the $2a$ prefix", b[:4])
	}
	cheap := testArgon2Hash("s3cret", 64, 1, 1)
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{"argon2id cheap params", cheap, "s3cret", true},
		{"argon2id wrong password", cheap, "S3cret", false},
		{"argon2id empty password", cheap, "", false},
		{"argon2id p=4", testArgon2Hash("pw", 128, 2, 4), "pw", true},
		{"bcrypt 2a", b, "s3cret", true},
		{"bcrypt 2b", "$2b$" + b[4:], "s3cret", true},
		{"bcrypt 2y", "$2y$" + b[4:], "s3cret", true},
		{"bcrypt wrong password", b, "s3cre", false},
		{"bcrypt empty password", b, "", false},
		{"bcrypt 2x refused", "$2x$" + b[4:], "s3cret", false},
		{"bcrypt truncated", b[:59], "s3cret", false},
		{"bcrypt flipped hash char", b[:59] + string(rune(b[59]^1)), "s3cret", false},
		{"argon2id flipped key", cheap[:len(cheap)-2] + "AA", "s3cret", false},
		{"argon2id other salt", strings.Replace(cheap, "MDEyMzQ1Njc4OWFiY2RlZg", "MDEyMzQ1Njc4OWFiY2RlZh", 1), "s3cret", false},
		{"argon2i not argon2id", strings.Replace(cheap, "$argon2id$", "$argon2i$", 1), "s3cret", false},
		{"plaintext", "s3cret", "s3cret", false},
		{"empty hash", "", "", false},
		{"empty hash, password", "", "s3cret", false},
		{"unknown scheme", "$6$rounds=5000$salt$hash", "s3cret", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := verifyPassword(tc.hash, tc.password); got != tc.want {
				t.Errorf("verifyPassword = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckPasswordHash(t *testing.T) {
	t.Parallel()
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	b := string(bc)
	bRest := b[7:] // 53 characters of salt and hash
	salt, key := pwTestB64(16), pwTestB64(32)
	argon := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	tests := []struct {
		name, hash string
		ok         bool
	}{
		{"argon2id defaults", argon("m=65536,t=3,p=2"), true},
		{"argon2id minimal", argon("m=8,t=1,p=1"), true},
		{"argon2id maximal", argon("m=1048576,t=100,p=255"), true},
		{"argon2id 8-byte salt, 16-byte key", "$argon2id$v=19$m=65536,t=3,p=2$" + pwTestB64(8) + "$" + pwTestB64(16), true},
		{"bcrypt 2a", b, true},
		{"bcrypt 2b", "$2b$" + b[4:], true},
		{"bcrypt 2y", "$2y$" + b[4:], true},
		{"bcrypt cost 16", "$2b$16$" + bRest, true},

		{"empty", "", false},
		{"plaintext", "hunter2", false},
		{"sha512-crypt", "$6$salt$hash", false},
		{"argon2i", "$argon2i$v=19$m=65536,t=3,p=2$" + salt + "$" + key, false},
		{"argon2d", "$argon2d$v=19$m=65536,t=3,p=2$" + salt + "$" + key, false},
		{"argon2id no version", "$argon2id$m=65536,t=3,p=2$" + salt + "$" + key, false},
		{"argon2id v=16", "$argon2id$v=16$m=65536,t=3,p=2$" + salt + "$" + key, false},
		{"argon2id memory above 1 GiB", argon("m=1048577,t=3,p=2"), false},
		{"argon2id memory 2^32", argon("m=4294967296,t=3,p=2"), false},
		{"argon2id memory below 8p", argon("m=15,t=1,p=2"), false},
		{"argon2id t=0", argon("m=65536,t=0,p=2"), false},
		{"argon2id t=101", argon("m=65536,t=101,p=2"), false},
		{"argon2id p=0", argon("m=65536,t=3,p=0"), false},
		{"argon2id p=256", argon("m=65536,t=3,p=256"), false},
		{"argon2id parameters reordered", argon("t=3,m=65536,p=2"), false},
		{"argon2id parameter missing", argon("m=65536,t=3"), false},
		{"argon2id extra parameter", argon("m=65536,t=3,p=2,k=1"), false},
		{"argon2id leading zero", argon("m=065536,t=3,p=2"), false},
		{"argon2id sign", argon("m=+65536,t=3,p=2"), false},
		{"argon2id negative", argon("m=65536,t=-3,p=2"), false},
		{"argon2id hex", argon("m=0x10000,t=3,p=2"), false},
		{"argon2id empty value", argon("m=,t=3,p=2"), false},
		{"argon2id salt 7 bytes", "$argon2id$v=19$m=65536,t=3,p=2$" + pwTestB64(7) + "$" + key, false},
		{"argon2id salt 65 bytes", "$argon2id$v=19$m=65536,t=3,p=2$" + pwTestB64(65) + "$" + key, false},
		{"argon2id key 15 bytes", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + pwTestB64(15), false},
		{"argon2id key 129 bytes", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + pwTestB64(129), false},
		{"argon2id padded base64", argon("m=65536,t=3,p=2") + "=", false},
		{"argon2id url base64", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + strings.Repeat("_", 43), false},
		{"argon2id non-canonical base64", "$argon2id$v=19$m=65536,t=3,p=2$" + salt + "$" + key[:42] + "z", false},
		{"argon2id empty salt", "$argon2id$v=19$m=65536,t=3,p=2$$" + key, false},
		{"argon2id missing hash", "$argon2id$v=19$m=65536,t=3,p=2$" + salt, false},
		{"argon2id extra field", argon("m=65536,t=3,p=2") + "$x", false},
		{"argon2id leading garbage", "x" + argon("m=65536,t=3,p=2"), false},
		{"bcrypt 2x", "$2x$" + b[4:], false},
		{"bcrypt 2", "$2$" + b[4:], false},
		{"bcrypt cost 3", "$2b$03$" + bRest, false},
		{"bcrypt cost 17", "$2b$17$" + bRest, false},
		{"bcrypt cost 31", "$2b$31$" + bRest, false},
		{"bcrypt cost sign", "$2b$+9$" + bRest, false},
		{"bcrypt short", b[:59], false},
		{"bcrypt long", b + "x", false},
		{"bcrypt bad character", b[:59] + "=", false},
		{"bcrypt missing separator", "$2b$10x" + bRest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkPasswordHash(tc.hash)
			if tc.ok {
				if err != nil {
					t.Fatalf("checkPasswordHash = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("checkPasswordHash = %v, want an error wrapping ErrInvalidConfig", err)
			}
			if len(tc.hash) > 20 && strings.Contains(err.Error(), tc.hash) {
				t.Errorf("error %q includes the hash", err)
			}
			// What configuration validation refuses never matches either,
			// and is refused before any expensive work.
			if verifyPassword(tc.hash, "pw") {
				t.Error("verifyPassword accepts a hash that checkPasswordHash refuses")
			}
		})
	}
}
