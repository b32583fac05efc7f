package ui

import (
	"context"
	"github.com/duobox/duobox/app/gitlab/gitlabtest"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
)

// The snippet comes from the real use-case layer (actions.Core.Snippet);
// Apply is a fake (no GitLab API stand-in for its endpoints yet).
func TestGitLab_snippetInEachFormWithCopyButtons(t *testing.T) {
	b, real, _ := realCoreBed(t)
	b.svc.Snippet = real.Snippet
	applied := false
	b.svc.ApplyGitLab = func(context.Context) (string, error) { applied = true; return "created 1 model", nil }
	u := b.open()
	selectTab(u, TabGitLab)
	v := u.GitLab
	if v.text == "" || !strings.Contains(v.Snippet.Text, "192.0.2.10") {
		t.Fatalf("default snippet %q", v.Snippet.Text)
	}
	noCLI(t, "GitLab notes", v.Notes.Text)
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

// realCoreBed is a bed with a saved config whose screens that need no
// container engine can be wired to the real use-case layer: the returned
// services are actions.Core's over the bed's config with DuoBox's folders
// in a temp $DUOBOX_HOME (returned too), as cmd/duobox wires them.
func realCoreBed(t *testing.T) (*bed, Services, string) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	return b, ServicesFrom(&actions.Core{ConfigPath: b.cfgPath}), home
}

// gitLabAPI is the stand-in GitLab (app/gitlab/gitlabtest: GitLab's
// documented REST and GraphQL API, as strict as the schema of the version it
// plays) at 18.2.1, accepting only token, an administrator's when admin.
func gitLabAPI(t *testing.T, token string, admin bool) *gitlabtest.Server {
	f := gitlabtest.New(t, "18.2.1-ee")
	f.Token, f.Admin = token, admin
	return f
}

// Connect on the real use-case layer: a wrong token is refused and stored
// nowhere; the right one is stored 0600, and GitLab's version becomes the
// version of every screen; a token without administrator rights connects
// with a warning that Apply cannot work.
func TestGitLab_connectStoresTheTokenOnlyWhenGitLabAcceptsIt(t *testing.T) {
	b, real, home := realCoreBed(t)
	b.svc.ConnectGitLab = real.ConnectGitLab
	srv := gitLabAPI(t, "glpat-admin", true)
	u := b.open()
	selectTab(u, TabGitLab)
	v := u.GitLab
	if v.URL.Text != "https://gitlab.example.com" {
		t.Errorf("URL not taken from the config: %q", v.URL.Text)
	}
	tokenFile := filepath.Join(home, "config", "secrets", "gitlab_token")
	v.URL.SetText(srv.URL())
	test.Type(v.Token, "glpat-wrong")
	test.Tap(v.Connect)
	u.Wait()
	if v.Connection.Importance != widget.DangerImportance || !strings.Contains(v.Connection.Text, "Problem:") || strings.Contains(v.Connection.Text, "duobox ") {
		t.Errorf("wrong token: %q", v.Connection.Text)
	}
	if found := findFile(t, home, "gitlab_token"); found != "" {
		t.Fatalf("a refused token was stored at %s", found)
	}

	v.Token.SetText("")
	test.Type(v.Token, "glpat-admin")
	test.Tap(v.Connect)
	u.Wait()
	if v.Connection.Importance != widget.SuccessImportance || !strings.Contains(v.Connection.Text, "GitLab 18.2.1") || !strings.Contains(v.Connection.Text, "root") {
		t.Errorf("right token: %q", v.Connection.Text)
	}
	if v.Token.Text != "" || v.Connect.Disabled() {
		t.Errorf("after connecting: token field %q, Connect disabled %v", v.Token.Text, v.Connect.Disabled())
	}
	tokenFile = findFile(t, home, "gitlab_token")
	if st, err := os.Stat(tokenFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file %s: %v %v", tokenFile, st, err)
	}
	if got := u.Choose.Version.Text; !strings.HasPrefix(got, "18.2") {
		t.Errorf("Choose's version %q, want GitLab's", got)
	}

	// Connect again with the stored token and a non-admin one.
	b2, real2, _ := realCoreBed(t)
	b2.svc.ConnectGitLab = real2.ConnectGitLab
	u2 := b2.open()
	selectTab(u2, TabGitLab)
	u2.GitLab.URL.SetText(gitLabAPI(t, "glpat-user", false).URL())
	test.Type(u2.GitLab.Token, "glpat-user")
	test.Tap(u2.GitLab.Connect)
	u2.Wait()
	if u2.GitLab.Connection.Importance != widget.WarningImportance || !strings.Contains(u2.GitLab.Connection.Text, "Apply is not possible") ||
		strings.Contains(u2.GitLab.Connection.Text, "duobox ") {
		t.Errorf("non-admin token: %q", u2.GitLab.Connection.Text)
	}
}

// findFile is the path of the file called name under root, or "".
func findFile(t *testing.T, root, name string) string {
	t.Helper()
	found := ""
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == name {
			found = p
		}
		return nil
	})
	return found
}

