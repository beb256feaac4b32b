package bench

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A payload is text, so that it crosses Junction's bridge unchanged (MQTT
// bytes that are not JSON but valid UTF-8 are one WAMP string argument, and
// back): "JB", the send time as 16 hex digits of Unix nanoseconds, then 'x'
// up to the requested size.
const (
	payloadMagic  = "JB"
	payloadHeader = len(payloadMagic) + 16
	// MinPayload is the smallest payload that carries a timestamp.
	MinPayload = payloadHeader
)

var errNotBench = errors.New("not a bench payload")

// newPayload returns a payload buffer of size bytes (at least MinPayload).
func newPayload(size int) []byte {
	b := make([]byte, max(size, MinPayload))
	copy(b, payloadMagic)
	for i := payloadHeader; i < len(b); i++ {
		b[i] = 'x'
	}
	return b
}

// stamp writes t into a payload made by newPayload.
func stamp(b []byte, t time.Time) {
	const hex = "0123456789abcdef"
	v := uint64(t.UnixNano())
	for i := 15; i >= 0; i-- {
		b[len(payloadMagic)+i] = hex[v&0xf]
		v >>= 4
	}
}

// sentAt reads the send time from a payload.
func sentAt(b []byte) (time.Time, error) {
	if len(b) < payloadHeader || string(b[:len(payloadMagic)]) != payloadMagic {
		return time.Time{}, errNotBench
	}
	v, err := strconv.ParseUint(string(b[len(payloadMagic):payloadHeader]), 16, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %w", errNotBench, err)
	}
	return time.Unix(0, int64(v)), nil
}
