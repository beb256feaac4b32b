package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/subtle"
	"encoding/hex"
)

// CryptosignKeys returns the Ed25519 public keys with which authid may
// authenticate by WAMP-cryptosign, and the identity it then gets. realm ""
// means the user's own realm. An unknown authid, or one without keys, is
// ErrBadCredentials. The keys are copies.
func (a *Authority) CryptosignKeys(realm, authid string) ([]ed25519.PublicKey, Identity, error) {
	u, err := a.state.Load().lookupUser(realm, authid)
	if err != nil {
		return nil, Identity{}, err
	}
	if len(u.cryptosign) == 0 {
		return nil, Identity{}, ErrBadCredentials
	}
	keys := make([]ed25519.PublicKey, len(u.cryptosign))
	for i, k := range u.cryptosign {
		keys[i] = bytes.Clone(k)
	}
	return keys, u.identity(methodCryptosign), nil
}

// VerifyCryptosign reports whether signatureHex, a client's WAMP-cryptosign
// AUTHENTICATE signature, is pub's Ed25519 signature over exactly challenge,
// the bytes this session was sent (hex-decoded from the CHALLENGE's
// extra.challenge). signatureHex is either what autobahn sends, the hex of
// the 64-byte signature followed by the 32-byte signed message, or the hex
// of the 64-byte signature alone. In the first form the embedded message
// must also be challenge: unlike nexus v3.3.0, a signature over any other
// message (an earlier session's AUTHENTICATE, replayed) fails.
func VerifyCryptosign(pub ed25519.PublicKey, challenge []byte, signatureHex string) bool {
	if len(pub) != ed25519.PublicKeySize || len(challenge) == 0 {
		return false
	}
	b, err := hex.DecodeString(signatureHex)
	if err != nil {
		return false
	}
	switch len(b) {
	case ed25519.SignatureSize:
	case ed25519.SignatureSize + len(challenge):
		if subtle.ConstantTimeCompare(b[ed25519.SignatureSize:], challenge) != 1 {
			return false
		}
	default:
		return false
	}
	return ed25519.Verify(pub, challenge, b[:ed25519.SignatureSize])
}
