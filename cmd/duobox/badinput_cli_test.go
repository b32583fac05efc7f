package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"gopkg.in/yaml.v3"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
)

// homeSnapshot lists every path under home with its size and mode: "nothing
// changed on disk" is the same snapshot before and after.
func homeSnapshot(t *testing.T, home string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(home, p)
		out = append(out, fmt.Sprintf("%s %d %v %d", rel, info.Size(), info.Mode(), info.ModTime().UnixNano()))
		return nil
	})
	sort.Strings(out)
	return out
}

// badInputConfig is a valid deployment config that setup functions spoil.
func badInputConfig() config.Deployment {
	return config.Deployment{Name: "badin", GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host: "gpu-box.example.com", Mode: config.ModeCPU,
		Models:  []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3"}},
		Gateway: config.Gateway{PublishAll: true, Image: config.Image{Tag: "self-hosted-v18.5.0-ee"}}}.WithDefaults()
}

// writeRawConfig writes yaml as the deployment config without validating it.
func writeRawConfig(t *testing.T, home string, body []byte) {
	t.Helper()
	os.MkdirAll(filepath.Join(home, "config"), 0o700)
	if err := os.WriteFile(filepath.Join(home, "config", "deployment.yaml"), body, 0o600); err != nil {
		t.Fatal(err)
	}
}

// spoil writes the valid config, marshalled, then changes it with edit.
func spoil(edit func(string) string) func(t *testing.T, home string) {
	return func(t *testing.T, home string) {
		body, err := config.Marshal(badInputConfig())
		if err != nil {
			t.Fatal(err)
		}
		writeRawConfig(t, home, []byte(edit(string(body))))
	}
}

