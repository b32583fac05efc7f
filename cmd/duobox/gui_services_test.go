package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/logs"
	"github.com/duobox/duobox/ui"
)

// The window's Configure screen writes the same config as 'duobox init'
// and keeps the Hugging Face token out of it.
func TestGUIServices_saveConfigWritesConfigAndTokenFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	g := &globals{}
	svc, closeServices := guiServices(g)
	defer closeServices()
	s := &guiState{g: g}
	m := hardware.Machine{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", Name: "NVIDIA L40S", MemoryTotal: 46068 << 20, MemoryFree: 45589 << 20}},
		Engine: hardware.Engine{Reachable: true, NvidiaRuntime: true}}
	s.machine = &m

	d, _, err := s.saveConfig(t.Context(), deploy.InitInput{GitLabURL: "https://gitlab.example.com/", GitLabVersion: "18.2",
		Host: "192.0.2.10", PublishAll: true, GatewayTag: "self-hosted-v18.2.1-ee"}, "hf_secret_token")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.LoadConfig()
	if err != nil {
		t.Fatalf("load what the GUI saved: %v", err)
	}
	if got.Host != "192.0.2.10" || got.GitLab.URL != "https://gitlab.example.com" || len(got.Models) == 0 || got.Models[0].HFRepo != d.Models[0].HFRepo {
		t.Errorf("saved %+v", got)
	}
	body, _ := os.ReadFile(svc.ConfigPath)
	if strings.Contains(string(body), "hf_secret_token") {
		t.Error("the token is in the config file")
	}
	tokenFile := filepath.Join(home, "config", "secrets", stack.SecretHFToken)
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v %v", fi, err)
	}

	if _, _, err := s.saveConfig(t.Context(), deploy.InitInput{GitLabURL: "https://gitlab.example.com", GitLabVersion: "eighteen",
		Host: "192.0.2.99"}, ""); err == nil {
		t.Error("a bad version was saved")
	}
	if again, _ := config.Load(svc.ConfigPath); again.Host != "192.0.2.10" {
		t.Errorf("a refused save changed the config: host %q", again.Host)
	}
}

// The Logs screen reads the pipeline's ring through logStream.
func TestGUIServices_logStreamFiltersAndExports(t *testing.T) {
	p := logs.NewPipeline(logs.Options{})
	in := "2026-11-27T03:00:00.000000000Z INFO 11-27 03:00:00 [api_server.py:1000] Starting vLLM API server\n" +
		"2026-11-27T03:00:01.000000000Z ERROR 11-27 03:00:01 torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n" +
		"2026-11-27T03:00:02.000000000Z INFO 11-27 03:00:02 [api_server.py:1000] GET /health 200\n"
	if err := p.Feed(strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	var s ui.LogStream = &logStream{ring: p.Ring(), cancel: func() {}}
	all, err := s.Lines(ui.LogFilter{}, 0)
	if err != nil || len(all) != 3 {
		t.Fatalf("%d lines, %v", len(all), err)
	}
	errs, err := s.Lines(ui.LogFilter{Level: "error"}, 0)
	if err != nil || len(errs) != 1 || errs[0].Summary == "" || errs[0].Fix == "" {
		t.Fatalf("error lines %+v, %v", errs, err)
	}
	if newer, _ := s.Lines(ui.LogFilter{}, all[1].Seq); len(newer) != 1 || newer[0].Seq != all[2].Seq {
		t.Errorf("after %d: %+v", all[1].Seq, newer)
	}
	if _, err := s.Lines(ui.LogFilter{Pattern: "("}, 0); err == nil {
		t.Error("a bad pattern passed")
	}
	out := filepath.Join(t.TempDir(), "export.log")
	if err := s.Export(out, ui.LogFilter{Pattern: "health"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); strings.Count(string(b), "\n") != 1 || !strings.Contains(string(b), "/health") {
		t.Errorf("export %q", b)
	}
}
