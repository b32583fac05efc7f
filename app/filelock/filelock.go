// Package filelock takes exclusive flock(2) locks on lock files. flock locks
// belong to the open file, so two opens in one process exclude each other
// too, and the kernel drops a lock when its holder dies, so a crashed run
// never blocks the next one. huggingface_hub's filelock uses the same call.
package filelock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Lock is a held lock.
type Lock struct{ f *os.File }

// TryLock takes the lock on path (creating the file and its folder with
// perm) if it is free; held reports that someone else has it.
func TryLock(path string, perm os.FileMode) (l *Lock, held bool, err error) {
	dirPerm := perm | 0o100 | (perm&0o040)>>2 | (perm&0o004)>>2 // x wherever r
	if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
		return nil, false, fmt.Errorf("create lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return nil, false, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f}, false, nil
}

// Unlock releases the lock (closing the last descriptor releases the flock).
// It is safe on a nil Lock.
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
