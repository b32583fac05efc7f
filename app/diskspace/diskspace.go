// Package diskspace reads how big a file system is and how much of it this
// user may still fill: the one free-space probe behind deploy's pull check,
// the machine report, bundles and the weights cache.
package diskspace

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
)

// Usage is the size of the file system that holds path and the space on it
// available to this user (statfs: blocks and available blocks).
func Usage(path string) (total, free uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}

// Free is the space available to this user on the file system that holds
// dir, or its nearest existing parent when dir does not exist yet.
func Free(dir string) (uint64, error) {
	for {
		_, free, err := Usage(dir)
		if err == nil {
			return free, nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, syscall.ENOENT) || parent == dir {
			return 0, fmt.Errorf("read free space of %s: %w", dir, err)
		}
		dir = parent
	}
}
