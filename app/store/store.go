// Package store keeps DuoBox's shared operational state in one SQLite file
// (github.com/ncruces/go-sqlite3, pure Go): detection snapshots, settings, and
// what later features record (stack objects, health samples, upgrade history).
// Migrations are embedded SQL files applied in order at Open; add a feature's
// tables as the next numbered file in migrations/.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/ncruces/go-sqlite3/driver" // database/sql driver "sqlite3"

	"github.com/duobox/duobox/app"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is an open state database. Safe for concurrent use.
type Store struct {
	DB *sql.DB
	// ReadOnly is set on a database opened by OpenForReading when it cannot
	// be written: readers work, nothing is recorded.
	ReadOnly bool
}

// ErrNotWritable marks a state database that cannot be written (a full
// disk, a read-only folder); read-only commands open it with OpenForReading.
var ErrNotWritable = errors.New("the state database cannot be written")

// Open opens (creating if needed) the database at file and applies pending
// migrations. WAL and a busy timeout let the GUI and CLI share it.
func Open(ctx context.Context, file string) (*Store, error) {
	// private: the history names models, hosts and images (0600; SQLite
	// gives its -wal and -shm files the database file's mode)
	if f, err := os.OpenFile(file, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	for _, p := range []string{file, file + "-wal", file + "-shm"} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			os.Chmod(p, st.Mode().Perm()&^0o077)
		}
	}
	dsn := "file:" + file + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_pragma=foreign_keys(1)&_pragma=synchronous(normal)"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		return nil, fmt.Errorf("open state database %q: %w", file, err)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if full := diskFull(err, file); full != nil {
			return nil, full
		}
		return nil, &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(ErrNotWritable, err), Fix: "check that the folder is writable, or set DUOBOX_HOME to another folder",
			What: fmt.Sprintf("cannot open the state database %s: %v", file, err)}
	}
	s := &Store{DB: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		if full := diskFull(err, file); full != nil {
			return nil, full
		}
		return nil, err
	}
	return s, nil
}

// diskFull is app.DiskFull for the database file, marked ErrNotWritable.
func diskFull(err error, file string) error {
	p := app.DiskFull(err, filepath.Dir(file))
	if p == nil {
		return nil
	}
	p.Err = errors.Join(ErrNotWritable, p.Err)
	return p
}

// OpenForReading opens the database for a command that only reads (status,
// health, history): when it cannot be written (a full disk), it opens it
// read-only (no WAL index, no locks: what the last writer checkpointed) and
// says so in note; the caller records nothing then.
func OpenForReading(ctx context.Context, file string) (s *Store, note string, err error) {
	s, err = Open(ctx, file)
	if err == nil || !errors.Is(err, ErrNotWritable) {
		return s, "", err
	}
	if _, statErr := os.Stat(file); statErr != nil {
		return nil, "", err // nothing to read either
	}
	db, openErr := sql.Open("sqlite3", "file:"+file+"?mode=ro&immutable=1")
	if openErr == nil {
		if openErr = db.PingContext(ctx); openErr != nil {
			db.Close()
		}
	}
	if openErr != nil {
		return nil, "", err
	}
	what, _ := app.Describe(err, app.FaceCLI)
	return &Store{DB: db, ReadOnly: true}, what + "; reading it as it is, this run records nothing", nil
}

// Close closes the database.
func (s *Store) Close() error { return s.DB.Close() }

