package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/pbkdf2"
)

// Bounds of NewCRAKey and of configured CRA keys.
const (
	craSaltLen      = 16
	maxCRAKeyLen    = 1024
	maxCRAIteration = 100_000_000
)

// CRA returns what the router needs to challenge authid with WAMP-CRA: the
// HMAC key, and the salt, iterations and key length to send in the
// CHALLENGE so that the client derives the same key from its secret. realm
// "" means the user's own realm. An unknown authid, or one without a CRA
// key, is ErrBadCredentials.
//
// The key is the base64 text of the derived key (CRAKey.Key's bytes), not
// the decoded bytes: WAMP-CRA clients (autobahn's derive_key then
// compute_wcs, nexus' crsign.RespondChallenge) use the base64 string itself
// as the HMAC key. Pass it to VerifyCRA as is.
func (a *Authority) CRA(realm, authid string) (key []byte, salt string, iterations, keylen int, id Identity, err error) {
	u, err := a.state.Load().lookupUser(realm, authid)
	if err != nil {
		return nil, "", 0, 0, Identity{}, err
	}
	if u.cra == nil {
		return nil, "", 0, 0, Identity{}, ErrBadCredentials
	}
	k := u.cra
	return []byte(k.Key), k.Salt, k.Iterations, k.KeyLen, u.identity(methodCRA), nil
}

// VerifyCRA reports whether signature, a client's WAMP-CRA AUTHENTICATE
// signature, is base64(HMAC-SHA256(key, challenge)). The comparison is
// constant time.
func VerifyCRA(key []byte, challenge, signature string) bool {
	if len(key) == 0 || challenge == "" {
		return false
	}
	got, err := base64.StdEncoding.Strict().DecodeString(signature)
	if err != nil {
		if got, err = base64.RawStdEncoding.Strict().DecodeString(signature); err != nil {
			return false
		}
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(challenge))
	return hmac.Equal(mac.Sum(nil), got)
}

// NewCRAKey derives a salted WAMP-CRA key from secret as clients do
// (PBKDF2-HMAC-SHA256 over the secret's and the salt string's bytes), with a
// random 16-byte salt written in standard base64. Autobahn's defaults are
// 1000 iterations and a 32-byte key.
func NewCRAKey(secret string, iterations, keylen int) (CRAKey, error) {
	if iterations < 1 || iterations > maxCRAIteration {
		return CRAKey{}, fmt.Errorf("auth: CRA key: iterations %d out of range 1..%d", iterations, maxCRAIteration)
	}
	if keylen < 1 || keylen > maxCRAKeyLen {
		return CRAKey{}, fmt.Errorf("auth: CRA key: keylen %d out of range 1..%d", keylen, maxCRAKeyLen)
	}
	raw := make([]byte, craSaltLen)
	if _, err := rand.Read(raw); err != nil {
		return CRAKey{}, fmt.Errorf("auth: CRA key: reading random salt: %w", err)
	}
	salt := base64.StdEncoding.EncodeToString(raw)
	return CRAKey{
		Key:        deriveCRAKey(secret, salt, iterations, keylen),
		Salt:       salt,
		Iterations: iterations,
		KeyLen:     keylen,
	}, nil
}

// deriveCRAKey is autobahn's derive_key: base64 of PBKDF2-HMAC-SHA256 with
// the salt string's bytes as the salt.
func deriveCRAKey(secret, salt string, iterations, keylen int) string {
	dk := pbkdf2.Key([]byte(secret), []byte(salt), iterations, keylen, sha256.New)
	return base64.StdEncoding.EncodeToString(dk)
}
