package upgrade

import (
	"os"
	"path/filepath"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/filelock"
)

// lock takes the stack's upgrade lock without waiting: an flock(2) on a file
// in LockDir, which the kernel drops when the holder dies, so a crashed run
// never blocks the next one (Reconcile then finds its open record).
func (u *Upgrader) lock(stackName string) (unlock func(), err error) {
	l, held, err := filelock.TryLock(u.lockPath(stackName), 0o600)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, app.Conflict(nil, "wait until it finishes ('duobox history' shows it), then run the command again",
			"another upgrade or rollback of the stack %q is running", stackName)
	}
	return l.Unlock, nil
}

func (u *Upgrader) lockPath(stackName string) string {
	dir := u.LockDir
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "upgrade-"+stackName+".lock")
}