// TestBadInputs_ExitCodeMessageAndNothingChanged is issue 16's table of
// hostile and mistaken inputs: each is refused with its exit code (2 bad
// input, 3 environment — never 1, which means a bug), a message naming what
// was wrong, and nothing changed: the DUOBOX_HOME folder is as it was, and
// the engine is never asked (DOCKER_HOST points at a socket that does not
// exist, so a command that reached the engine would fail differently).
func TestBadInputs_ExitCodeMessageAndNothingChanged(t *testing.T) {
	tmp := t.TempDir()
	binTok := filepath.Join(tmp, "binary-token")
	junk := make([]byte, 100<<10)
	rand.Read(junk)
	os.WriteFile(binTok, junk, 0o600)
	aFile := filepath.Join(tmp, "a-file")
	os.WriteFile(aFile, []byte("x"), 0o600)
	init := []string{"init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "gpu-box.example.com", "--publish-all", "--mode", "cpu"}
	with := func(extra ...string) []string { return append(append([]string{}, init...), extra...) }
	cases := []struct {
		name   string
		args   []string
		setup  func(t *testing.T, home string)
		home   func(tmp string) string // DUOBOX_HOME other than a fresh folder
		code   int
		want   string
		forbid string
	}{
		// Security (items 1–3)
		{name: "weights pull --revision ../..", args: []string{"weights", "pull", "acme/tiny", "--revision", "../.."}, code: 2, want: "not a revision name"},
		{name: "weights pull --revision /etc", args: []string{"weights", "pull", "acme/tiny", "--revision", "/etc"}, code: 2, want: "not a revision name"},
		{name: "weights pull repo ../x", args: []string{"weights", "pull", "../../x"}, code: 2, want: "not a Hugging Face repo id"},
		{name: "init --host 999.1.1.1", args: []string{"init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "999.1.1.1"}, code: 2, want: "not a valid IP address"},
		{name: "init --host 10.0.0.999", args: []string{"init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "10.0.0.999"}, code: 2, want: "not a valid IP address"},
		{name: "init host not of this machine without --publish-all", args: []string{"init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "gpu-box.example.com", "--mode", "cpu"}, code: 2, want: "--publish-all"},
		{name: "init --hf-token-file 100 KB binary", args: with("--hf-token-file", binTok), code: 2, want: "far more than a token"},
		{name: "init --hf-token-file a folder", args: with("--hf-token-file", tmp), code: 2, want: "not a regular file"},
		{name: "init HF token with spaces", args: with("--hf-token-file", writeTemp(t, tmp, "spaces", "hf_abc def ghi")), code: 2, want: "one word"},
		// Errors that tell the truth
		{name: "DUOBOX_HOME is a file", args: []string{"status"}, home: func(string) string { return aFile }, code: 3, want: "is a file, not a folder"},
		{name: "DUOBOX_HOME on /proc", args: []string{"status"}, home: func(string) string { return "/proc/duobox-test" }, code: 3, want: "kernel file system"},
		{name: "--config names a folder", args: []string{"--config", tmp, "status"}, code: 2, want: "is a folder, not a config file"},
		{name: "empty env name in the config", args: []string{"up"}, setup: func(t *testing.T, home string) {
			d := badInputConfig()
			d.Gateway.Image.Env = map[string]string{"": "x"}
			body, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			writeRawConfig(t, home, body)
		}, code: 2, want: "not an environment variable name"},
		{name: "logs --from-file a folder", args: []string{"logs", "--from-file", tmp}, code: 2, want: "not a regular file"},
		{name: "up --timeout negative", args: []string{"up", "--timeout", "-5s"}, code: 2, want: "not a positive duration"},
		{name: "up --timeout 0", args: []string{"up", "--timeout", "0"}, code: 2, want: "not a positive duration"},
		// Values out of range
		{name: "init --port 0", args: with("--port", "0"), code: 2, want: "not a TCP port"},
		{name: "config port 70000", args: []string{"status"}, setup: spoil(func(s string) string { return strings.Replace(s, "port: 5052", "port: 70000", 1) }), code: 2, want: "not a TCP port"},
		{name: "config port 0 written out", args: []string{"status"}, setup: spoil(func(s string) string { return strings.Replace(s, "port: 5052", "port: 0", 1) }), code: 2, want: "gateway.port: 0 is not a TCP port"},
		{name: "config agent_port 0 written out", args: []string{"status"}, setup: spoil(func(s string) string { return strings.Replace(s, "agent_port: 50052", "agent_port: 0", 1) }), code: 2, want: "gateway.agent_port: 0 is not a TCP port"},
		{name: "config agent_port equal to port", args: []string{"status"}, setup: spoil(func(s string) string { return strings.Replace(s, "agent_port: 50052", "agent_port: 5052", 1) }), code: 2, want: "same port"},
		{name: "init --max-model-len 0", args: with("--max-model-len", "0"), code: 2, want: "--max-model-len 0"},
		{name: "init --max-model-len -5", args: with("--max-model-len", "-5"), code: 2, want: "--max-model-len -5"},
		{name: "init --max-model-len beyond any model", args: with("--max-model-len", "99999999"), code: 2, want: "larger than any model"},
		{name: "recommend --ram NaN", args: []string{"recommend", "--ram", "NaN"}, code: 2, want: "not a memory size"},
		{name: "recommend --ram Inf", args: []string{"recommend", "--ram", "Inf"}, code: 2, want: "not a memory size"},
		{name: "recommend --ram -3", args: []string{"recommend", "--ram", "-3"}, code: 2, want: "negative"},
		{name: "a 2 MB config", args: []string{"status"}, setup: func(t *testing.T, home string) {
			body, _ := config.Marshal(badInputConfig())
			writeRawConfig(t, home, append(body, []byte("# "+strings.Repeat("x", 2<<20)+"\n")...))
		}, code: 2, want: "a deployment config is at most"},
		{name: "detect --nvidia-smi on a binary", args: []string{"detect", "--nvidia-smi", binTok}, code: 2, want: "--nvidia-smi"},
		{name: "init --model path", args: with("--model", "../../etc/x"), code: 2, want: "not a model id"},
		{name: "init --gitlab-url javascript:", args: []string{"init", "--gitlab-url", "javascript:alert(1)", "--gitlab-version", "18.5", "--host", "gpu-box.example.com"}, code: 2, want: "scheme must be http or https", forbid: "https://javascript"},
		{name: "docs-index --source-url ftp", args: []string{"docs-index", "--version", "v18.5.0-ee", "--source-url", "ftp://example.com"}, code: 2, want: "not an http(s) URL"},
		{name: "docs-index --source-url javascript", args: []string{"docs-index", "--version", "v18.5.0-ee", "--source-url", "javascript:alert(1)"}, code: 2, want: "not an http(s) URL"},
	}
	handled := 0
	for i, c := range cases {
		hubCache := filepath.Join(tmp, fmt.Sprintf("hub-%d", i))
		t.Run(c.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			os.MkdirAll(home, 0o700)
			if c.home != nil {
				home = c.home(tmp)
			}
			t.Setenv("DUOBOX_HOME", home)
			t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(tmp, "no-engine.sock"))
			t.Setenv("HF_TOKEN", "")
			t.Setenv("HF_HUB_CACHE", hubCache)
			if c.setup != nil {
				c.setup(t, home)
			}
			before := homeSnapshot(t, home)
			var outb, errb bytes.Buffer
			code := run(context.Background(), c.args, &outb, &errb)
			errOut := errb.String()
			ok := true
			if code != c.code || !strings.Contains(errOut, c.want) || (c.forbid != "" && strings.Contains(errOut, c.forbid)) {
				t.Errorf("exit %d, want %d with %q: %s", code, c.code, c.want, errOut)
				ok = false
			}
			if after := homeSnapshot(t, home); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("a refused command changed DUOBOX_HOME:\nbefore %v\nafter  %v", before, after)
				ok = false
			}
			if entries, _ := os.ReadDir(hubCache); len(entries) > 0 {
				t.Errorf("a refused command wrote the hub cache")
				ok = false
			}
			if ok {
				handled++
			}
		})
	}
	t.Logf("bad inputs tried %d, handled %d", len(cases), handled)
}

func writeTemp(t *testing.T, dir, name, body string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
