package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// TestDocs_buildsARealIndexAndSearchesIt drives the screen over the real
// builder and the gateway's query on a small doc/ tree.
// The Settings screen's documentation index on the real use-case layer:
// built into DuoBox's default file under $DUOBOX_HOME, then searched.
func TestDocs_buildsARealIndexAndSearchesIt(t *testing.T) {
	b, home := realBed(t, l40s(t), noEngine)
	src := filepath.Join(t.TempDir(), "doc", "ci", "runners")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "tokens.md"), []byte("---\ntitle: Runner tokens\n---\n# Rotate a runner authentication token\n\nUse the API to rotate the token.\n"), 0o644)
	os.WriteFile(filepath.Join(src, "..", "index.md"), []byte("# CI/CD\n\nPipelines and jobs.\n"), 0o644)
	u := b.open()
	v := u.Docs

	test.Tap(v.Build) // nothing given: says what to fill in, builds nothing
	if !strings.Contains(v.State.Text, "Fix: fill in From or Version") {
		t.Fatalf("empty form: %q", v.State.Text)
	}
	test.Type(v.From, filepath.Dir(filepath.Dir(src))) // the doc/ folder
	test.Tap(v.Build)
	u.Wait()
	out := v.Output.Text
	if !strings.Contains(v.State.Text, "✓ Wrote "+out) || !strings.Contains(v.State.Text, "2 pages") || !strings.HasPrefix(out, home) {
		t.Fatalf("after build: %q (output %q)", v.State.Text, v.Output.Text)
	}
	test.Type(v.Query, "rotate runner token")
	test.Tap(v.Search)
	u.Wait()
	if !strings.Contains(v.Results.Text, "1. Runner tokens — /ci/runners/tokens.md") {
		t.Fatalf("search results %q", v.Results.Text)
	}

	test.Tap(v.Build) // the index exists now: refused without "Replace"
	u.Wait()
	if !strings.Contains(v.State.Text, "Problem:") {
		t.Fatalf("rebuild without Force: %q", v.State.Text)
	}
	noCLI(t, "the docs index", v.State.Text+v.Results.Text)
}

func TestDocs_withoutServicesSaysSoWithoutSendingToATerminal(t *testing.T) {
	b := newBed(t)
	u := b.open()
	if !u.Docs.Build.Disabled() || !strings.Contains(u.Docs.State.Text, "not available") || strings.Contains(u.Docs.State.Text, "duobox ") {
		t.Fatalf("state %q", u.Docs.State.Text)
	}
}
