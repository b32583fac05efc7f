package bundle

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"

	"github.com/duobox/duobox/app"
)

// freeBytes is the space available on the file system that holds dir (or
// its nearest existing parent).
func freeBytes(dir string) (uint64, error) {
	for {
		var st syscall.Statfs_t
		err := syscall.Statfs(dir, &st)
		if err == nil {
			return st.Bavail * uint64(st.Bsize), nil
		}
		parent := filepath.Dir(dir)
		if !errors.Is(err, syscall.ENOENT) || parent == dir {
			return 0, fmt.Errorf("read free space of %s: %w", dir, err)
		}
		dir = parent
	}
}

// checkFree refuses when dir's file system has less than need bytes free.
func checkFree(dir string, need int64, what string) error {
	free, err := freeBytes(dir)
	if err != nil || need <= 0 {
		return nil // cannot tell: the write itself will say
	}
	if free < uint64(need) {
		return app.Environment(nil, "free disk space there (or choose another place), then run the same command again",
			"not enough disk space for %s at %s: it needs %s, %s is free", what, dir, humanBytes(need), humanBytes(int64(free)))
	}
	return nil
}
