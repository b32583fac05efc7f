package docsindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/ncruces/go-sqlite3"

	"github.com/duobox/duobox/app"
)

// Info describes an index file.
type Info struct {
	Path string `json:"path"`
	// Rows is the number of doc_index rows: one per markdown file.
	Rows int64 `json:"rows"`
	// SizeBytes is the file's size.
	SizeBytes int64 `json:"size_bytes"`
	// UserVersion is PRAGMA user_version (the gateway writes 1).
	UserVersion int `json:"user_version"`
	// GitLabVersion is empty from Inspect: the gateway's schema has no place
	// for it and DuoBox stores nothing the gateway's indexer does not. Make
	// fills it in when it downloaded the docs for a tag.
	GitLabVersion string `json:"gitlab_version,omitempty"`
}

const fixNotIndex = "give a docs.db built by `duobox docs-index` or by the gateway's indexer"

// Inspect opens path read-only, checks that it is a gateway docs index (the
// doc_index table with the gateway's exact columns and tokenizer, user_version 1)
// and reports its row count and size. A file that is not such an index is a
// BadInput problem saying what differs.
func Inspect(path string) (Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		return Info{}, app.BadInput("build one with `duobox docs-index`", "cannot read the docs index %s: %v", path, err)
	}
	if st.IsDir() {
		return Info{}, app.BadInput(fixNotIndex, "the docs index %s is a folder", path)
	}
	db, err := openDB(context.Background(), path, true)
	if errors.Is(err, sqlite3.NOTADB) {
		return Info{}, app.BadInput(fixNotIndex, "%s is not an SQLite database", path)
	}
	if err != nil {
		return Info{}, app.BadInput(fixNotIndex, "cannot open the docs index %s: %v", path, err)
	}
	defer db.Close()
	info := Info{Path: path, SizeBytes: st.Size()}
	var schema string
	err = queryRow(db, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'doc_index'", func(s *sqlite3.Stmt) { schema = s.ColumnText(0) })
	switch {
	case errors.Is(err, sqlite3.NOTADB):
		return Info{}, app.BadInput(fixNotIndex, "%s is not an SQLite database", path)
	case errors.Is(err, errNoRow):
		return Info{}, app.BadInput(fixNotIndex, "%s has no doc_index table", path)
	case err != nil:
		return Info{}, app.BadInput(fixNotIndex, "cannot read the docs index %s: %v", path, err)
	case normalizeSQL(schema) != normalizeSQL(createTableSQL):
		return Info{}, app.BadInput(fixNotIndex, "%s's doc_index table is not the gateway's: %s", path, schema)
	}
	if err := queryRow(db, "PRAGMA user_version", func(s *sqlite3.Stmt) { info.UserVersion = s.ColumnInt(0) }); err != nil {
		return Info{}, fmt.Errorf("read user_version of %s: %w", path, err)
	}
	if info.UserVersion != UserVersion {
		return Info{}, app.BadInput(fixNotIndex, "%s has user_version %d; the gateway's index has %d", path, info.UserVersion, UserVersion)
	}
	if err := queryRow(db, "SELECT count(*) FROM doc_index", func(s *sqlite3.Stmt) { info.Rows = s.ColumnInt64(0) }); err != nil {
		return Info{}, app.BadInput(fixNotIndex, "cannot count the rows of %s: %v", path, err)
	}
	return info, nil
}

var errNoRow = errors.New("no row")

// queryRow runs a one-row query and hands the row to scan.
func queryRow(db *sqlite3.Conn, query string, scan func(*sqlite3.Stmt)) error {
	stmt, _, err := db.Prepare(query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	if !stmt.Step() {
		if err := stmt.Err(); err != nil {
			return err
		}
		return errNoRow
	}
	scan(stmt)
	return nil
}

// normalizeSQL makes two CREATE statements comparable: SQLite keeps the text
// as written, so only spacing and a trailing semicolon may differ.
func normalizeSQL(s string) string {
	return strings.TrimSuffix(strings.Join(strings.Fields(s), " "), ";")
}
