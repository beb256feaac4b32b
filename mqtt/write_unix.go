//go:build unix

package mqtt

import "syscall"

// tryWrite makes one non-blocking write(2) of p on the socket and returns how
// many bytes it took, 0 when it would block or failed (the writer goroutine
// then meets the error). Go's sockets are already in non-blocking mode;
// returning true keeps RawConn.Write from waiting for the socket.
func tryWrite(raw syscall.RawConn, p []byte) int {
	var n int
	err := raw.Write(func(fd uintptr) bool {
		n, _ = syscall.Write(int(fd), p)
		return true
	})
	if err != nil || n < 0 {
		return 0
	}
	return n
}
