package wamp

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"
)

// errFrameTooLarge reports a message over the configured maximum size.
var errFrameTooLarge = errors.New("message exceeds maximum size")

// wsFrames carries WAMP messages in WebSocket messages, text for JSON and
// binary otherwise, as the WAMP WebSocket subprotocols require.
type wsFrames struct {
	ws            *websocket.Conn
	maxSize       int64 // bytes per message, after inflating
	compressMin   int   // shorter messages go uncompressed (permessage-deflate)
	payloadType   int
	readDeadline  time.Time // last set; setting a deadline resets a runtime timer
	writeDeadline time.Time
}

// newWSFrames limits reads to maxSize and, when idle > 0, lets each pong from
// the client extend the read deadline by idle, so a quiet but live client stays.
func newWSFrames(ws *websocket.Conn, payloadType int, maxSize int64, idle time.Duration, compressMin int) *wsFrames {
	ws.SetReadLimit(maxSize)
	// gorilla echoes a close frame's code, and a close without one is echoed
	// without one, which clients such as autobahn-js take for an unclean end.
	// A close is answered with 1000 unless the client named another code.
	ws.SetCloseHandler(func(code int, _ string) error {
		if code == websocket.CloseNoStatusReceived {
			code = websocket.CloseNormalClosure
		}
		msg := websocket.FormatCloseMessage(code, "")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		return nil
	})
	if idle > 0 {
		ws.SetPongHandler(func(string) error {
			return ws.SetReadDeadline(time.Now().Add(idle))
		})
	}
	return &wsFrames{ws: ws, payloadType: payloadType, maxSize: maxSize, compressMin: compressMin}
}

func (f *wsFrames) ReadFrame(deadline time.Time) ([]byte, error) {
	if !deadline.Equal(f.readDeadline) {
		if err := f.ws.SetReadDeadline(deadline); err != nil {
			return nil, err
		}
		f.readDeadline = deadline
	}
	for {
		t, b, err := f.readMessage()
		if errors.Is(err, websocket.ErrReadLimit) {
			// gorilla has already sent close code 1009 (message too big).
			return nil, fmt.Errorf("%w: %w", errFrameTooLarge, err)
		}
		if err != nil {
			return nil, err
		}
		if t == websocket.TextMessage || t == websocket.BinaryMessage {
			return b, nil
		}
	}
}

// readMessage is gorilla's ReadMessage bounded after inflating: gorilla's
// read limit counts the bytes on the wire, so a small compressed message
// could otherwise inflate without bound (a zip bomb). One that passes
// maxSize is refused with close code 1009 (message too big).
func (f *wsFrames) readMessage() (int, []byte, error) {
	t, r, err := f.ws.NextReader()
	if err != nil {
		return t, nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, f.maxSize+1))
	if err != nil {
		return t, nil, err
	}
	if int64(len(b)) > f.maxSize {
		msg := websocket.FormatCloseMessage(websocket.CloseMessageTooBig, "message inflates beyond the size limit")
		_ = f.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
		return t, nil, fmt.Errorf("%w: inflated beyond %d bytes", errFrameTooLarge, f.maxSize)
	}
	return t, b, nil
}

func (f *wsFrames) WriteFrame(b []byte, deadline time.Time) error {
	if !deadline.Equal(f.writeDeadline) {
		if err := f.ws.SetWriteDeadline(deadline); err != nil {
			return err
		}
		f.writeDeadline = deadline
	}
	// Only has an effect when permessage-deflate was negotiated.
	f.ws.EnableWriteCompression(len(b) >= f.compressMin)
	return f.ws.WriteMessage(f.payloadType, b)
}

func (f *wsFrames) WritePing(deadline time.Time) error {
	return f.ws.WriteControl(websocket.PingMessage, nil, deadline)
}

func (f *wsFrames) Shutdown(deadline time.Time) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "goodbye")
	_ = f.ws.WriteControl(websocket.CloseMessage, msg, deadline)
	_ = f.ws.Close()
}

func (f *wsFrames) Close() error { return f.ws.Close() }
