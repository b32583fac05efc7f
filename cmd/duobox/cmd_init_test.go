package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitRefusesLoopbackHostAndWritesNothing(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "0.0.0.0"} {
		code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "17.9", "--host", host)
		if code != 2 || !strings.Contains(errOut, "do not use localhost") {
			t.Errorf("--host %s: exit %d, %q", host, code, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "config", "deployment.yaml")); err == nil {
		t.Fatal("a refused init wrote a config")
	}
}

func TestInitWritesConfigAndKeysThenExportsReferenceThem(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	code, out, errOut := runCLI(t, "init", "--json", "--gitlab-url", "https://gitlab.example.com/", "--gitlab-version", "18.5",
		"--host", "gpu-box.example.com", "--nvidia-smi", fixtures+"h100.csv", "--log-dir", filepath.Join(home, "logs"), "--gateway-tag", "self-hosted-v18.5.2-ee")
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	var res struct {
		Path   string
		Config struct {
			GitLab  struct{ URL string }
			Models  []struct{ HFRepo string }
			Gateway struct{ Image struct{ Tag string } }
		}
		NewKeys []string `json:"new_keys"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("init --json: %v\n%s", err, out)
	}
	if res.Config.Gateway.Image.Tag != "self-hosted-v18.5.2-ee" || len(res.Config.Models) == 0 || len(res.NewKeys) != 4 {
		t.Fatalf("init result %+v", res)
	}
	for _, k := range res.NewKeys {
		if st, err := os.Stat(k); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("key %s: %v %v", k, st, err)
		}
	}
	if code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "gpu-box.example.com", "--nvidia-smi", fixtures+"h100.csv"); code != 2 || !strings.Contains(errOut, "--force") {
		t.Errorf("second init without --force: exit %d %q", code, errOut)
	}
	for _, format := range []string{"compose", "docker-run", "helm"} {
		code, out, errOut := runCLI(t, "export", format)
		if code != 0 {
			t.Fatalf("export %s: exit %d: %s", format, code, errOut)
		}
		if strings.Contains(out, "PRIVATE KEY") || !strings.Contains(out, "self-hosted-v18.5.2-ee") {
			t.Errorf("export %s: secret inlined or tag missing", format)
		}
	}
	if code, _, _ := runCLI(t, "export", "podman"); code != 2 {
		t.Errorf("unknown export format: exit %d, want 2", code)
	}
}

func TestUpWithMalformedConfigEditExitsTwoBeforeTouchingTheEngine(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(home, "no-engine.sock")) // any engine call would fail differently
	if code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "17.9",
		"--host", "gpu-box.example.com", "--mode", "cpu", "--log-dir", filepath.Join(home, "logs")); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	cfg := filepath.Join(home, "config", "deployment.yaml")
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("gateway: [broken\n")
	f.Close()
	for _, cmd := range []string{"up", "status", "down"} {
		code, _, errOut := runCLI(t, cmd)
		if code != 2 || !strings.Contains(errOut, "deployment.yaml") || strings.Contains(errOut, "engine") {
			t.Errorf("%s with a malformed config: exit %d, %q", cmd, code, errOut)
		}
	}
}

func TestUpEngineUnreachableExitsThree(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(home, "no-engine.sock"))
	if code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "17.9",
		"--host", "gpu-box.example.com", "--mode", "cpu", "--log-dir", filepath.Join(home, "logs")); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	code, _, errOut := runCLI(t, "up")
	if code != 3 || !strings.Contains(errOut, "not answering") {
		t.Fatalf("up without an engine: exit %d, %q", code, errOut)
	}
}
