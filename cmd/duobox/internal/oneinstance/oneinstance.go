// Package oneinstance keeps one DuoBox window per DuoBox home: the first
// window listens on a Unix socket in the state folder; a later launch
// connects to it, asks it to come forward, and exits instead of opening a
// second window (two windows would race on Fyne's preferences file and on
// the same stack).
package oneinstance

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"time"
)

// SocketName is the socket's file name in the state folder.
const SocketName = "window.sock"

// Claim makes this process the window of stateDir. It returns a listener
// whose connections mean "come forward" when this process is the first, or
// forwarded=true when another window was found and asked to come forward.
// Single-instance is best effort: when the socket cannot be used (a path too
// long for a Unix socket, a read-only folder) it returns (nil, false, nil)
// and the caller opens its window anyway.
func Claim(stateDir string) (ln net.Listener, forwarded bool, err error) {
	sock := filepath.Join(stateDir, SocketName)
	if len(sock) >= 104 { // sun_path limit (104 on the BSDs, 108 on Linux)
		return nil, false, nil
	}
	if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		c.Close() // the connection itself is the request: come forward
		return nil, true, nil
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, false, nil
	}
	_ = os.Remove(sock) // a socket left by a window that crashed
	ln, err = net.Listen("unix", sock)
	if err != nil {
		return nil, false, nil
	}
	return ln, false, nil
}

// Serve calls show for every later launch until ln is closed.
func Serve(ln net.Listener, show func()) {
	for {
		c, err := ln.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		c.Close()
		show()
	}
}
