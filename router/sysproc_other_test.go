//go:build unix && !linux

package router

import "syscall"

// groupProcAttr puts a child in a process group of its own. Only Linux can
// also signal it when the test process dies.
func groupProcAttr(syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
