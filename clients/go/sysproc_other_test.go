//go:build !linux

package supervisordlite_test

import "syscall"

func daemonSysProcAttr() *syscall.SysProcAttr { return nil }
