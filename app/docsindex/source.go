package docsindex

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/duobox/duobox/app"
)

// Document is one markdown file of GitLab's doc/ folder as the gateway reads it.
type Document struct {
	// Name is the path under doc/ with a leading slash, e.g. "/user/index.md":
	// the gateway's metadata "filename".
	Name string
	// Text is the file's UTF-8 text after Python's universal-newline translation.
	Text string
}

// maxFileSize bounds one markdown file (GitLab's largest is well under 1 MiB);
// it keeps a corrupt or hostile archive from exhausting memory.
const maxFileSize = 64 << 20

const fixSource = "give --from a GitLab checkout or extracted archive (the folder holding doc/), its doc/ folder, or the .zip/.tar.gz/.tar.bz2 archive GitLab serves for a version tag"

// ReadSource reads every doc/**/*.md file from src: a folder (a GitLab
// checkout or extracted archive holding doc/, or the doc/ folder itself) or an
// archive (.zip, .tar.gz, .tar.bz2 or .tar, recognised by content). Documents
// come sorted by Name. A source without markdown, a file that cannot be read
// or is not UTF-8, or an archive that is not one is a BadInput problem.
func ReadSource(src string) ([]Document, error) {
	info, err := os.Stat(src)
	if err != nil {
		return nil, app.BadInput(fixSource, "cannot read the docs source %s: %v", src, err)
	}
	var docs []Document
	if info.IsDir() {
		docs, err = readDir(src)
	} else {
		docs, err = readArchive(src)
	}
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, app.BadInput(fixSource, "no markdown (*.md) files under doc/ in %s", src)
	}
	sort.Slice(docs, func(i, j int) bool { return docs[i].Name < docs[j].Name })
	return docs, nil
}

// docRoot finds the doc/ folder for a source folder: dir/doc, dir itself when
// it is named doc, or doc/ inside dir's only subfolder (an archive extracted
// into an empty folder).
func docRoot(dir string) (string, error) {
	if isDir(filepath.Join(dir, "doc")) {
		return filepath.Join(dir, "doc"), nil
	}
	if filepath.Base(filepath.Clean(dir)) == "doc" {
		return dir, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", app.BadInput(fixSource, "cannot list %s: %v", dir, err)
	}
	var subdirs []string
	for _, e := range entries {
		if e.IsDir() {
			subdirs = append(subdirs, e.Name())
		}
	}
	if len(subdirs) == 1 && isDir(filepath.Join(dir, subdirs[0], "doc")) {
		return filepath.Join(dir, subdirs[0], "doc"), nil
	}
	return "", app.BadInput(fixSource, "%s has no doc/ folder and is not one", dir)
}

func isDir(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.IsDir()
}

// readDir walks doc/ like the gateway's Path.glob("doc/**/*.md"): every name
// ending in ".md", hidden ones included, without descending into symlinked
// folders. A matching name that cannot be read as a file (a folder called
// x.md, a dangling symlink) is an error, as it is for the gateway's indexer.
func readDir(dir string) ([]Document, error) {
	root, err := docRoot(dir)
	if err != nil {
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil { // a doc/ that is a symlink is walked too
		return nil, app.BadInput(fixSource, "cannot read %s: %v", root, err)
	}
	var docs []Document
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return app.BadInput("make the folder readable or remove it", "cannot read %s: %v", p, err)
		}
		if p == root || !strings.HasSuffix(d.Name(), ".md") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		doc, err := readDocFile(p, "/"+filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		docs = append(docs, doc)
		return nil
	})
	return docs, err
}

func readDocFile(p, name string) (Document, error) {
	const fix = "fix or remove the file; the gateway's own indexer stops on it too"
	info, err := os.Stat(p)
	if err != nil {
		return Document{}, app.BadInput(fix, "cannot read markdown file %s: %v", p, err)
	}
	if info.IsDir() {
		return Document{}, app.BadInput(fix, "cannot read markdown file %s: it is a folder", p)
	}
	if info.Size() > maxFileSize {
		return Document{}, app.BadInput(fix, "markdown file %s is %d bytes, more than the %d a docs page can be", p, info.Size(), maxFileSize)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return Document{}, app.BadInput(fix, "cannot read markdown file %s: %v", p, err)
	}
	return newDocument(name, data, p)
}

