package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const fixtures = "../../app/hardware/testdata/nvidia-smi/"

// runCLI runs duobox in-process with an isolated DUOBOX_HOME.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if os.Getenv("DUOBOX_HOME") == "" || !strings.HasPrefix(os.Getenv("DUOBOX_HOME"), os.TempDir()) {
		t.Setenv("DUOBOX_HOME", t.TempDir())
	}
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestDetectJSONFromSavedNvidiaSMI(t *testing.T) {
	code, out, errOut := runCLI(t, "detect", "--json", "--nvidia-smi", fixtures+"two-4090-one-busy.csv", "--ram", "64")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m struct {
		GPUs []struct {
			Name       string `json:"name"`
			MemoryFree uint64 `json:"memory_free_bytes"`
		} `json:"gpus"`
		Memory struct {
			Total uint64 `json:"total_bytes"`
		} `json:"memory"`
		Probes []struct {
			Name, Source string
		} `json:"probes"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(m.GPUs) != 2 || m.GPUs[1].MemoryFree != 24140<<20 || m.Memory.Total != 64<<30 {
		t.Fatalf("got %+v", m)
	}
}

func TestRecommendJSONShape(t *testing.T) {
	code, out, errOut := runCLI(t, "recommend", "--json", "--nvidia-smi", fixtures+"h100.csv", "--gitlab-version", "18.5")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Machine json.RawMessage `json:"machine"`
		Models  []struct {
			HFRepo   string   `json:"hf_repo"`
			Name     string   `json:"name"`
			Features []string `json:"features"`
			Verdict  string   `json:"verdict"`
			Memory   struct {
				Total uint64 `json:"total_bytes"`
			} `json:"memory"`
		} `json:"models"`
		Recommendation []struct {
			HFRepo   string   `json:"hf_repo"`
			Features []string `json:"features"`
			Util     float64  `json:"gpu_memory_utilization"`
			MaxLen   int      `json:"max_model_len"`
			GPUIndex *int     `json:"gpu_index"`
		} `json:"recommendation"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Machine) == 0 || len(r.Models) < 5 || len(r.Recommendation) == 0 {
		t.Fatalf("shape: %s", out)
	}
	for _, m := range r.Models {
		if m.HFRepo == "" || m.Name == "" || m.Verdict == "" || m.Memory.Total == 0 || len(m.Features) == 0 {
			t.Fatalf("model entry incomplete: %+v", m)
		}
	}
	p := r.Recommendation[0]
	if p.HFRepo != "openai/gpt-oss-120b" || p.Util <= 0 || p.MaxLen == 0 || p.GPUIndex == nil || len(p.Features) != 3 {
		t.Fatalf("recommendation %+v", p)
	}
}

func TestRecommendWithoutGPUStillAnswers(t *testing.T) {
	code, out, errOut := runCLI(t, "recommend", "--nvidia-smi", fixtures+"no-devices.txt", "--gitlab-version", "17.9")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"No NVIDIA GPU found", "needs-gpu", "needs an NVIDIA GPU with at least"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBadInputExitsTwoWithAClearMessage(t *testing.T) {
	garbage := filepath.Join(t.TempDir(), "garbage.txt")
	os.WriteFile(garbage, []byte("\x00\x01 hello"), 0o600)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"detect", "--nvidia-smi", garbage}, "no \"name\" column"},
		{[]string{"detect", "--nvidia-smi", fixtures + "truncated.csv"}, "truncated"},
		{[]string{"detect", "--nvidia-smi", "/nonexistent"}, "cannot be read"},
		{[]string{"detect", "--gpu", "RTX 4090"}, "NAME:MiB"},
		{[]string{"recommend", "--context", "-5"}, "negative"},
		{[]string{"recommend", "--gitlab-version", "16.4"}, "no self-hosted models"},
		{[]string{"recommend", "--gitlab-version", "seventeen"}, "not a GitLab version"},
		{[]string{"recommend", "--gitlab-version", "18"}, "minor release"},
		{[]string{"detect", "--ram", "-1"}, "negative"},
		{[]string{"detect", "--bogus"}, "unknown flag"},
		{[]string{"detect", "extra"}, "--help"},
		{[]string{"nonsense"}, "--help"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tt.want)
			}
		})
	}
}

func TestBrokenOverlayWarnsButRecommends(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	os.MkdirAll(filepath.Join(home, "config"), 0o700)
	os.WriteFile(filepath.Join(home, "config", "catalog.yaml"), []byte("models: [oops"), 0o600)
	code, out, errOut := runCLI(t, "recommend", "--gpu", "A100:81920", "--gitlab-version", "17.9")
	if code != 0 || !strings.Contains(errOut, "catalog overlay ignored") || !strings.Contains(out, "Codestral") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
}

func TestHelpDocumentsExitStatus(t *testing.T) {
	code, out, _ := runCLI(t, "--help")
	if code != 0 || !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "2  bad input") {
		t.Fatalf("exit %d: %s", code, out)
	}
}

func TestDetectRecordsASnapshot(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	if code, _, errOut := runCLI(t, "detect", "--gpu", "T4:15360"); code != 0 {
		t.Fatal(errOut)
	}
	if _, err := os.Stat(filepath.Join(home, "state", "duobox.db")); err != nil {
		t.Fatalf("no state database: %v", err)
	}
}

// 'duobox --version' and 'duobox version' say the same; a usage error names
// the binary in its help hint.
func TestVersionAndHelpHints(t *testing.T) {
	c1, flag, _ := runCLI(t, "--version")
	c2, sub, _ := runCLI(t, "version")
	if c1 != 0 || c2 != 0 || flag != sub || !strings.HasPrefix(flag, "duobox ") {
		t.Fatalf("--version %d %q, version %d %q", c1, flag, c2, sub)
	}
	code, _, errOut := runCLI(t, "init", "--host", "192.0.2.1")
	if code != 2 || !strings.Contains(errOut, "Run 'duobox init --help'") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
