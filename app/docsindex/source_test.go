package docsindex

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
)

// wantDocs is what ReadSource should give for docsTree, sorted by name.
func wantDocs() []Document {
	var docs []Document
	for _, f := range docsTree {
		if f.metadata == "" {
			continue
		}
		name, _ := strings.CutPrefix(f.path, "doc")
		text := f.content
		if text == "" {
			text = f.raw
		}
		docs = append(docs, Document{Name: name, Text: text})
	}
	slices.SortFunc(docs, func(a, b Document) int { return strings.Compare(a.Name, b.Name) })
	return docs
}

func assertDocs(t *testing.T, src string, got []Document, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("ReadSource(%s): %v", src, err)
	}
	if want := wantDocs(); !slices.Equal(got, want) {
		t.Errorf("ReadSource(%s) =\n%q\nwant\n%q", src, got, want)
	}
}

func TestReadSource_Folders(t *testing.T) {
	dir := t.TempDir()
	checkout := filepath.Join(dir, "gitlab")
	writeTree(t, checkout, docsTree)
	linked := filepath.Join(t.TempDir(), "linked")
	os.MkdirAll(linked, 0o755)
	os.Symlink(filepath.Join(checkout, "doc"), filepath.Join(linked, "doc"))
	for _, src := range []string{
		linked,                          // doc/ is a symlink to the real folder
		checkout,                        // the folder holding doc/
		filepath.Join(checkout, "doc"),  // doc/ itself
		dir,                             // an archive extracted into a folder: its only subfolder holds doc/
		filepath.Join(checkout, "doc/"), // trailing slash
	} {
		got, err := ReadSource(src)
		assertDocs(t, src, got, err)
	}
}

// archiveFiles are docsTree's files under GitLab's archive top folder.
func archiveFiles(top string) []treeFile {
	var files []treeFile
	for _, f := range docsTree {
		f.path = top + f.path
		files = append(files, f)
	}
	return files
}

func tarBytes(t *testing.T, files []treeFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	// git archive writes a pax global header carrying the commit id first.
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "0123abcd"}}); err != nil {
		t.Fatal(err)
	}
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.path); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755})
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: 0o644, Size: int64(len(f.raw))}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.raw))
	}
	// A symlink named like a page is not a regular file: skipped, as zip extraction makes it a text file anyway.
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: files[0].path[:strings.Index(files[0].path, "doc/")+4] + "link.md", Linkname: "index.md"})
	tw.Close()
	return buf.Bytes()
}

func zipBytes(t *testing.T, files []treeFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.path)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.raw))
	}
	zw.Create("gitlab-v17.3.0-ee-doc/doc/folder.md/") // a folder entry named like a page
	zw.Close()
	return buf.Bytes()
}

func TestReadSource_Archives(t *testing.T) {
	dir := t.TempDir()
	top := "gitlab-v17.3.0-ee-doc/"
	tarData := tarBytes(t, archiveFiles(top))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarData)
	zw.Close()
	archives := map[string][]byte{
		"gitlab-v17.3.0-ee.zip":    zipBytes(t, archiveFiles(top)),
		"gitlab-v17.3.0-ee.tar.gz": gz.Bytes(),
		"gitlab-v17.3.0-ee.tar":    tarData,
		"doc-only.zip":             zipBytes(t, archiveFiles("")), // entries start with doc/
		"misnamed.zip":             gz.Bytes(),                    // recognised by content, not name
	}
	for name, data := range archives {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSource(p)
		assertDocs(t, name, got, err)
	}
	// bzip2: the standard library only decompresses, so this archive was made
	// once with tar and bzip2 (see the commit adding it) and is kept in testdata.
	got, err := ReadSource("testdata/gitlab-v17.3.0-ee-doc.tar.bz2")
	want := []Document{
		{Name: "/index.md", Text: "---\ntitle: Home\n---\n# Home\n"},
		{Name: "/user/ü.md", Text: "Ärger mit Runnern?\n"},
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("ReadSource(.tar.bz2) = %q, %v; want %q", got, err, want)
	}
}

func TestReadSource_BadInput(t *testing.T) {
	dir := t.TempDir()
	mk := func(name string, files ...treeFile) string {
		p := filepath.Join(dir, name)
		writeTree(t, p, files)
		return p
	}
	noMarkdown := mk("no-markdown", treeFile{path: "doc/README.txt", raw: "text"}, treeFile{path: "doc/UP.MD", raw: "x"})
	noDoc := mk("no-doc", treeFile{path: "README.md", raw: "# readme"})
	folderPage := mk("folder-page", treeFile{path: "doc/a.md", raw: "a"}, treeFile{path: "doc/weird.md/b.txt", raw: "b"})
	dangling := mk("dangling", treeFile{path: "doc/a.md", raw: "a"})
	os.Symlink(filepath.Join(dir, "nowhere.md"), filepath.Join(dangling, "doc/broken.md"))
	latin1 := mk("latin1", treeFile{path: "doc/a.md", raw: "caf\xe9\n"})
	notArchive := filepath.Join(dir, "docs.zip")
	os.WriteFile(notArchive, []byte("this is not an archive\n"), 0o644)
	corruptZip := filepath.Join(dir, "corrupt.zip")
	os.WriteFile(corruptZip, append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0xAB}, 200)...), 0o644)
	truncatedGz := filepath.Join(dir, "truncated.tar.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarBytes(t, archiveFiles("gitlab-master-doc/")))
	zw.Close()
	os.WriteFile(truncatedGz, gz.Bytes()[:gz.Len()/2], 0o644)
	emptyZip := filepath.Join(dir, "empty.zip")
	os.WriteFile(emptyZip, zipBytes(t, nil), 0o644)

	for src, want := range map[string]string{
		noMarkdown:                        "no markdown (*.md) files",
		noDoc:                             "has no doc/ folder",
		folderPage:                        "weird.md: it is a folder",
		dangling:                          "broken.md",
		latin1:                            "not UTF-8",
		notArchive:                        "neither a folder nor a .zip",
		corruptZip:                        "cannot read archive",
		truncatedGz:                       "cannot read archive",
		emptyZip:                          "no markdown (*.md) files",
		filepath.Join(dir, "missing.zip"): "cannot read the docs source",
	} {
		_, err := ReadSource(src)
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadSource(%s) = %v, want a bad-input error containing %q", filepath.Base(src), err, want)
		}
	}
}
