//go:build unix

package mqtt

import "syscall"

// rawWriter makes one non-blocking write(2) on a socket. Its callback for
// RawConn.Write is made once per connection (fn = w.write), not a closure
// per write; the caller serializes its use (queuedConn.mu).
type rawWriter struct {
	fn func(fd uintptr) bool
	p  []byte
	n  int
}

// try makes one non-blocking write(2) of p on the socket and returns how
// many bytes it took, 0 when it would block or failed (the writer goroutine
// then meets the error). Go's sockets are already in non-blocking mode;
// returning true keeps RawConn.Write from waiting for the socket.
func (w *rawWriter) try(raw syscall.RawConn, p []byte) int {
	w.p, w.n = p, 0
	err := raw.Write(w.fn)
	n := w.n
	w.p = nil
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func (w *rawWriter) write(fd uintptr) bool {
	w.n, _ = syscall.Write(int(fd), w.p)
	return true
}
