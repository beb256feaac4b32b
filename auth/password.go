package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// The argon2id parameters of HashPassword (RFC 9106's second recommended
// option, with p=2): 64 MiB, 3 passes, 2 lanes, a 16-byte salt and a 32-byte
// key.
const (
	argon2Memory  = 64 * 1024 // KiB
	argon2Time    = 3
	argon2Threads = 2
	argon2SaltLen = 16
	argon2KeyLen  = 32
)

// Bounds on the parameters of a configured hash. A hash outside them is
// refused by checkPasswordHash and never matches in verifyPassword, so that a
// typo in a configuration cannot make every login allocate gigabytes or spin
// for minutes.
const (
	argon2MaxMemory  = 1 << 20 // KiB: 1 GiB
	argon2MaxTime    = 100
	argon2MaxThreads = 255
	argon2MinSaltLen = 8 // RFC 9106 §3.1
	argon2MaxSaltLen = 64
	argon2MinKeyLen  = 16
	argon2MaxKeyLen  = 128
	bcryptMaxCost    = 16 // about 5 s per verification on current hardware; default is 10
	bcryptHashLen    = 60 // $2b$10$ + 22 salt + 31 hash characters
)

// argon2Params are the decoded fields of an argon2id PHC string.
type argon2Params struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// HashPassword returns an argon2id PHC string:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>, salt and hash in unpadded
// standard base64, with a 16-byte random salt and a 32-byte key. The result
// is what User.Password expects.
func HashPassword(password string) (string, error) {
	salt := make([]byte, argon2SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("auth: hash password: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, argon2KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argon2Memory, argon2Time, argon2Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// verifyPassword reports whether password matches hash, an argon2id PHC
// string or a bcrypt hash ($2a$, $2b$, $2y$). The comparison is constant
// time. Unknown formats, malformed hashes and hashes whose parameters
// checkPasswordHash would refuse never match.
func verifyPassword(hash, password string) bool {
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		p, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
		return subtle.ConstantTimeCompare(key, p.key) == 1
	case isBcryptPrefix(hash):
		if err := checkBcrypt(hash); err != nil {
			return false
		}
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	default:
		return false
	}
}

// checkPasswordHash validates a configured hash's format and parameters, for
// configuration validation. The error wraps ErrInvalidConfig and never
// includes the hash itself.
func checkPasswordHash(hash string) error {
	var err error
	switch {
	case hash == "":
		err = fmt.Errorf("empty password hash")
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err = parseArgon2id(hash)
	case isBcryptPrefix(hash):
		err = checkBcrypt(hash)
	case strings.HasPrefix(hash, "$argon2i$"), strings.HasPrefix(hash, "$argon2d$"):
		err = fmt.Errorf("unsupported password hash: only argon2id, not argon2i or argon2d (see `junction passwd`)")
	default:
		err = fmt.Errorf("unsupported password hash format: want an argon2id PHC string ($argon2id$…) or a bcrypt hash ($2a$, $2b$, $2y$) (see `junction passwd`)")
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// parseArgon2id decodes $argon2id$v=19$m=M,t=T,p=P$salt$hash strictly: the
// parameters in this order, decimal without sign or leading zeros, within
// the bounds above; salt and hash in unpadded standard base64.
func parseArgon2id(hash string) (argon2Params, error) {
	var p argon2Params
	fields := strings.Split(hash, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" {
		return p, fmt.Errorf("malformed argon2id hash: want $argon2id$v=19$m=…,t=…,p=…$salt$hash")
	}
	v, ok := strings.CutPrefix(fields[2], "v=")
	if !ok {
		return p, fmt.Errorf("malformed argon2id hash: missing version v=%d", argon2.Version)
	}
	if version, err := argon2ParseDecimal(v, 1<<8); err != nil || version != argon2.Version {
		return p, fmt.Errorf("unsupported argon2id version %q: want v=%d", v, argon2.Version)
	}
	params := strings.Split(fields[3], ",")
	if len(params) != 3 {
		return p, fmt.Errorf("malformed argon2id parameters: want m=…,t=…,p=…")
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		s, ok := strings.CutPrefix(params[i], name+"=")
		if !ok {
			return p, fmt.Errorf("malformed argon2id parameters: want m=…,t=…,p=… in this order")
		}
		n, err := argon2ParseDecimal(s, 1<<32)
		if err != nil {
			return p, fmt.Errorf("malformed argon2id parameter %s: %w", name, err)
		}
		vals[i] = n
	}
	m, t, threads := vals[0], vals[1], vals[2]
	switch {
	case threads < 1 || threads > argon2MaxThreads:
		return p, fmt.Errorf("argon2id parallelism p=%d out of range 1..%d", threads, argon2MaxThreads)
	case t < 1 || t > argon2MaxTime:
		return p, fmt.Errorf("argon2id time t=%d out of range 1..%d", t, argon2MaxTime)
	case m < 8*threads || m > argon2MaxMemory:
		return p, fmt.Errorf("argon2id memory m=%d KiB out of range %d (8·p)..%d (1 GiB)", m, 8*threads, argon2MaxMemory)
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(fields[4])
	if err != nil {
		return p, fmt.Errorf("malformed argon2id salt: not unpadded standard base64")
	}
	if len(salt) < argon2MinSaltLen || len(salt) > argon2MaxSaltLen {
		return p, fmt.Errorf("argon2id salt of %d bytes out of range %d..%d", len(salt), argon2MinSaltLen, argon2MaxSaltLen)
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(fields[5])
	if err != nil {
		return p, fmt.Errorf("malformed argon2id hash value: not unpadded standard base64")
	}
	if len(key) < argon2MinKeyLen || len(key) > argon2MaxKeyLen {
		return p, fmt.Errorf("argon2id hash value of %d bytes out of range %d..%d", len(key), argon2MinKeyLen, argon2MaxKeyLen)
	}
	return argon2Params{memory: uint32(m), time: uint32(t), threads: uint8(threads), salt: salt, key: key}, nil
}

// argon2ParseDecimal parses a canonical decimal below limit: digits only, no sign,
// no leading zero.
func argon2ParseDecimal(s string, limit uint64) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a canonical decimal number", s)
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n >= limit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n, nil
}

func isBcryptPrefix(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

// checkBcrypt validates a bcrypt hash: $2a$, $2b$ or $2y$, a two-digit cost
// within bcrypt's range and at most bcryptMaxCost, then 53 characters of
// bcrypt's base64 alphabet.
func checkBcrypt(hash string) error {
	if len(hash) != bcryptHashLen || hash[6] != '$' || hash[4] < '0' || hash[4] > '9' || hash[5] < '0' || hash[5] > '9' {
		return fmt.Errorf("malformed bcrypt hash: want $2b$CC$ and 53 characters")
	}
	for i := 7; i < len(hash); i++ {
		c := hash[i]
		if !(c == '.' || c == '/' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return fmt.Errorf("malformed bcrypt hash: invalid character at offset %d", i)
		}
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	if cost > bcryptMaxCost {
		return fmt.Errorf("bcrypt cost %d above the maximum %d", cost, bcryptMaxCost)
	}
	return nil
}
