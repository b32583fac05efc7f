package docsindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
)

// treeFile is one file of the test docs tree with the row the gateway's
// indexer would store for it, derived by hand from the rules (§9.3).
type treeFile struct {
	path      string // relative to the checkout
	raw       string // bytes on disk
	content   string // after universal-newline translation
	processed string
	metadata  string
}

// docsTree is a small GitLab checkout: front matter present, absent and
// unclosed, Unicode letters and punctuation, nested folders, CRLF, an empty
// page, a hidden page, and files the gateway's glob does not pick up.
var docsTree = []treeFile{
	{
		path: "doc/index.md",
		raw:  "---\nstage: none\ngroup: unassigned\n---\n\n# GitLab Docs\n\nWelcome!\n",
		// close marker at 34 ("---\n" 4 + "stage: none\n" 12 + "group: unassigned\n" 18); keep [36:-1]
		// = "-\n\n# GitLab Docs\n\nWelcome!"; lower; drop '-', '#', '!'
		processed: "\n\n gitlab docs\n\nwelcome",
		metadata:  `{"filename": "/index.md"}`,
	},
	{
		path: "doc/user/issues.md",
		raw:  "# Issues\n\nCreate an issue: it's easy.\n",
		// no "---": text unchanged (last "\n" kept); lower; drop '#', ':', '\'', '.'
		processed: " issues\n\ncreate an issue its easy\n",
		metadata:  `{"filename": "/user/issues.md"}`,
	},
	{
		path: "doc/user/project/draft.md",
		raw:  "---\ntitle: Draft\n\nSome text about runners.\n",
		// no closing marker: [1:-1] = "--\ntitle: Draft\n\nSome text about runners."
		processed: "\ntitle draft\n\nsome text about runners",
		metadata:  `{"filename": "/user/project/draft.md"}`,
	},
	{
		path: "doc/user/project/ünicode.md",
		raw:  "---\ntitle: Ünïcode\n---\nÜBER Straße — ΟΔΟΣ ΣΟΦΙΑΣ. İstanbul café (e\u0301) 日本語、テスト！ 🙂 x²½_y\u00a0z\n",
		// close at 19 code points; keep [21:-1] = "-\nÜBER ... z"; lower: ß stays, final sigmas,
		// İ → i + U+0307; drop '-', '—', '.', U+0307, '(', U+0301, ')', '、', '！', '🙂'; keep ², ½, _, NBSP
		processed: "\nüber straße  οδος σοφιας istanbul café e 日本語テスト  x²½_y\u00a0z",
		metadata:  `{"filename": "/user/project/\u00fcnicode.md"}`,
	},
	{
		path: "doc/development/rule.md",
		raw:  "# Rule\n\nAbove.\n\n---\n\nBelow the runner rule.\n",
		// a horizontal rule opens "front matter" that never closes: [1:-1]
		processed: " rule\n\nabove\n\n\n\nbelow the runner rule",
		metadata:  `{"filename": "/development/rule.md"}`,
	},
	{
		path:    "doc/administration/deep/er/crlf.md",
		raw:     "---\r\ntitle: x\r\n---\r\nLine one.\r\nLine two\r\n",
		content: "---\ntitle: x\n---\nLine one.\nLine two\n",
		// read as "---\ntitle: x\n---\n...": close at 13, keep [15:-1]
		processed: "\nline one\nline two",
		metadata:  `{"filename": "/administration/deep/er/crlf.md"}`,
	},
	{path: "doc/empty.md", raw: "", processed: "", metadata: `{"filename": "/empty.md"}`},
	{path: "doc/.hidden.md", raw: "Hidden page", processed: "hidden page", metadata: `{"filename": "/.hidden.md"}`},
	// not markdown for the gateway's glob "doc/**/*.md" (case-sensitive), or outside doc/
	{path: "doc/README.MD", raw: "# upper-case extension\n"},
	{path: "doc/img/logo.png", raw: "\x89PNG\r\n"},
	{path: "README.md", raw: "# The repository's README, outside doc/\n"},
}

// indexedRows are the rows docsTree should produce, sorted by metadata.
func indexedRows() []Row {
	var rows []Row
	for _, f := range docsTree {
		if f.metadata == "" {
			continue
		}
		content := f.content
		if content == "" {
			content = f.raw
		}
		rows = append(rows, Row{Processed: f.processed, Content: content, Metadata: f.metadata})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Metadata < rows[j].Metadata })
	return rows
}

