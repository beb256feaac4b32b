//go:build !unix

package mqtt

import "syscall"

// tryWrite is the direct-write fast path, unix only; elsewhere every write
// goes through the writer goroutine.
func tryWrite(syscall.RawConn, []byte) int { return 0 }
