package actions

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/logs"
)

// Init (Configure → Save config, 'duobox init') writes the config and keeps
// the Hugging Face token out of it, in a 0600 file; a bad version changes nothing.
func TestInit_writesConfigAndTokenFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	c := &Core{Connect: func() (Engine, error) { return nil, errors.New("no engine in this test") }}
	m := hardware.Machine{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", Name: "NVIDIA L40S", MemoryTotal: 46068 << 20, MemoryFree: 45589 << 20}},
		Engine: hardware.Engine{Reachable: true, NvidiaRuntime: true}}
	path, _ := c.ConfigFile()

	res, err := c.Init(t.Context(), InitRequest{Machine: &m, HFToken: "hf_secret_token", Input: deploy.InitInput{GitLabURL: "https://gitlab.example.com/", GitLabVersion: "18.2",
		Host: "192.0.2.10", PublishAll: true, GatewayTag: "self-hosted-v18.2.1-ee"}})
	if err != nil {
		t.Fatal(err)
	}
	d := res.Config
	got, err := c.LoadConfig()
	if err != nil {
		t.Fatalf("load what the GUI saved: %v", err)
	}
	if got.Host != "192.0.2.10" || got.GitLab.URL != "https://gitlab.example.com" || len(got.Models) == 0 || got.Models[0].HFRepo != d.Models[0].HFRepo {
		t.Errorf("saved %+v", got)
	}
	body, _ := os.ReadFile(path)
	if strings.Contains(string(body), "hf_secret_token") {
		t.Error("the token is in the config file")
	}
	tokenFile := filepath.Join(home, "config", "secrets", stack.SecretHFToken)
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi, err)
	}

	if _, err := c.Init(t.Context(), InitRequest{Machine: &m, Replace: true, Input: deploy.InitInput{GitLabURL: "https://gitlab.example.com", GitLabVersion: "eighteen",
		Host: "192.0.2.99"}}); err == nil {
		t.Error("a bad version was saved")
	}
	if again, _ := config.Load(path); again.Host != "192.0.2.10" {
		t.Errorf("a refused save changed the config: host %q", again.Host)
	}
}

// The Logs screen reads the pipeline's ring through LogStream.
func TestLogStream_filtersAndExports(t *testing.T) {
	p := logs.NewPipeline(logs.Options{})
	in := "2026-11-27T03:00:00.000000000Z INFO 11-27 03:00:00 [api_server.py:1000] Starting vLLM API server\n" +
		"2026-11-27T03:00:01.000000000Z ERROR 11-27 03:00:01 torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n" +
		"2026-11-27T03:00:02.000000000Z INFO 11-27 03:00:02 [api_server.py:1000] GET /health 200\n"
	if err := p.Feed(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	s := &LogStream{ring: p.Ring(), cancel: func() {}}
	all, err := s.Lines(LogFilter{}, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d lines, %v", len(all), err)
	}
	errs, err := s.Lines(LogFilter{Level: "error"}, 0)
	if err != nil || len(errs) != 1 || errs[0].Summary == "" || errs[0].Fix == "" {
		t.Fatalf("error lines %+v, %v", errs, err)
	}
	if newer, _ := s.Lines(LogFilter{}, all[1].Seq); len(newer) != 1 || newer[0].Seq != all[2].Seq {
		t.Errorf("after %d: %+v", all[1].Seq, newer)
	}
	if _, err := s.Lines(LogFilter{Pattern: "("}, 0); err == nil {
		t.Error("a bad pattern passed")
	}
	out := filepath.Join(t.TempDir(), "export.log")
	if err := s.Export(out, LogFilter{Pattern: "health"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), "/health") {
		t.Errorf("export %q", b)
	}
}

// Without a GPU, Init does not switch to CPU mode on its own: it asks.
func TestInit_noGPUAsksForCPUMode(t *testing.T) {
	t.Setenv("DUOBOX_HOME", t.TempDir())
	c := &Core{Connect: func() (Engine, error) { return nil, errors.New("no engine in this test") }}
	m := hardware.Machine{Engine: hardware.Engine{Reachable: true}}
	in := deploy.InitInput{GitLabURL: "https://gitlab.example.com", GitLabVersion: "18.2", Host: "192.0.2.10", PublishAll: true, GatewayTag: "self-hosted-v18.2.1-ee"}
	_, err := c.Init(t.Context(), InitRequest{Machine: &m, Input: in})
	if !errors.Is(err, ErrNoGPU) {
		t.Fatalf("err = %v, want ErrNoGPU", err)
	}
	if _, err := c.LoadConfig(); err == nil {
		t.Fatal("a refused init wrote a config")
	}
	in.Mode = config.ModeCPU
	res, err := c.Init(t.Context(), InitRequest{Machine: &m, Input: in})
	if err != nil || res.Config.Mode != config.ModeCPU {
		t.Fatalf("cpu mode: %v %+v", err, res.Config.Mode)
	}
}
