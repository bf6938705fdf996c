//go:build !linux

package supervisordlite

import (
	"net"
	"os"
	"syscall"
)

// peerUID, where SO_PEERCRED is not to be had: the owner of the socket file (the daemon refuses a
// directory that others can write, so nobody else can have put it there).
func peerUID(conn *net.UnixConn) (int, error) {
	addr, ok := conn.RemoteAddr().(*net.UnixAddr)
	if !ok || addr.Name == "" {
		return 0, syscall.ENOTSUP
	}
	info, err := os.Stat(addr.Name)
	if err != nil {
		return 0, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, syscall.ENOTSUP
	}
	return int(st.Uid), nil
}