// Export on the real use-case layer: compose and docker-run are one file
// each, saved where the user says under the name they give (a save
// dialog offering the usual name); Helm writes two files into a folder.
func TestGitLab_exportSavesOneFileOrFillsAFolderPerFormat(t *testing.T) {
	b, real, _ := realCoreBed(t)
	b.svc.Export = real.Export
	u := b.open()
	out := t.TempDir()
	u.pickFolder = func(_ string, done func(string)) { done(filepath.Join(out, "helm")) }
	selectTab(u, TabGitLab)
	v := u.GitLab
	// The chosen model is gated: without a token Helm's cluster could not
	// download it, and the fix is the window's field, not a CLI flag.
	v.ExportFormat.SetSelected("helm")
	test.Tap(v.Export)
	u.Wait()
	if v.Exported.Importance != widget.DangerImportance || !strings.Contains(v.Exported.Text, "Hugging Face token field") ||
		strings.Contains(v.Exported.Text, "--") || strings.Contains(v.Exported.Text, "duobox ") {
		t.Errorf("gated model without a token: %q", v.Exported.Text)
	}
	dirs, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dirs.Secrets(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirs.Secrets(), stack.SecretHFToken), []byte("hf_"+strings.Repeat("a", 34)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var offered []string
	u.pickSave = func(_, name string, done func(string)) {
		offered = append(offered, name)
		done(filepath.Join(out, "mine-"+name))
	}
	u.pickFolder = func(_ string, done func(string)) {
		offered = append(offered, "folder")
		done(filepath.Join(out, "helm"))
	}
	for _, tc := range []struct {
		format, offer string
		files         []string
		mode          os.FileMode
		want          string
	}{
		{"compose", "compose.yaml", []string{"mine-compose.yaml"}, 0o644, "services:"},
		{"docker-run", "duobox-run.sh", []string{"mine-duobox-run.sh"}, 0o755, "docker run"},
		{"helm", "folder", []string{"helm/values.yaml", "helm/vllm.yaml"}, 0o644, "kind: Deployment"},
	} {
		offered = nil
		v.ExportFormat.SetSelected(tc.format)
		test.Tap(v.Export)
		u.Wait()
		if len(offered) != 1 || offered[0] != tc.offer {
			t.Errorf("%s: offered %v, want %s", tc.format, offered, tc.offer)
		}
		if v.Exported.Importance != widget.SuccessImportance {
			t.Fatalf("%s: %q", tc.format, v.Exported.Text)
		}
		var all string
		for _, f := range tc.files {
			p := filepath.Join(out, f)
			body, err := os.ReadFile(p)
			st, _ := os.Stat(p)
			if err != nil || st.Mode().Perm() != tc.mode || !strings.Contains(v.Exported.Text, p) {
				t.Fatalf("%s: %s: %v, mode %v, screen %q", tc.format, p, err, st, v.Exported.Text)
			}
			all += string(body)
		}
		if !strings.Contains(all, tc.want) {
			t.Errorf("%s: files lack %q", tc.format, tc.want)
		}
	}
}

// Apply on the real use-case layer against the stand-in GitLab: after
// Connect stored an administrator's token, Apply creates the model entry,
// points the features at it and sets the AI Gateway URL in GitLab, and says
// so in the window's words; a second Apply changes nothing.
func TestGitLab_applySetsGitLabUpThroughItsAPI(t *testing.T) {
	b, real, _ := realCoreBed(t)
	b.svc.ConnectGitLab, b.svc.ApplyGitLab = real.ConnectGitLab, real.ApplyGitLab
	gl := gitLabAPI(t, "glpat-admin", true)
	u := b.open()
	selectTab(u, TabGitLab)
	v := u.GitLab
	v.URL.SetText(gl.URL())
	test.Type(v.Token, "glpat-admin")
	test.Tap(v.Connect)
	u.Wait()
	if v.Apply.Disabled() {
		t.Fatalf("Apply disabled after an administrator connected: %q", v.Connection.Text)
	}
	test.Tap(v.Apply)
	u.Wait()
	if v.Applied.Importance == widget.DangerImportance || strings.Contains(v.Applied.Text, "Problem:") {
		t.Fatalf("apply failed: %q", v.Applied.Text)
	}
	noCLI(t, "Apply", v.Applied.Text)
	if gl.GatewayURL == "" || !strings.Contains(gl.GatewayURL, "192.0.2.10") {
		t.Errorf("GitLab's AI Gateway URL after Apply: %q", gl.GatewayURL)
	}
	if len(gl.Models) == 0 || len(gl.Features) == 0 {
		t.Errorf("GitLab after Apply: models %v, features %v", gl.Models, gl.Features)
	}
	sent := len(gl.Mutations)
	test.Tap(v.Apply)
	u.Wait()
	if len(gl.Mutations) != sent {
		t.Errorf("a second Apply sent %v", gl.Mutations[sent:])
	}
	noCLI(t, "Apply again", v.Applied.Text)
}
