package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
)

// Limits matching what auth.NewJWTVerifier accepts.
const (
	tokenMinHMACSecret = 32
	tokenMinRSABits    = 2048
	tokenMaxKeyFile    = 1 << 20
)

// tokenOptions are the flags of the token command.
type tokenOptions struct {
	keyFile, alg, sub, role, realm, aud, iss, kid string
	ttl                                           time.Duration
}

func newTokenCmd(stdout io.Writer) *cobra.Command {
	var o tokenOptions
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Mint a JSON Web Token, for testing the jwt authenticator",
		Long: `Mint a signed JSON Web Token and print it.

--key is a PEM private key for RS256 (RSA, at least 2048 bits), ES256 (ECDSA
P-256) or EdDSA (Ed25519), in PKCS #8, PKCS #1 (RSA) or SEC 1 (EC) form; for
HS256 it is a secret file, used like the router's hmac secret files: its
content without trailing newlines, at least 32 bytes. The token carries sub,
iat, exp (now + --ttl) and, when given, role, realm, aud and iss.

Without --alg the algorithm is the key's: RS256 for an RSA key, ES256 for
a P-256 key, EdDSA for an Ed25519 key, and HS256 for a file that is not PEM
(a secret). --alg, when given, must match the key.`,
		Example: `  openssl genpkey -algorithm ed25519 -out jwt.key
  junction token --key jwt.key --sub alice --role admin --aud junction --ttl 10m`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			token, err := mintToken(o, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(stdout, token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.keyFile, "key", "", "PEM private key file, or for HS256 a secret file (required)")
	f.StringVar(&o.alg, "alg", "", "RS256, ES256, EdDSA or HS256, matching the key (default: the key's)")
	f.StringVar(&o.sub, "sub", "", "the authid: sub claim (required)")
	f.StringVar(&o.role, "role", "", "role claim")
	f.StringVar(&o.realm, "realm", "", "realm claim")
	f.StringVar(&o.aud, "aud", "", "aud claim")
	f.StringVar(&o.iss, "iss", "", "iss claim")
	f.StringVar(&o.kid, "kid", "", "kid header, selecting a key of the router's JWKS file")
	f.DurationVar(&o.ttl, "ttl", time.Hour, "lifetime: exp is now plus this")
	for _, name := range []string{"key", "sub"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// mintToken signs a token as of now.
func mintToken(o tokenOptions, now time.Time) (string, error) {
	if o.alg == "" {
		alg, err := inferAlg(o.keyFile)
		if err != nil {
			return "", err
		}
		o.alg = alg
	}
	method, err := tokenMethod(o.alg)
	if err != nil {
		return "", err
	}
	if o.sub == "" {
		return "", errors.New("--sub must not be empty")
	}
	if o.ttl <= 0 {
		return "", fmt.Errorf("--ttl %v: must be positive", o.ttl)
	}
	key, err := loadSigningKey(o.keyFile, method.Alg())
	if err != nil {
		return "", err
	}
	claims := jwt.MapClaims{
		"sub": o.sub,
		"iat": now.Unix(),
		"exp": now.Add(o.ttl).Unix(),
	}
	for name, val := range map[string]string{"role": o.role, "realm": o.realm, "aud": o.aud, "iss": o.iss} {
		if val != "" {
			claims[name] = val
		}
	}
	tok := jwt.NewWithClaims(method, claims)
	if o.kid != "" {
		tok.Header["kid"] = o.kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", fmt.Errorf("signing the token: %w", err)
	}
	return s, nil
}

// tokenMethod maps --alg, in any case, to one of the four algorithms the
// router accepts.
func tokenMethod(alg string) (jwt.SigningMethod, error) {
	switch strings.ToUpper(alg) {
	case "RS256":
		return jwt.SigningMethodRS256, nil
	case "ES256":
		return jwt.SigningMethodES256, nil
	case "EDDSA", "ED25519":
		return jwt.SigningMethodEdDSA, nil
	case "HS256":
		return jwt.SigningMethodHS256, nil
	case "NONE":
		return nil, errors.New(`refusing --alg none: an unsigned token proves nothing, and the router refuses it`)
	default:
		return nil, fmt.Errorf("--alg %q is not supported: want RS256, ES256, EdDSA or HS256", alg)
	}
}

// inferAlg returns the algorithm the key file signs: that of a PEM private
// key's type, or HS256 for a file that is not PEM (a secret file).
func inferAlg(file string) (string, error) {
	data, err := readTokenKeyFile(file)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		if bytes.Contains(data, []byte("-----BEGIN ")) {
			return "", fmt.Errorf("--key %s: a PEM block that cannot be read", file)
		}
		if isDERKey(data) {
			return "", fmt.Errorf("--key %s is a DER private key; convert it to PEM (openssl pkey -in %s -out key.pem)", file, file)
		}
		return "HS256", nil
	}
	key, err := parsePrivateKey(file, block)
	if err != nil {
		return "", err
	}
	have, fits := keyKind(key)
	if fits == "" {
		return "", fmt.Errorf("--key %s holds %s, which signs none of RS256, ES256 (P-256 only), EdDSA", file, have)
	}
	return fits, nil
}

// isDERKey reports whether data parses as a private key in DER form: a key,
// not a secret, though it is not PEM.
func isDERKey(data []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(data)
	return err == nil
}

// parsePrivateKey parses a PEM block holding a private key.
func parsePrivateKey(file string, block *pem.Block) (any, error) {
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "ENCRYPTED PRIVATE KEY":
		return nil, fmt.Errorf("--key %s is encrypted; decrypt it first (openssl pkey -in %s -out plain.key)", file, file)
	case "PUBLIC KEY", "RSA PUBLIC KEY", "CERTIFICATE":
		return nil, fmt.Errorf("--key %s holds a %s; signing needs the private key", file, strings.ToLower(block.Type))
	default:
		return nil, fmt.Errorf("--key %s: unsupported PEM block %q: want a private key", file, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", file, err)
	}
	return key, nil
}

// keyKind describes a private key and names the algorithm it signs ("":
// none the router accepts).
func keyKind(key any) (have, fits string) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("an RSA %d-bit key", k.N.BitLen()), "RS256"
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "an ECDSA " + k.Curve.Params().Name + " key", ""
		}
		return "an ECDSA " + k.Curve.Params().Name + " key", "ES256"
	case ed25519.PrivateKey:
		return "an Ed25519 key", "EdDSA"
	}
	return fmt.Sprintf("a %T", key), ""
}

