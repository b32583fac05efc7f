package app

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/duobox/duobox/app/diskspace"
	"github.com/duobox/duobox/app/units"
)

// ErrDiskFull marks a problem that says a disk is full.
var ErrDiskFull = errors.New("disk full")

// DiskFull is the problem of a write that failed because the disk holding
// dir is full — ENOSPC, SQLite's "database or disk is full", or the "disk
// I/O error" SQLite reports when it cannot extend its WAL index on a full
// disk — saying where and how much is free (exit 3); nil when err is
// something else or that disk has room.
func DiskFull(err error, dir string) *Problem {
	if err == nil || errors.Is(err, ErrDiskFull) {
		return nil
	}
	msg := err.Error()
	surely := errors.Is(err, syscall.ENOSPC) || strings.Contains(msg, "disk is full") || strings.Contains(msg, "no space left on device")
	if !surely && !strings.Contains(msg, "disk I/O error") {
		return nil
	}
	free, ferr := diskspace.Free(dir)
	if ferr != nil {
		return nil
	}
	if !surely && free >= 1<<20 {
		return nil // an I/O error with room left is not a full disk
	}
	return &Problem{Kind: KindEnvironment, Err: errors.Join(ErrDiskFull, err),
		What: fmt.Sprintf("the disk holding %s is full (%s free)", dir, units.HumanBytes(int64(min(free, math.MaxInt64)))),
		Fix:  "free space on that disk, or move DUOBOX_HOME to another disk"}
}

// AsDiskFull turns an error whose cause is ENOSPC on a named file into the
// disk-full problem naming that file's folder; other errors are returned as
// they are.
func AsDiskFull(err error) error {
	var pe *fs.PathError
	if !errors.Is(err, syscall.ENOSPC) || !errors.As(err, &pe) {
		return err
	}
	if p := DiskFull(err, filepath.Dir(pe.Path)); p != nil {
		return p
	}
	return err
}
