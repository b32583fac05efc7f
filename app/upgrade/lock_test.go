package upgrade

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
)

// TestStackLock_SaysWhoHoldsItAndDownWaits is issue 16 item 6 without an
// engine: a second up is refused naming the up that holds the lock (not
// "another upgrade or rollback"), and down/restart wait for it, saying who
// they wait for, and go on once it is released.
func TestStackLock_SaysWhoHoldsItAndDownWaits(t *testing.T) {
	u := &Upgrader{LockDir: t.TempDir()}
	unlock, err := u.lock("s", "up")
	if err != nil {
		t.Fatal(err)
	}
	_, err = u.lock("s", "up")
	want := fmt.Sprintf("another DuoBox deploy (pid %d, running since", os.Getpid())
	if app.KindOf(err) != app.KindConflict || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "upgrade or rollback") {
		t.Errorf("second up: %v", err)
	}
	if _, err := u.lock("s", "rollback"); err == nil || !strings.Contains(err.Error(), "this rollback cannot change the stack") {
		t.Errorf("rollback during up: %v", err)
	}
	waited := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		release, err := u.Hold(context.Background(), "s", "down", func(h string) { waited <- h })
		if release != nil {
			release()
		}
		done <- err
	}()
	select {
	case h := <-waited:
		if !strings.Contains(h, "waiting: "+want) || !strings.Contains(h, "this stop starts when it finishes") || strings.Contains(h, "duobox ") {
			t.Errorf("wait message %q", h)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("down did not wait")
	}
	select {
	case err := <-done:
		t.Fatalf("down went on while up held the lock: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("down did not take the released lock")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	unlock, _ = u.lock("s", "upgrade")
	defer unlock()
	if _, err := u.Hold(ctx, "s", "restart", nil); app.KindOf(err) != app.KindConflict || !strings.Contains(err.Error(), "another DuoBox upgrade") {
		t.Errorf("restart giving up: %v", err)
	}
}