// loadSigningKey reads --key for alg: an HMAC secret for HS256, otherwise a
// PEM private key of the matching type.
func loadSigningKey(file, alg string) (any, error) {
	data, err := readTokenKeyFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if alg == "HS256" {
		if block != nil || bytes.Contains(data, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("--key %s is a PEM file, but HS256 needs a secret file: a key used as an HMAC secret is the alg confusion attack", file)
		}
		secret := bytes.TrimRight(data, "\r\n")
		if len(secret) < tokenMinHMACSecret {
			return nil, fmt.Errorf("--key %s: HMAC secret of %d bytes is shorter than the minimum %d", file, len(secret), tokenMinHMACSecret)
		}
		return secret, nil
	}
	if block == nil {
		return nil, fmt.Errorf("--key %s is not a PEM file; %s needs a PEM private key (a secret file is for HS256)", file, alg)
	}
	key, err := parsePrivateKey(file, block)
	if err != nil {
		return nil, err
	}
	have, fits := keyKind(key) // the key's kind, and the alg it signs
	if k, ok := key.(*rsa.PrivateKey); ok && alg == fits && k.N.BitLen() < tokenMinRSABits {
		return nil, fmt.Errorf("--key %s: RSA key of %d bits; the router wants at least %d", file, k.N.BitLen(), tokenMinRSABits)
	}
	if fits != alg {
		if fits == "" {
			return nil, fmt.Errorf("--key %s holds %s, which signs none of RS256, ES256 (P-256 only), EdDSA", file, have)
		}
		return nil, fmt.Errorf("--key %s holds %s, which signs %s, not %s", file, have, fits, alg)
	}
	return key, nil
}

func readTokenKeyFile(file string) ([]byte, error) {
	if file == "" {
		return nil, errors.New("--key is required")
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, tokenMaxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("--key %s: %w", file, err)
	}
	if len(data) > tokenMaxKeyFile {
		return nil, fmt.Errorf("--key %s: larger than %d bytes", file, tokenMaxKeyFile)
	}
	return data, nil
}
