//go:build !unix

package mqtt

import "syscall"

// rawWriter is the direct-write fast path, unix only; elsewhere every write
// goes through the writer goroutine.
type rawWriter struct{ fn func(fd uintptr) bool }

func (w *rawWriter) try(syscall.RawConn, []byte) int { return 0 }
func (w *rawWriter) write(uintptr) bool              { return true }
