package testbed_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/bundles"
)

// startRefused runs the model-server stand-in with args and env, expecting
// vLLM's start-up refusal: exit status 1 with want in its output.
func startRefused(t *testing.T, args []string, env []string, want string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "modelserver")
	build := exec.Command("go", "build", "-o", bin, "./images/modelserver")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append(args, "--port", "0")...)
	cmd.Env = env
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v started although vLLM refuses it; output:\n%s", args, out)
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), want) {
		t.Fatalf("%v: %v, want exit 1 saying %q; output:\n%s", args, err, want, out)
	}
}

// hubSnapshot writes a hub-cache snapshot of repo holding files; returns the hub folder.
func hubSnapshot(t *testing.T, repo string, files ...string) string {
	t.Helper()
	hub := t.TempDir()
	dir := filepath.Join(hub, "models--"+strings.ReplaceAll(repo, "/", "--"), "snapshots", "abc123")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return hub
}

func TestModelServerRefusesWhatVLLMRefusesAtStart(t *testing.T) {
	const awq = "TechxGenus/Codestral-22B-v0.1-AWQ"
	hfOnly := hubSnapshot(t, awq, "config.json", "model.safetensors", "tokenizer.json")
	cases := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"auto tool choice without a parser", []string{"--model", "m", "--enable-auto-tool-choice"}, nil,
			"TypeError: Error: --enable-auto-tool-choice requires --tool-call-parser"},
		{"unknown parser", []string{"--model", "m", "--enable-auto-tool-choice", "--tool-call-parser", "codestral"}, nil,
			"KeyError: 'invalid tool call parser: codestral (chose from {"},
		{"mistral load format on an HF-format repo", []string{"--model", awq, "--load-format", "mistral"}, []string{"HF_HUB_CACHE=" + hfOnly},
			"RuntimeError: Cannot find any model weights with `" + awq + "`"},
		{"mistral config format without params.json", []string{"--model", awq, "--config-format", "mistral"}, []string{"HF_HUB_CACHE=" + hfOnly},
			"ValueError: Failed to load mistral 'params.json' config for model " + awq},
		{"CUDA image without a GPU", []string{"--model", "m"}, []string{"DUOBOX_FAKE_DEVICE=cuda"},
			"RuntimeError: Failed to infer device type"},
		{"CPU image given a GPU", []string{"--model", "m"}, []string{"NVIDIA_VISIBLE_DEVICES=0"},
			"vLLM's CPU image"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { startRefused(t, c.args, c.env, c.want) })
	}
}

// DuoBox's own command line for an Agent Platform model on a quantized
// variant (Codestral 22B AWQ, 18.5) starts on the strict stand-in over the
// files DuoBox downloads, and takes a tool call; a server started without
// the tool flags answers vLLM's 400 in vLLM's error shape.
func TestModelServerTakesDuoBoxsArgsAndRefusesToolsWithoutThem(t *testing.T) {
	const awq = "TechxGenus/Codestral-22B-v0.1-AWQ"
	d := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"}, Host: "h.example.com",
		Models: []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", Variant: awq, ServedName: "codestral", GPUs: []int{0},
			Features: []string{"code_generation", "agent_platform"}}}}.WithDefaults()
	cat, _ := bundles.Catalog()
	s, err := stack.Build(d, stack.Options{Catalog: cat, SecretsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for i := 0; i < len(s.Containers[0].Cmd); i++ {
		if a := s.Containers[0].Cmd[i]; a == "--port" {
			i++ // runFake picks the port
		} else {
			args = append(args, a)
		}
	}
	hub := hubSnapshot(t, awq, "config.json", "model.safetensors", "tokenizer.json")
	toolCall := `{"model":"codestral","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`

	with := runFake(t, "modelserver", args, "HF_HUB_CACHE="+hub)
	resp, err := http.Post(with+"/v1/chat/completions", "application/json", strings.NewReader(toolCall))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("tool call to DuoBox's server (%v): %v %v", args, resp, err)
	}

	without := runFake(t, "modelserver", []string{"--model", awq, "--served-model-name", "codestral"}, "HF_HUB_CACHE="+hub)
	resp, err = http.Post(without+"/v1/chat/completions", "application/json", strings.NewReader(toolCall))
	if err != nil || resp.StatusCode != 400 {
		t.Fatalf("tool call without auto tool choice: %v %v, want 400", resp, err)
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if body.Error.Message != `"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set` ||
		body.Error.Type != "BadRequestError" || body.Error.Code != 400 {
		t.Errorf("refusal body = %+v, want vLLM's ErrorResponse", body)
	}
	plain := `{"model":"codestral","messages":[{"role":"user","content":"hi"}]}`
	if resp, _ := http.Post(without+"/v1/chat/completions", "application/json", strings.NewReader(plain)); resp == nil || resp.StatusCode != 200 {
		t.Errorf("a chat request without tools must still work: %v", resp)
	}
}
