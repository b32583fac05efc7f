package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestFullDiskIsSaidAndReadersStillRead (issue 16): on a full disk the
// state database cannot be opened for writing: the problem says the disk is
// full, where and how much is free (exit 3), and OpenForReading reads it as
// it is, marked read-only, with a note.
func TestFullDiskIsSaidAndReadersStillRead(t *testing.T) {
	dir := testbed.Tmpfs(t, 2<<20)
	file := filepath.Join(dir, "duobox.db")
	ctx := context.Background()
	st, err := store.Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := st.SchemaVersion(ctx)
	st.Close()
	testbed.FillDisk(t, dir)

	_, err = store.Open(ctx, file)
	if app.KindOf(err) != app.KindEnvironment || !errors.Is(err, store.ErrNotWritable) ||
		!strings.Contains(err.Error(), "the disk holding "+dir+" is full (") || !strings.Contains(err.Error(), "move DUOBOX_HOME") ||
		strings.Contains(err.Error(), "check that the folder is writable") {
		t.Fatalf("want the full disk named, got %v", err)
	}
	ro, note, err := store.OpenForReading(ctx, file)
	if err != nil {
		t.Fatalf("a reader must still read: %v", err)
	}
	defer ro.Close()
	if got, err := ro.SchemaVersion(ctx); err != nil || got != want || !ro.ReadOnly || !strings.Contains(note, "records nothing") {
		t.Fatalf("read-only store: version %d (want %d), %v, read-only %v, note %q", got, want, err, ro.ReadOnly, note)
	}
}
