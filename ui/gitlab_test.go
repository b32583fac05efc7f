package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
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
	if !strings.Contains(u.GitLab.Notes.Text, "Fix: fill in Configure and press Save config") || strings.Contains(u.GitLab.Notes.Text, "duobox ") {
		t.Errorf("notes %q", u.GitLab.Notes.Text)
	}
}

// Issue 12 item 2: the GitLab screen names the environment variable for
// 18.4–18.9 and the Admin UI checkbox (no variable) from 18.10.
func TestGitLab_agentPlatformTLSPerVersion(t *testing.T) {
	for _, tc := range []struct{ version, want, not string }{
		{"18.9", "DUO_AGENT_PLATFORM_SERVICE_SECURE", "Use TLS for the GitLab Duo Agent Platform service"},
		{"18.10", "Use TLS for the GitLab Duo Agent Platform service", "DUO_AGENT_PLATFORM_SERVICE_SECURE"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			b := newBed(t)
			if _, _, err := b.saveConfig(t.Context(), deploy.InitInput{GitLabURL: "https://gitlab.example.com", GitLabVersion: tc.version,
				Host: "192.0.2.10", PublishAll: true, Mode: config.ModeCPU}, ""); err != nil {
				t.Fatal(err)
			}
			u := b.open()
			selectTab(u, TabGitLab)
			values := allText(u.GitLab.Values)
			if !strings.Contains(values, tc.want) || strings.Contains(values, tc.not) {
				t.Errorf("GitLab %s values:\n%s", tc.version, values)
			}
			if !strings.Contains(u.GitLab.Notes.Text, "TLS") {
				t.Errorf("notes %q", u.GitLab.Notes.Text)
			}
		})
	}
}
