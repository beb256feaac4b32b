package federation

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// A frame is the value of one inbox stream entry: every message one flush
// carries from one origin to one destination. Packing them costs one XADD
// per destination per flush instead of one per message.
//
//	byte     version (frameVersion)
//	uvarint  length of the origin incarnation, then its bytes
//	uvarint  floor: the lowest reliable seq the origin still holds for this
//	         destination; the receiver may skip anything below it
//	uvarint  record count
//	records: uvarint seq (0: unreliable), uvarint body length, body bytes
const frameVersion = 1

const (
	maxFrameBytes   = 64 << 10 // a frame is closed past this many body bytes
	maxFrameRecords = 4096
	maxOriginLen    = 128
)

// record is one message of a frame.
type record struct {
	seq  uint64 // reliable sequence number per (origin, destination); 0: unreliable
	body []byte
}

// frameHeader is what a frame says about its records.
type frameHeader struct {
	origin []byte // aliases the decoded buffer
	floor  uint64
}

var errFrame = errors.New("malformed frame")

// frameWriter builds one frame in a reusable buffer.
type frameWriter struct {
	buf   []byte
	count int
	cpos  int // where the count goes (written last)
	bytes int
}

// reset starts a frame from origin with floor.
func (w *frameWriter) reset(origin string, floor uint64) {
	w.buf = append(w.buf[:0], frameVersion)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(origin)))
	w.buf = append(w.buf, origin...)
	w.buf = binary.AppendUvarint(w.buf, floor)
	w.cpos = len(w.buf)
	w.count, w.bytes = 0, 0
}

// add appends a record.
func (w *frameWriter) add(seq uint64, body []byte) {
	w.buf = binary.AppendUvarint(w.buf, seq)
	w.buf = binary.AppendUvarint(w.buf, uint64(len(body)))
	w.buf = append(w.buf, body...)
	w.count++
	w.bytes += len(body)
}

// full reports whether the frame should be closed before adding n body bytes.
func (w *frameWriter) full(n int) bool {
	return w.count > 0 && (w.bytes+n > maxFrameBytes || w.count >= maxFrameRecords)
}

// finish returns the encoded frame: a fresh slice the caller owns.
func (w *frameWriter) finish() []byte {
	var cnt [binary.MaxVarintLen64]byte
	c := binary.PutUvarint(cnt[:], uint64(w.count))
	out := make([]byte, 0, len(w.buf)+c)
	out = append(out, w.buf[:w.cpos]...)
	out = append(out, cnt[:c]...)
	return append(out, w.buf[w.cpos:]...)
}

// decodeFrame parses a frame entirely before returning any record, so a
// corrupt frame delivers nothing. Records are appended to dst[:0]; their
// bodies alias b, capped so that appending to one cannot overwrite the next.
func decodeFrame(b []byte, dst []record) (frameHeader, []record, error) {
	var h frameHeader
	dst = dst[:0]
	if len(b) == 0 || b[0] != frameVersion {
		return h, dst, fmt.Errorf("%w: unknown version", errFrame)
	}
	p := 1
	uv := func(what string) (uint64, error) {
		v, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad %s at byte %d", errFrame, what, p)
		}
		p += n
		return v, nil
	}
	olen, err := uv("origin length")
	if err != nil {
		return h, dst, err
	}
	if olen == 0 || olen > maxOriginLen || olen > uint64(len(b)-p) {
		return h, dst, fmt.Errorf("%w: origin length %d", errFrame, olen)
	}
	h.origin = b[p : p+int(olen)]
	p += int(olen)
	if h.floor, err = uv("floor"); err != nil {
		return h, dst, err
	}
	count, err := uv("count")
	if err != nil {
		return h, dst, err
	}
	// Each record takes at least two bytes.
	if count > uint64(len(b)-p)/2 {
		return h, dst, fmt.Errorf("%w: %d records in %d bytes", errFrame, count, len(b)-p)
	}
	for i := uint64(0); i < count; i++ {
		seq, err := uv("seq")
		if err != nil {
			return h, dst[:0], err
		}
		n, err := uv("body length")
		if err != nil {
			return h, dst[:0], err
		}
		if n > uint64(len(b)-p) {
			return h, dst[:0], fmt.Errorf("%w: body of %d bytes past the end", errFrame, n)
		}
		dst = append(dst, record{seq: seq, body: b[p : p+int(n) : p+int(n)]})
		p += int(n)
	}
	if p != len(b) {
		return h, dst[:0], fmt.Errorf("%w: %d trailing bytes", errFrame, len(b)-p)
	}
	return h, dst, nil
}