// newDocument checks the text is UTF-8 (the gateway reads files as UTF-8 text
// and fails otherwise) and translates newlines as Python's text mode does.
func newDocument(name string, data []byte, where string) (Document, error) {
	if !utf8.Valid(data) {
		return Document{}, app.BadInput("convert the file to UTF-8 or remove it; the gateway's own indexer stops on it too",
			"markdown file %s is not UTF-8 text", where)
	}
	return Document{Name: name, Text: TranslateNewlines(string(data))}, nil
}

// Archive formats recognised by their first bytes.
var (
	zipMagic   = []byte("PK\x03\x04")
	emptyZip   = []byte("PK\x05\x06")
	gzipMagic  = []byte{0x1f, 0x8b}
	bzip2Magic = []byte("BZh")
)

// readArchive reads the doc/**/*.md entries of a GitLab archive. GitLab's
// archives hold one top folder (gitlab-<tag>[-doc]/) with doc/ inside; an
// archive whose entries start with doc/ directly works too.
func readArchive(file string) ([]Document, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, app.BadInput(fixSource, "cannot read the docs source %s: %v", file, err)
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	head = head[:n]
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind %s: %w", file, err)
	}
	var entries []archiveEntry
	switch {
	case bytes.HasPrefix(head, zipMagic), bytes.HasPrefix(head, emptyZip):
		entries, err = zipEntries(f)
	case bytes.HasPrefix(head, gzipMagic):
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bufio.NewReader(f)); err == nil {
			entries, err = tarEntries(zr)
		}
	case bytes.HasPrefix(head, bzip2Magic):
		entries, err = tarEntries(bzip2.NewReader(bufio.NewReader(f)))
	case len(head) >= 262 && string(head[257:262]) == "ustar":
		entries, err = tarEntries(bufio.NewReader(f))
	default:
		return nil, app.BadInput(fixSource, "%s is neither a folder nor a .zip, .tar.gz, .tar.bz2 or .tar archive", file)
	}
	if err != nil {
		var p *app.Problem
		if errors.As(err, &p) {
			return nil, err
		}
		return nil, app.BadInput("download the archive again, or extract it and give the folder", "cannot read archive %s: %v", file, err)
	}
	return docsFromEntries(file, entries)
}

// archiveEntry is one regular file of an archive whose name ends in ".md".
type archiveEntry struct {
	name string
	data []byte
}

// sizeError reports an entry too large to be a docs page.
func sizeError(name string, size int64) error {
	return app.BadInput("download the archive again, or extract it and give the folder",
		"archive entry %s is %d bytes, more than the %d a docs page can be", name, size, maxFileSize)
}

func zipEntries(f *os.File) ([]archiveEntry, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, info.Size())
	if err != nil {
		return nil, err
	}
	var out []archiveEntry
	for _, zf := range zr.File {
		if !zf.Mode().IsRegular() || !strings.HasSuffix(zf.Name, ".md") {
			continue
		}
		if zf.UncompressedSize64 > maxFileSize {
			return nil, sizeError(zf.Name, int64(zf.UncompressedSize64))
		}
		rc, err := zf.Open()
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", zf.Name, err)
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxFileSize+1))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", zf.Name, err)
		}
		out = append(out, archiveEntry{zf.Name, data})
	}
	return out, nil
}

func tarEntries(r io.Reader) ([]archiveEntry, error) {
	tr := tar.NewReader(r)
	var out []archiveEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || !strings.HasSuffix(h.Name, ".md") {
			continue
		}
		if h.Size > maxFileSize {
			return nil, sizeError(h.Name, h.Size)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", h.Name, err)
		}
		out = append(out, archiveEntry{h.Name, data})
	}
}

// docsFromEntries keeps the entries under the archive's doc/ folder: "doc/"
// at the top, or "<top>/doc/" when every entry shares one top folder.
func docsFromEntries(file string, entries []archiveEntry) ([]Document, error) {
	prefix := "doc/"
	for _, e := range entries {
		name := strings.TrimPrefix(path.Clean("/"+e.name), "/")
		if strings.HasPrefix(name, "doc/") {
			break
		}
		if top, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(rest, "doc/") {
			prefix = top + "/doc/"
			break
		}
	}
	var docs []Document
	for _, e := range entries {
		name := strings.TrimPrefix(path.Clean("/"+e.name), "/")
		rel, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		doc, err := newDocument("/"+rel, e.data, file+": "+e.name)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
	return docs, nil
}