// migrate applies migrations/NNN_name.sql files above PRAGMA user_version,
// all in one transaction that holds the write lock.
func (s *Store) migrate(ctx context.Context) error {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return err
	}
	type mig struct {
		n    int
		name string
	}
	var all []mig
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		n, err := strconv.Atoi(num)
		if !ok || err != nil {
			return fmt.Errorf("migration %q: name must start with a number and '_'", e.Name())
		}
		all = append(all, mig{n, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n < all[j].n })
	newer := func(current int) error {
		if len(all) > 0 && current > all[len(all)-1].n {
			return app.Conflict(nil, "use the DuoBox version that wrote it, or move the state folder aside",
				"the state database has schema version %d, newer than this DuoBox knows (%d)", current, all[len(all)-1].n)
		}
		return nil
	}
	var current int
	if err := s.DB.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if len(all) == 0 || current >= all[len(all)-1].n {
		return newer(current)
	}
	// Two DuoBox processes (or a window's screens) may open a new database
	// at once: the version is read again under the write lock (BEGIN
	// IMMEDIATE waits out the other's migration), so each migration runs once.
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("lock the state database to migrate it: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if err := newer(current); err != nil {
		return err
	}
	for _, m := range all {
		if m.n <= current {
			continue
		}
		body, err := migrations.ReadFile(path.Join("migrations", m.name))
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("apply migration %s: %w", m.name, err)
		}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.n)); err != nil {
			return err
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}

// SchemaVersion returns the applied migration number.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.DB.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// Snapshot is one recorded result (JSON) of a kind ("machine", "recommendation").
type Snapshot struct {
	Kind string
	Body []byte
}

// KeepSnapshots is how many snapshots of each kind are kept.
const KeepSnapshots = 50

// SaveSnapshots records results taken at the same time in one transaction,
// pruning each kind to KeepSnapshots now and then (every 16 inserts), so
// the state file stays small without a delete on every command.
func (s *Store) SaveSnapshots(ctx context.Context, takenAt time.Time, snaps ...Snapshot) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save snapshots: %w", err)
	}
	defer tx.Rollback()
	at := takenAt.UTC().Format(time.RFC3339Nano)
	var first, last int64
	for i, sn := range snaps {
		res, err := tx.ExecContext(ctx, "INSERT INTO snapshots(kind, taken_at, body) VALUES (?, ?, ?)", sn.Kind, at, string(sn.Body))
		if err != nil {
			return fmt.Errorf("save %s snapshot: %w", sn.Kind, err)
		}
		if last, _ = res.LastInsertId(); i == 0 {
			first = last
		}
	}
	if last/16 != (first-1)/16 { // the ids crossed a multiple of 16: prune now
		for _, sn := range snaps {
			if _, err := tx.ExecContext(ctx, pruneSQL, sn.Kind, sn.Kind, KeepSnapshots); err != nil {
				return fmt.Errorf("prune %s snapshots: %w", sn.Kind, err)
			}
		}
	}
	return tx.Commit()
}

// SaveSnapshot records one result and returns its id.
func (s *Store) SaveSnapshot(ctx context.Context, kind string, takenAt time.Time, body []byte) (int64, error) {
	res, err := s.DB.ExecContext(ctx, "INSERT INTO snapshots(kind, taken_at, body) VALUES (?, ?, ?)", kind, takenAt.UTC().Format(time.RFC3339Nano), string(body))
	if err != nil {
		return 0, fmt.Errorf("save %s snapshot: %w", kind, err)
	}
	return res.LastInsertId()
}

// LatestSnapshot returns the newest snapshot of a kind, or app.ErrNotFound.
func (s *Store) LatestSnapshot(ctx context.Context, kind string) (takenAt time.Time, body []byte, err error) {
	var at, b string
	err = s.DB.QueryRowContext(ctx, "SELECT taken_at, body FROM snapshots WHERE kind = ? ORDER BY id DESC LIMIT 1", kind).Scan(&at, &b)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil, app.ErrNotFound
	}
	if err != nil {
		return time.Time{}, nil, err
	}
	takenAt, _ = time.Parse(time.RFC3339Nano, at)
	return takenAt, []byte(b), nil
}

const pruneSQL = "DELETE FROM snapshots WHERE kind = ? AND id NOT IN (SELECT id FROM snapshots WHERE kind = ? ORDER BY id DESC LIMIT ?)"

// Setting returns a setting's value, or app.ErrNotFound.
func (s *Store) Setting(ctx context.Context, key string) (string, error) {
	var v string
	err := s.DB.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", app.ErrNotFound
	}
	return v, err
}

// SetSetting stores a setting.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	_, err := s.DB.ExecContext(ctx, "INSERT INTO settings(key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
		key, value, time.Now().UTC().Format(time.RFC3339Nano))
	return err
}
