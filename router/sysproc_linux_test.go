package router

import "syscall"

// groupProcAttr puts a child in a process group of its own, so that
// everything it starts can be signalled at once, and has the kernel send it
// sig should the test process die first.
func groupProcAttr(sig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: sig}
}
