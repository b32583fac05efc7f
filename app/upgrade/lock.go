package upgrade

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/duobox/duobox/app"
)

// lock takes the stack's upgrade lock without waiting: an flock(2) on a file
// in LockDir, which the kernel drops when the holder dies, so a crashed run
// never blocks the next one (Reconcile then finds its open record).
func (u *Upgrader) lock(stackName string) (unlock func(), err error) {
	f, held, err := tryLock(u.lockPath(stackName))
	if err != nil {
		return nil, err
	}
	if held {
		return nil, app.Conflict(nil, "wait until it finishes ('duobox history' shows it), then run the command again",
			"another upgrade or rollback of the stack %q is running", stackName)
	}
	return func() { f.Close() }, nil
}

func (u *Upgrader) lockPath(stackName string) string {
	dir := u.LockDir
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "upgrade-"+stackName+".lock")
}

func tryLock(path string) (f *os.File, held bool, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, fmt.Errorf("create lock %s: %w", path, err)
	}
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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
	return f, false, nil
}
