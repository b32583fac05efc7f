package docsindex

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/ext/fts5"

	"github.com/duobox/duobox/app"
)

// Row is one doc_index row as the gateway's indexer writes it.
type Row struct {
	Processed, Content, Metadata string
}

// RowOf turns a document into its row: the text as content, Process(text) as
// processed, and Metadata(name) as metadata.
func RowOf(d Document) Row {
	return Row{Processed: Process(d.Text), Content: d.Text, Metadata: Metadata(d.Name)}
}

// BuildOptions tune Build.
type BuildOptions struct {
	// Force replaces an existing output file; without it Build refuses.
	Force bool
	// Progress, when set, is called after each row is written.
	Progress func(done, total int)
}

// Build writes the index of docs to out. It writes a temporary file beside
// out and renames it into place only when complete, so out is either the
// previous file or the whole new index, never a partial one. An existing out
// is refused unless opts.Force is set.
func Build(ctx context.Context, docs []Document, out string, opts BuildOptions) (Info, error) {
	if len(docs) == 0 {
		return Info{}, app.BadInput(fixSource, "no markdown files to index")
	}
	if err := checkOutput(out, opts.Force); err != nil {
		return Info{}, err
	}
	dir := filepath.Dir(out)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Info{}, app.Environment(err, "choose another -o path or make the folder writable", "cannot create folder %s: %v", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return Info{}, app.Environment(err, "choose another -o path or make the folder writable", "cannot write in %s: %v", dir, err)
	}
	tmpName := tmp.Name()
	tmp.Close()
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmpName)
		}
	}()
	if err := writeIndex(ctx, tmpName, docs, opts.Progress); err != nil {
		return Info{}, err
	}
	if err := syncFile(tmpName); err != nil {
		return Info{}, err
	}
	if err := os.Chmod(tmpName, 0o644); err != nil {
		return Info{}, fmt.Errorf("set mode of %s: %w", tmpName, err)
	}
	// Checked again just before the rename: another process may have created it meanwhile.
	if err := checkOutput(out, opts.Force); err != nil {
		return Info{}, err
	}
	if err := os.Rename(tmpName, out); err != nil {
		return Info{}, app.Environment(err, "choose another -o path", "cannot move the new index to %s: %v", out, err)
	}
	committed = true
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return Inspect(out)
}

// checkOutput refuses a folder, and an existing file unless force is set.
func checkOutput(out string, force bool) error {
	info, err := os.Stat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return app.BadInput("choose another -o path", "cannot check the output path %s: %v", out, err)
	case info.IsDir():
		return app.BadInput("give a file name, for example "+filepath.Join(out, "docs.db"), "the output path %s is a folder", out)
	case !force:
		return &app.Problem{Kind: app.KindBadInput, Remedy: app.RemedyReplaceIndex, What: fmt.Sprintf("the output file %s already exists", out)}
	}
	return nil
}

const (
	bulkAutomergeSQL  = "INSERT INTO doc_index(doc_index, rank) VALUES ('automerge', 16)"
	resetAutomergeSQL = "DELETE FROM doc_index_config WHERE k = 'automerge'"
)

// writeIndex creates the gateway's schema in file and inserts one row per
// document in one transaction. Rows are computed by worker goroutines while
// SQLite inserts them in document order.
func writeIndex(parent context.Context, file string, docs []Document, progress func(done, total int)) (err error) {
	defer func() {
		if err != nil && parent.Err() != nil {
			err = parent.Err() // SQLite reports the cancellation as "interrupted"
		}
	}()
	ctx, cancel := context.WithCancel(parent)
	rows := make([]Row, len(docs))
	ready := make([]chan struct{}, len(docs))
	for i := range ready {
		ready[i] = make(chan struct{})
	}
	next := make(chan int, len(docs))
	for i := range docs {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)-1) {
		wg.Go(func() {
			for i := range next {
				if ctx.Err() != nil {
					return
				}
				rows[i] = RowOf(docs[i])
				close(ready[i])
			}
		})
	}
	defer func() {
		cancel() // on failure the workers stop at their next document
		wg.Wait()
	}()

	db, err := openDB(ctx, file, false)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close %s: %w", file, cerr)
		}
	}()
	db.SetInterrupt(ctx)
	// None of these is stored in the file. The temporary file is discarded on
	// any failure, so SQLite's journal and fsyncs would only cost time.
	if err := db.Exec("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -65536"); err != nil {
		return fmt.Errorf("set up %s: %w", file, err)
	}
	if err := db.Exec(createTableSQL + "; " + userVersionSQL + "; BEGIN"); err != nil {
		return fmt.Errorf("create the doc_index table: %w", err)
	}
	// FTS5 merges index segments as rows arrive; a bulk load does less
	// merging with a higher automerge. The setting is a row of the
	// doc_index_config shadow table, deleted again before COMMIT so that the
	// file holds exactly what the gateway's indexer writes (only the segment
	// layout differs, which queries do not see).
	if err := db.Exec(bulkAutomergeSQL); err != nil {
		return fmt.Errorf("tune the doc_index table: %w", err)
	}
	stmt, _, err := db.Prepare(insertSQL)
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	defer stmt.Close()
	for i := range docs {
		select {
		case <-ready[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		r := rows[i]
		rows[i] = Row{} // let the collector have the processed text once it is in SQLite
		if err := errors.Join(stmt.BindText(1, r.Processed), stmt.BindText(2, r.Content), stmt.BindText(3, r.Metadata)); err != nil {
			return fmt.Errorf("bind %s: %w", docs[i].Name, err)
		}
		if err := stmt.Exec(); err != nil {
			return writeError(fmt.Errorf("insert %s: %w", docs[i].Name, err), file)
		}
		if progress != nil {
			progress(i+1, len(docs))
		}
	}
	if err := db.Exec(resetAutomergeSQL); err != nil {
		return fmt.Errorf("reset the doc_index settings: %w", err)
	}
	if err := db.Exec("COMMIT"); err != nil {
		return writeError(fmt.Errorf("commit %s: %w", file, err), file)
	}
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", name, err)
	}
	return nil
}

// maxMemory bounds the SQLite heap of one connection (ncruces' default is
// 256 MiB, too tight for the page cache plus a large document and FTS5's
// pending terms).
const maxMemory = 1 << 30

// openDB opens file with FTS5 registered. The path is made absolute so that
// SQLite never reads it as a "file:" URI.
func openDB(ctx context.Context, file string, readOnly bool) (*sqlite3.Conn, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	ctx = sqlite3.WithMaxMemory(ctx, maxMemory)
	var db *sqlite3.Conn
	if readOnly {
		db, err = sqlite3.OpenFlags(abs, sqlite3.OPEN_READONLY)
	} else {
		db, err = sqlite3.OpenContext(ctx, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	if err := fts5.Register(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("register fts5: %w", err)
	}
	return db, nil
}

// writeError turns a full disk into an Environment problem; other errors pass.
func writeError(err error, file string) error {
	if errors.Is(err, sqlite3.FULL) || errors.Is(err, sqlite3.IOERR) {
		return app.Environment(err, "free disk space or choose another -o path", "cannot write the index next to %s: %v", file, err)
	}
	return err
}
