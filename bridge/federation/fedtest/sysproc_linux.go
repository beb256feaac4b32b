package fedtest

import "syscall"

// sysProcAttr has the kernel kill redis-server if the test binary dies
// without cleaning up (a panic, a timeout, a kill).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