func writeTree(t *testing.T, dir string, files []treeFile) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sqliteCLI runs the sqlite3 command-line tool (Debian package sqlite3) on db.
func sqliteCLI(t *testing.T, db, script string) string {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the sqlite3 command-line tool is missing: run scripts/setup-debian.sh")
		}
		t.Skip("the sqlite3 command-line tool is missing (apt-get install sqlite3)")
	}
	cmd := exec.Command("sqlite3", "-batch", "-bail", db)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sqlite3 %s: %v\n%s\nscript:\n%s", db, err, out, script)
	}
	return string(out)
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// cliGatewayQuery runs the gateway's reader query with the sqlite3 CLI and
// returns the filenames found, in order.
func cliGatewayQuery(t *testing.T, db, question string, limit int) []string {
	t.Helper()
	q := "SELECT metadata, content FROM doc_index WHERE processed MATCH " + sqlQuote(SanitizeQuery(question)) +
		" ORDER BY bm25(doc_index) LIMIT " + strconv.Itoa(limit) + ";"
	out := sqliteCLI(t, db, ".mode json\n"+q+"\n")
	var rows []struct{ Metadata string }
	if strings.TrimSpace(out) != "" {
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("decode sqlite3 output %q: %v", out, err)
		}
	}
	var names []string
	for _, r := range rows {
		var m struct{ Filename string }
		if err := json.Unmarshal([]byte(r.Metadata), &m); err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Filename)
	}
	return names
}

func TestBuild_DocsTree_ReadBySQLiteCLIWithGatewayQuery(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, filepath.Join(dir, "checkout"), docsTree)
	docs, err := ReadSource(filepath.Join(dir, "checkout"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "docs.db")
	var progress []int
	info, err := Build(context.Background(), docs, out, BuildOptions{Progress: func(done, total int) { progress = append(progress, done) }})
	if err != nil {
		t.Fatal(err)
	}
	want := indexedRows()
	if info.Rows != int64(len(want)) || info.UserVersion != 1 || info.SizeBytes == 0 || info.GitLabVersion != "" {
		t.Errorf("Build info = %+v, want %d rows, user_version 1", info, len(want))
	}
	if len(progress) != len(want) || progress[len(progress)-1] != len(want) {
		t.Errorf("progress calls = %v", progress)
	}
	// The gateway runs as a non-root user and reads the file through a bind mount.
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("output mode = %v, %v; want -rw-r--r--", st.Mode(), err)
	}

	// The schema, as the CLI sees it, equals the one the gateway's own statements create.
	ref := filepath.Join(dir, "reference.db")
	sqliteCLI(t, ref, createTableSQL+";\n"+userVersionSQL+";\n")
	schema := ".mode list\nSELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name;\nPRAGMA user_version;\nSELECT * FROM doc_index_config;\n"
	if got, want := sqliteCLI(t, out, schema), sqliteCLI(t, ref, schema); got != want {
		t.Errorf("schema differs from the gateway's:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(sqliteCLI(t, out, "SELECT sql FROM sqlite_schema WHERE name = 'doc_index';"), "tokenize='porter trigram'") {
		t.Error("doc_index is not created with tokenize='porter trigram'")
	}

	// Every row, read back by the CLI, is exactly the hand-derived one.
	var got []Row
	if err := json.Unmarshal([]byte(sqliteCLI(t, out, ".mode json\nSELECT processed, content, metadata FROM doc_index ORDER BY metadata;\n")), &got); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w Row
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("row %d:\n got  %q\n want %q", i, g, w)
			}
		}
	}

	// The gateway's query, run by the CLI and by Search, finds the same files in the same order.
	for _, c := range []struct {
		question string
		want     []string
	}{
		{"Straße?", []string{"/user/project/ünicode.md"}},
		{"ΟΔΟΣ", nil}, // not lower-cased by the gateway; FTS5's trigram tokenizer folds case itself
		{"runner", []string{"/development/rule.md", "/user/project/draft.md"}},
		{"issue: easy?", []string{"/user/issues.md"}},
		{"what's an issue?", []string{}}, // "whats" is in no page: FTS5 ANDs the terms
	} {
		cli := cliGatewayQuery(t, out, c.question, DefaultLimit)
		hits, err := Search(context.Background(), out, c.question, DefaultLimit)
		if err != nil {
			t.Fatalf("Search(%q): %v", c.question, err)
		}
		var names []string
		for _, h := range hits {
			names = append(names, h.Filename)
		}
		if !slices.Equal(names, cli) {
			t.Errorf("Search(%q) = %q, sqlite3 CLI = %q", c.question, names, cli)
		}
		if c.want != nil && !sameSet(cli, c.want) {
			t.Errorf("gateway query %q finds %q, want %q", c.question, cli, c.want)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestBuild_ExistingOutputRefusedWithoutForce(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "docs.db")
	if err := os.WriteFile(out, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	docs := []Document{{Name: "/a.md", Text: "# A\n"}}
	_, err := Build(context.Background(), docs, out, BuildOptions{})
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Build over an existing file: %v, want a bad-input error naming --force", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Fatalf("existing output changed to %q", b)
	}
	info, err := Build(context.Background(), docs, out, BuildOptions{Force: true})
	if err != nil || info.Rows != 1 {
		t.Fatalf("Build with Force: %+v, %v", info, err)
	}
	assertNoTempFiles(t, dir)

	_, err = Build(context.Background(), docs, dir, BuildOptions{Force: true})
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("Build onto a folder: %v", err)
	}
}

