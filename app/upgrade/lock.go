package upgrade

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/filelock"
)

// The stack lock: every command that changes the stack (up, down, restart,
// upgrade, rollback, the GUI's same actions, reconcile) takes it, an
// flock(2) on a file in LockDir, which the kernel drops when the holder
// dies, so a crashed run never blocks the next one (Reconcile then finds its
// open record). The holder writes what it is into the file ("up", its pid,
// when it started), so a refused or waiting command can say who holds it.

// lock takes the stack's lock for op without waiting.
func (u *Upgrader) lock(stackName, op string) (unlock func(), err error) {
	l, held, err := filelock.TryLock(u.lockPath(stackName), 0o600)
	if err != nil {
		return nil, err
	}
	if held {
		return nil, app.Conflict(nil, "wait until it finishes ('duobox history' shows upgrades and rollbacks), then run the command again",
			"%s, so this %s cannot change the stack %q now", u.holder(stackName), operationName(op), stackName)
	}
	writeHolder(u.lockPath(stackName), op)
	return l.Unlock, nil
}

// Hold takes the stack's lock for op (down, restart), waiting while another
// command holds it; onWait, when set, is told once who that is. It returns
// when the lock is taken or ctx ends.
func (u *Upgrader) Hold(ctx context.Context, stackName, op string, onWait func(holder string)) (unlock func(), err error) {
	for waited := false; ; {
		l, held, err := filelock.TryLock(u.lockPath(stackName), 0o600)
		if err != nil {
			return nil, err
		}
		if !held {
			writeHolder(u.lockPath(stackName), op)
			return l.Unlock, nil
		}
		if !waited && onWait != nil {
			onWait(fmt.Sprintf("waiting: %s; this %s starts when it finishes", u.holder(stackName), operationName(op)))
		}
		waited = true
		select {
		case <-ctx.Done():
			return nil, app.Conflict(ctx.Err(), "run the command again once it has finished",
				"%s; this %s stopped waiting for it", u.holder(stackName), operationName(op))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// operationName names op in words both faces can show (the window must not
// print a CLI command, and the holder may be either): "deploy" for up.
func operationName(op string) string {
	if n, ok := map[string]string{"up": "deploy", "down": "stop"}[op]; ok {
		return n
	}
	return op
}

// writeHolder records who holds the lock: "op pid unix-seconds".
func writeHolder(path, op string) {
	_ = os.WriteFile(path, []byte(fmt.Sprintf("%s %d %d\n", op, os.Getpid(), time.Now().Unix())), 0o600)
}

// holder says who holds the stack's lock: "another DuoBox deploy (pid 4242,
// running since 14:02:11) is changing the stack".
func (u *Upgrader) holder(stackName string) string {
	data, _ := os.ReadFile(u.lockPath(stackName))
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "another DuoBox command is changing the stack"
	}
	since := ""
	if sec, err := strconv.ParseInt(f[2], 10, 64); err == nil {
		since = ", running since " + time.Unix(sec, 0).Format("15:04:05")
	}
	return fmt.Sprintf("another DuoBox %s (pid %s%s) is changing the stack", operationName(f[0]), f[1], since)
}

func (u *Upgrader) lockPath(stackName string) string {
	dir := u.LockDir
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "upgrade-"+stackName+".lock")
}
