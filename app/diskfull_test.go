package app_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestAsDiskFullNamesTheDisk: any write that fails with ENOSPC becomes the
// problem that says which disk is full (exit 3); other errors pass as they are.
func TestAsDiskFullNamesTheDisk(t *testing.T) {
	dir := testbed.Tmpfs(t, 1<<20)
	testbed.FillDisk(t, dir)
	sub := filepath.Join(dir, "config")
	os.Mkdir(sub, 0o700) // a folder takes no blocks on tmpfs
	werr := os.WriteFile(filepath.Join(sub, "deployment.yaml"), make([]byte, 64<<10), 0o600)
	err := app.AsDiskFull(fmt.Errorf("save config: %w", werr))
	if app.KindOf(err) != app.KindEnvironment || !errors.Is(err, app.ErrDiskFull) ||
		!strings.Contains(err.Error(), "the disk holding "+sub+" is full (") || !strings.Contains(err.Error(), "move DUOBOX_HOME") {
		t.Fatalf("want the full disk named, got %v (from %v)", err, werr)
	}
	if what, fix := app.Describe(fmt.Errorf("save config: %w", werr), app.FaceWindow); !strings.Contains(what, "the disk holding "+sub+" is full") || fix == "" {
		t.Errorf("the window's words for it: %q, %q", what, fix)
	}
	other := errors.New("something else")
	if app.AsDiskFull(other) != other {
		t.Error("an error that is no full disk must pass unchanged")
	}
}
