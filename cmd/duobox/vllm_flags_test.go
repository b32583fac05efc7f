package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
)

// The vLLM settings change recommend's prediction and picks (issue 14).
func TestRecommendTakesVLLMSettings(t *testing.T) {
	type out struct {
		Engine string `json:"vllm_version"`
		Models []struct {
			ID     string `json:"id"`
			Memory struct {
				KV         uint64 `json:"kv_cache_bytes"`
				Activation uint64 `json:"activation_bytes"`
			} `json:"memory"`
		} `json:"models"`
		Recommendation []struct {
			Util float64 `json:"gpu_memory_utilization"`
			KV   string  `json:"kv_cache_dtype"`
			MNBT int     `json:"max_num_batched_tokens"`
		} `json:"recommendation"`
	}
	get := func(args ...string) out {
		t.Helper()
		code, stdout, errOut := runCLI(t, append([]string{"recommend", "--json", "--nvidia-smi", fixtures + "h100.csv", "--gitlab-version", "18.5"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		var r out
		if err := json.Unmarshal([]byte(stdout), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	kv := func(r out, id string) (uint64, uint64) {
		for _, m := range r.Models {
			if m.ID == id {
				return m.Memory.KV, m.Memory.Activation
			}
		}
		t.Fatalf("%s missing", id)
		return 0, 0
	}
	def := get()
	set := get("--kv-cache-dtype", "fp8", "--max-num-batched-tokens", "16384", "--gpu-memory-utilization", "0.85", "--vllm-version", "0.21.0")
	dk, da := kv(def, "llama-3.1-8b-instruct")
	sk, sa := kv(set, "llama-3.1-8b-instruct")
	if sk*2 != dk || sa <= da || set.Engine != "0.21.0" || def.Engine != "0.18.1" {
		t.Fatalf("KV %d→%d, activations %d→%d, engine %s→%s", dk, sk, da, sa, def.Engine, set.Engine)
	}
	if p := set.Recommendation[0]; p.Util != 0.85 || p.KV != "fp8" || p.MNBT != 16384 {
		t.Fatalf("pick %+v does not carry the settings", p)
	}
}

func TestBadVLLMSettingsExitTwo(t *testing.T) {
	base := []string{"--nvidia-smi", fixtures + "h100.csv", "--gitlab-version", "18.5"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--gpu-memory-utilization", "NaN"}, "out of range"},
		{[]string{"--gpu-memory-utilization", "0"}, ""},
		{[]string{"--gpu-memory-utilization", "-0.2"}, "out of range"},
		{[]string{"--gpu-memory-utilization", "1.5"}, "out of range"},
		{[]string{"--tensor-parallel-size", "-2"}, "tensor-parallel size"},
		{[]string{"--tensor-parallel-size", "2"}, "needs 2 GPUs"},
		{[]string{"--gpus", "0,x"}, "not a GPU index"},
		{[]string{"--gpus", "3"}, "not on this machine"},
		{[]string{"--kv-cache-dtype", "int4"}, "KV-cache dtype"},
		{[]string{"--max-num-batched-tokens", "-1"}, "too small"},
		{[]string{"--max-model-len", "300000"}, "beyond every model"},
		{[]string{"--vllm-version", "new"}, "not a version"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, errOut := runCLI(t, append(append([]string{"recommend"}, base...), tt.args...)...)
			if tt.want == "" {
				if code != 0 {
					t.Fatalf("exit %d: %s (0 means unset)", code, errOut)
				}
				return
			}
			if code != 2 || !strings.Contains(errOut, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tt.want)
			}
		})
	}
}

func TestInitStoresVLLMSettings(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	args := []string{"init", "--json", "--gitlab-url", "https://gitlab.example.com/", "--gitlab-version", "18.5",
		"--host", "gpu-box.example.com", "--publish-all", "--nvidia-smi", fixtures + "h100.csv", "--log-dir", filepath.Join(home, "logs"), "--gateway-tag", "self-hosted-v18.5.2-ee",
		"--model", "meta-llama/Llama-3.1-8B-Instruct", "--max-model-len", "32768", "--gpu-memory-utilization", "0.8", "--kv-cache-dtype", "fp8",
		"--max-num-batched-tokens", "4096", "--variant", "fp8"}
	code, stdout, errOut := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	var res struct{ Path string }
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	d, err := config.Load(res.Path)
	if err != nil {
		t.Fatal(err)
	}
	m := d.Models[0]
	if m.GPUMemoryUtilization != 0.8 || m.KVCacheDType != "fp8" || m.MaxNumBatchedTokens != 4096 || m.MaxModelLen != 32768 || !strings.Contains(m.Variant, "FP8") {
		t.Fatalf("model %+v", m)
	}
	// Beyond the model's own context, or a variant it lacks: refused, nothing written.
	for _, bad := range [][]string{{"--max-model-len", "200000"}, {"--variant", "gptq"}} {
		h := t.TempDir()
		t.Setenv("DUOBOX_HOME", h)
		a := append([]string{"init", "--gitlab-url", "https://gitlab.example.com/", "--gitlab-version", "18.5", "--host", "gpu-box.example.com", "--publish-all",
			"--nvidia-smi", fixtures + "h100.csv", "--log-dir", filepath.Join(h, "logs"), "--gateway-tag", "self-hosted-v18.5.2-ee", "--model", "meta-llama/Llama-3.1-8B-Instruct"}, bad...)
		if code, _, errOut := runCLI(t, a...); code != 2 || !(strings.Contains(errOut, "beyond") || strings.Contains(errOut, "no gptq variant")) {
			t.Fatalf("%v: exit %d, %s", bad, code, errOut)
		}
	}
}
