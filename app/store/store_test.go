package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
)

func TestOpenMigratesAndReopens(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v < 1 {
		t.Fatalf("schema version %d, %v", v, err)
	}
	if _, err := s.SaveSnapshot(ctx, "machine", time.Now(), []byte(`{"gpus":[]}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(ctx, file) // second open applies nothing and keeps data
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, body, err := s.LatestSnapshot(ctx, "machine")
	if err != nil || string(body) != `{"gpus":[]}` {
		t.Fatalf("snapshot after reopen: %q, %v", body, err)
	}
	if _, _, err := s.LatestSnapshot(ctx, "nothing"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("missing snapshot error %v, want ErrNotFound", err)
	}
}

// The window's screens (and a CLI run beside it) open a new database at
// the same time: each migration runs once, and every open succeeds (seen
// as "table snapshots already exists" on the Dashboard at first start).
func TestOpen_concurrentOpensOfANewDatabaseMigrateOnce(t *testing.T) {
	for round := 0; round < 5; round++ {
		file := filepath.Join(t.TempDir(), "state.db")
		errs := make(chan error, 6)
		for i := 0; i < cap(errs); i++ {
			go func() {
				s, err := Open(context.Background(), file)
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for i := 0; i < cap(errs); i++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

func TestSettingsAndLatestSnapshot(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Setting(ctx, "k"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("want ErrNotFound, got %v", err)
	}
	s.SetSetting(ctx, "k", "1")
	s.SetSetting(ctx, "k", "2")
	if v, _ := s.Setting(ctx, "k"); v != "2" {
		t.Fatalf("setting %q, want 2", v)
	}
	for i := 0; i < 5; i++ {
		s.SaveSnapshot(ctx, "machine", time.Now(), []byte{byte('0' + i)})
	}
	_, body, _ := s.LatestSnapshot(ctx, "machine")
	if string(body) != "4" {
		t.Fatalf("latest %q, want 4", body)
	}
}

func TestOpenRefusesUnwritableFolder(t *testing.T) {
	_, err := Open(context.Background(), "/proc/duobox/state.db")
	if err == nil {
		t.Fatal("opened a database under /proc")
	}
}

func TestSaveSnapshotsKeepsEachKindBounded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < 3*KeepSnapshots; i++ {
		if err := s.SaveSnapshots(ctx, time.Now(), Snapshot{"machine", []byte(`{}`)}, Snapshot{"recommendation", []byte{byte('a' + i%26)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, kind := range []string{"machine", "recommendation"} {
		var n int
		s.DB.QueryRow("SELECT count(*) FROM snapshots WHERE kind = ?", kind).Scan(&n)
		if n > KeepSnapshots+16 {
			t.Fatalf("%d %s snapshots kept, want at most %d", n, kind, KeepSnapshots+16)
		}
	}
	_, body, _ := s.LatestSnapshot(ctx, "recommendation")
	if string(body) != string(rune('a'+(3*KeepSnapshots-1)%26)) {
		t.Fatalf("latest %q", body)
	}
}