func TestBuild_FailureLeavesNoPartialIndex(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "docs.db")
	if err := os.WriteFile(out, []byte("previous index"), 0o644); err != nil {
		t.Fatal(err)
	}
	var docs []Document
	for i := range 50 {
		docs = append(docs, Document{Name: "/p" + strconv.Itoa(i) + ".md", Text: strings.Repeat("gitlab runner ", 200)})
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := Build(ctx, docs, out, BuildOptions{Force: true, Progress: func(done, _ int) {
		if done == 10 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build cancelled half-way: %v, want context.Canceled", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "previous index" {
		t.Fatalf("output replaced by a partial index (%d bytes)", len(b))
	}
	assertNoTempFiles(t, dir)
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") || strings.HasPrefix(e.Name(), ".docs-archive-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestInspect_RejectsWhatIsNotAGatewayIndex(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "text.db")
	os.WriteFile(text, []byte(strings.Repeat("not sqlite ", 100)), 0o644)
	other := filepath.Join(dir, "other.db")
	sqliteCLI(t, other, "CREATE TABLE doc_index (processed, content, metadata);\n")
	wrongTokenizer := filepath.Join(dir, "wrong.db")
	sqliteCLI(t, wrongTokenizer, "CREATE VIRTUAL TABLE doc_index USING fts5(processed, content, metadata);\nPRAGMA user_version = 1;\n")
	noVersion := filepath.Join(dir, "noversion.db")
	sqliteCLI(t, noVersion, createTableSQL+";\n")
	for file, want := range map[string]string{
		text:                          "not an SQLite database",
		other:                         "not the gateway's",
		wrongTokenizer:                "not the gateway's",
		noVersion:                     "user_version 0",
		filepath.Join(dir, "missing"): "cannot read",
		dir:                           "is a folder",
	} {
		_, err := Inspect(file)
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), want) {
			t.Errorf("Inspect(%s) = %v, want a bad-input error containing %q", filepath.Base(file), err, want)
		}
	}
	// An index written by the sqlite3 CLI with the gateway's statements is accepted.
	cliBuilt := filepath.Join(dir, "cli.db")
	sqliteCLI(t, cliBuilt, createTableSQL+";\n"+userVersionSQL+";\nINSERT INTO doc_index VALUES ('a b c', 'A b c', '{\"filename\": \"/a.md\"}');\n")
	info, err := Inspect(cliBuilt)
	if err != nil || info.Rows != 1 {
		t.Errorf("Inspect(CLI-built index) = %+v, %v", info, err)
	}
}

// TestBuild_SameRowsAsGatewayIndexerInCPython runs the gateway's indexer
// logic (testdata/gateway_indexer.py) in CPython on the same tree, random
// pages included, and compares every row. It needs python3 with FTS5 in its
// sqlite3 module, which DuoBox's setup does not install, so it skips without.
func TestBuild_SameRowsAsGatewayIndexerInCPython(t *testing.T) {
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the CPython comparison is skipped")
	}
	dir := t.TempDir()
	checkout := filepath.Join(dir, "checkout")
	files := slices.Clone(docsTree)
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", "9", "_", " ", "\n", "\t", "\r", "\r\n", "-", "---", ".", "'", "#", "`", "ß", "Σ", "ΑΣ", "İ", "\u0301", "\u00a0", "日本", "🙂", "½"}
	for i := range 200 {
		var b strings.Builder
		for range rnd.IntN(120) {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		files = append(files, treeFile{path: fmt.Sprintf("doc/random/%d/p%d.md", i%7, i), raw: b.String()})
	}
	writeTree(t, checkout, files)
	pyDB := filepath.Join(dir, "gateway.db")
	if out, err := exec.Command(python, "testdata/gateway_indexer.py", checkout, pyDB).CombinedOutput(); err != nil {
		if strings.Contains(string(out), "no such module: fts5") || strings.Contains(string(out), "tokenizer") {
			t.Skipf("python3's sqlite3 lacks FTS5 trigram: %s", out)
		}
		t.Fatalf("gateway_indexer.py: %v\n%s", err, out)
	}
	docs, err := ReadSource(checkout)
	if err != nil {
		t.Fatal(err)
	}
	ourDB := filepath.Join(dir, "duobox.db")
	if _, err := Build(context.Background(), docs, ourDB, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	dump := ".mode json\nSELECT processed, content, metadata FROM doc_index ORDER BY metadata;\n"
	theirs, ours := sqliteCLI(t, pyDB, dump), sqliteCLI(t, ourDB, dump)
	if theirs != ours {
		var a, b []Row
		json.Unmarshal([]byte(theirs), &a)
		json.Unmarshal([]byte(ours), &b)
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				t.Fatalf("row %d differs:\n gateway %q\n duobox  %q", i, a[i], b[i])
			}
		}
		t.Fatalf("gateway indexer wrote %d rows, duobox %d", len(a), len(b))
	}
	for _, q := range []string{"runner", "日本", "straße"} {
		if a, b := cliGatewayQuery(t, pyDB, q, DefaultLimit), cliGatewayQuery(t, ourDB, q, DefaultLimit); !slices.Equal(a, b) {
			t.Errorf("query %q: gateway's index gives %q, duobox's %q", q, a, b)
		}
	}
}
