package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

func TestGitLab_snippetInEachFormWithCopyButtons(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	applied := false
	b.svc.ApplyGitLab = func(context.Context) (string, error) { applied = true; return "created 1 model", nil }
	u := b.open()
	selectTab(u, TabGitLab)
	v := u.GitLab
	if v.text == "" || !strings.Contains(v.Snippet.Text, "192.0.2.10") {
		t.Fatalf("default snippet %q", v.Snippet.Text)
	}
	if len(v.Values.Objects) == 0 || len(v.Models.Objects) < 4 {
		t.Fatalf("values %d, model rows %d", len(v.Values.Objects), len(v.Models.Objects))
	}
	if !strings.Contains(allText(v.Models), "custom_openai/") {
		t.Errorf("models %q", allText(v.Models))
	}
	tapButton(t, v.Models, "Copy")
	if got := b.app.Clipboard().Content(); got == "" || strings.Contains(got, "\n") {
		t.Errorf("Copy put %q on the clipboard", got)
	}

	v.Format.SetSelected("env")
	u.Wait()
	if !strings.Contains(v.Snippet.Text, "AI_GATEWAY_URL=http://192.0.2.10:5052") {
		t.Errorf("env snippet %q", v.Snippet.Text)
	}
	test.Tap(v.CopyAll)
	if got := b.app.Clipboard().Content(); got != v.text {
		t.Errorf("clipboard holds %q", got)
	}
	test.Type(v.Snippet, "x")
	if v.Snippet.Text != v.text {
		t.Error("the snippet can be edited")
	}
	test.Tap(v.Apply)
	u.Wait()
	if !applied || !strings.Contains(v.Applied.Text, "created 1 model") {
		t.Errorf("apply %v %q", applied, v.Applied.Text)
	}
}

func TestGitLab_withoutConfigSaysHowToGetOne(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabGitLab)
	if !strings.Contains(u.GitLab.Notes.Text, "Fix: write the deployment config first") {
		t.Errorf("notes %q", u.GitLab.Notes.Text)
	}
}
