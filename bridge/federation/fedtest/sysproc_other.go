//go:build !linux

package fedtest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
