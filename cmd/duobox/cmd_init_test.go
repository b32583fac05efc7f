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
		"--host", "gpu-box.example.com", "--publish-all", "--nvidia-smi", fixtures+"h100.csv", "--log-dir", filepath.Join(home, "logs"), "--gateway-tag", "self-hosted-v18.5.2-ee")
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
	if code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "18.5", "--host", "gpu-box.example.com", "--publish-all", "--nvidia-smi", fixtures+"h100.csv"); code != 2 || !strings.Contains(errOut, "--force") {
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
	// --out writes through the window's writer: each path printed, the
	// script executable, owner-only once it holds secrets.
	for _, secrets := range []bool{false, true} {
		dir := filepath.Join(t.TempDir(), "out")
		args := []string{"export", "docker-run", "--out", dir}
		want := os.FileMode(0o755)
		if secrets {
			args, want = append(args, "--include-secrets"), 0o700
		}
		code, out, errOut := runCLI(t, args...)
		target := strings.TrimSpace(out)
		st, err := os.Stat(target)
		if code != 0 || filepath.Dir(target) != dir || err != nil || st.Mode().Perm() != want {
			t.Errorf("export --out (secrets %v): exit %d, printed %q, %v %v, want mode %v: %s", secrets, code, out, st, err, want, errOut)
		}
	}
}

func TestUpWithMalformedConfigEditExitsTwoBeforeTouchingTheEngine(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(home, "no-engine.sock")) // any engine call would fail differently
	if code, _, errOut := runCLI(t, "init", "--gitlab-url", "https://gitlab.example.com", "--gitlab-version", "17.9",
		"--host", "gpu-box.example.com", "--publish-all", "--mode", "cpu", "--log-dir", filepath.Join(home, "logs")); code != 0 {
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
		"--host", "gpu-box.example.com", "--publish-all", "--mode", "cpu", "--log-dir", filepath.Join(home, "logs")); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	code, _, errOut := runCLI(t, "up")
	if code != 3 || !strings.Contains(errOut, "not answering") {
		t.Fatalf("up without an engine: exit %d, %q", code, errOut)
	}
}

// TestInitTakesImagesHealthCommandsAndAgentPort: a user points the images
// elsewhere and gives the health commands and the Agent Platform port on the
// command line; a bad value is refused (exit 2) and writes nothing.
func TestInitTakesImagesHealthCommandsAndAgentPort(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	base := []string{"init", "--json", "--gitlab-url", "https://gitlab.example.com/", "--gitlab-version", "18.5",
		"--host", "gpu-box.example.com", "--publish-all", "--nvidia-smi", fixtures + "h100.csv", "--log-dir", filepath.Join(home, "logs"), "--gateway-tag", "self-hosted-v18.5.2-ee"}
	if code, _, errOut := runCLI(t, append(base, "--agent-port", "5052")...); code != 2 || !strings.Contains(errOut, "--agent-port 5052 is the gateway's --port") {
		t.Fatalf("same ports: exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(home, "config", "deployment.yaml")); !os.IsNotExist(err) {
		t.Fatalf("a refused init wrote the config: %v", err)
	}
	code, out, errOut := runCLI(t, append(base, "--agent-port", "50152", "--model-server-image", "mirror.example.com/vllm-cpu:v0.18.1",
		"--model-server-health-cmd", "curl -fsS http://127.0.0.1:8000/health", "--gateway-repository", "mirror.example.com/model-gateway", "--gateway-health-cmd", "none")...)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	var res struct {
		Config struct {
			ModelServer struct {
				Repository, Tag string
				HealthCmd       []string
			}
			Gateway struct {
				AgentPort int
				Image     struct {
					Repository, Tag string
					HealthCmd       []string
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c := res.Config
	if c.Gateway.AgentPort != 50152 || c.ModelServer.Repository != "mirror.example.com/vllm-cpu" || c.ModelServer.Tag != "v0.18.1" ||
		strings.Join(c.ModelServer.HealthCmd, " ") != "CMD curl -fsS http://127.0.0.1:8000/health" ||
		c.Gateway.Image.Repository != "mirror.example.com/model-gateway" || c.Gateway.Image.Tag != "self-hosted-v18.5.2-ee" || strings.Join(c.Gateway.Image.HealthCmd, " ") != "NONE" {
		t.Errorf("config %+v", c)
	}
}
