package store

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOpen_StateDatabaseIsPrivate: the state database (and a 0644 one left
// by an older DuoBox) is 0600 (issue 16, item 3).
func TestOpen_StateDatabaseIsPrivate(t *testing.T) {
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.db")
	old := filepath.Join(dir, "old.db")
	os.WriteFile(old, nil, 0o644)
	os.Chmod(old, 0o644)
	for _, file := range []string{fresh, old} {
		s, err := Open(t.Context(), file)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		for _, p := range []string{file, file + "-wal", file + "-shm"} {
			if st, err := os.Stat(p); err == nil && st.Mode().Perm() != 0o600 {
				t.Errorf("%s is %04o, want 0600", filepath.Base(p), st.Mode().Perm())
			}
		}
	}
}
