package supervisordlite_test

import "syscall"

// The daemon gets SIGTERM if the test binary dies (a -timeout panic), so it never outlives us.
func daemonSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
