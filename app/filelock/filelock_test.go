package filelock

import (
	"path/filepath"
	"testing"
)

func TestTryLockExcludesASecondHolderUntilUnlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	a, held, err := TryLock(path, 0o600)
	if err != nil || held {
		t.Fatalf("first TryLock: %v, held=%v", err, held)
	}
	if b, held, err := TryLock(path, 0o600); err != nil || !held || b != nil {
		t.Fatalf("second TryLock while held: %v, held=%v", err, held)
	}
	a.Unlock()
	a.Unlock() // idempotent
	b, held, err := TryLock(path, 0o600)
	if err != nil || held {
		t.Fatalf("TryLock after Unlock: %v, held=%v", err, held)
	}
	b.Unlock()
}
