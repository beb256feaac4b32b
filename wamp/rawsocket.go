package wamp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gammazero/nexus/v3/transport/serialize"
)

// WAMP RawSocket (https://wamp-proto.org/wamp_latest_ietf.html#name-rawsocket-transport):
// a 4-byte handshake, then frames of a 4-byte header (message type, 24-bit
// length) and the serialized message.
const (
	rawMagic = 0x7F

	rawSerializerJSON    = 1
	rawSerializerMsgpack = 2
	rawSerializerCBOR    = 3

	rawErrSerializer = 1 // serializer unsupported
	rawErrReserved   = 3 // use of reserved bits

	rawFrameMessage = 0
	rawFramePing    = 1
	rawFramePong    = 2

	rawMaxLenExp = 15 // 2^(9+15) = 16 MiB, the largest a client may announce
)

// rawHandshake reads the client's opening 4 bytes and answers them. It returns
// the serializer chosen and the largest message the client accepts.
func rawHandshake(conn net.Conn, maxSize int, deadline time.Time) (serialize.Serializer, string, int, error) {
	_ = conn.SetDeadline(deadline)
	defer conn.SetDeadline(time.Time{}) //nolint:errcheck
	var hs [4]byte
	if _, err := io.ReadFull(conn, hs[:]); err != nil {
		return nil, "", 0, fmt.Errorf("rawsocket handshake: %w", err)
	}
	if hs[0] != rawMagic || hs[2] != 0 || hs[3] != 0 {
		_, _ = conn.Write([]byte{rawMagic, rawErrReserved << 4, 0, 0})
		return nil, "", 0, fmt.Errorf("%w: rawsocket handshake with bad magic or reserved bits", ErrInvalidMessage)
	}
	var ser serialize.Serializer
	var name string
	switch hs[1] & 0x0F {
	case rawSerializerJSON:
		ser, name = &serialize.JSONSerializer{}, "json"
	case rawSerializerMsgpack:
		ser, name = &serialize.MessagePackSerializer{}, "msgpack"
	case rawSerializerCBOR:
		ser, name = &serialize.CBORSerializer{}, "cbor"
	default:
		_, _ = conn.Write([]byte{rawMagic, rawErrSerializer << 4, 0, 0})
		return nil, "", 0, fmt.Errorf("%w: rawsocket serializer %d unsupported", ErrInvalidMessage, hs[1]&0x0F)
	}
	clientMax := 1 << (9 + int(hs[1]>>4))
	ours := lengthExponent(maxSize)
	if _, err := conn.Write([]byte{rawMagic, ours<<4 | hs[1]&0x0F, 0, 0}); err != nil {
		return nil, "", 0, fmt.Errorf("rawsocket handshake: %w", err)
	}
	return ser, name, clientMax, nil
}

// lengthExponent is the largest e with 2^(9+e) <= maxSize: the limit announced
// to the client never exceeds what the server accepts.
func lengthExponent(maxSize int) byte {
	e := 0
	for e < rawMaxLenExp && 1<<(9+e+1) <= maxSize {
		e++
	}
	return byte(e)
}

// rawFrames carries WAMP messages over a RawSocket connection.
type rawFrames struct {
	conn     net.Conn
	maxRecv  int
	maxSend  int
	idle     time.Duration
	mu       sync.Mutex // serializes writes: pongs come from the reader
	hdr      [4]byte
	writeHdr [4]byte

	readDeadline  time.Time // last set; setting a deadline resets a runtime timer
	writeDeadline time.Time // guarded by mu
}

func (f *rawFrames) ReadFrame(deadline time.Time) ([]byte, error) {
	for {
		if !deadline.Equal(f.readDeadline) {
			if err := f.conn.SetReadDeadline(deadline); err != nil {
				return nil, err
			}
			f.readDeadline = deadline
		}
		if _, err := io.ReadFull(f.conn, f.hdr[:]); err != nil {
			return nil, err
		}
		kind := f.hdr[0] & 0x07
		if f.hdr[0]&^0x07 != 0 || kind > rawFramePong {
			return nil, fmt.Errorf("%w: rawsocket frame type %#x", ErrInvalidMessage, f.hdr[0])
		}
		n := int(f.hdr[1])<<16 | int(f.hdr[2])<<8 | int(f.hdr[3])
		if n > f.maxRecv {
			return nil, fmt.Errorf("%w: %d bytes, limit %d", errFrameTooLarge, n, f.maxRecv)
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(f.conn, b); err != nil {
			return nil, err
		}
		switch kind {
		case rawFrameMessage:
			return b, nil
		case rawFramePing:
			if err := f.writeFrame(rawFramePong, b, time.Now().Add(f.idle)); err != nil {
				return nil, err
			}
		}
		// A ping or a pong proves the client is alive.
		if f.idle > 0 {
			deadline = time.Now().Add(f.idle)
		}
	}
}

func (f *rawFrames) WriteFrame(b []byte, deadline time.Time) error {
	if len(b) > f.maxSend {
		return fmt.Errorf("%w: %d bytes, client accepts %d", errFrameTooLarge, len(b), f.maxSend)
	}
	return f.writeFrame(rawFrameMessage, b, deadline)
}

func (f *rawFrames) WritePing(deadline time.Time) error {
	return f.writeFrame(rawFramePing, nil, deadline)
}

func (f *rawFrames) writeFrame(kind byte, b []byte, deadline time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !deadline.Equal(f.writeDeadline) {
		if err := f.conn.SetWriteDeadline(deadline); err != nil {
			return err
		}
		f.writeDeadline = deadline
	}
	binary.BigEndian.PutUint32(f.writeHdr[:], uint32(len(b)))
	f.writeHdr[0] = kind
	bufs := net.Buffers{f.writeHdr[:], b}
	_, err := bufs.WriteTo(f.conn)
	return err
}

func (f *rawFrames) Shutdown(time.Time) { _ = f.conn.Close() }

func (f *rawFrames) Close() error {
	err := f.conn.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
