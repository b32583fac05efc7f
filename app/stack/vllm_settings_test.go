package stack

import (
	"math"
	"slices"
	"testing"
)

// The user's vLLM memory settings reach vLLM's command line (issue 14); unset ones add nothing.
func TestVLLMSettingsBecomeArgs(t *testing.T) {
	d := testConfig("18.5")
	plain := build(t, d).Containers[0].Cmd
	for _, flag := range []string{"--kv-cache-dtype", "--max-num-batched-tokens", "--tensor-parallel-size"} {
		if slices.Contains(plain, flag) {
			t.Fatalf("defaults must not add %s: %v", flag, plain)
		}
	}
	d.Models[0].GPUs = []int{0, 1}
	d.Models[0].TensorParallelSize = 2
	d.Models[0].KVCacheDType = "fp8"
	d.Models[0].MaxNumBatchedTokens = 4096
	d.Models[0].GPUMemoryUtilization = 0.8
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	cmd := build(t, d).Containers[0].Cmd
	for _, want := range [][]string{{"--kv-cache-dtype", "fp8"}, {"--max-num-batched-tokens", "4096"}, {"--tensor-parallel-size", "2"}, {"--gpu-memory-utilization", "0.8"}} {
		i := slices.Index(cmd, want[0])
		if i < 0 || cmd[i+1] != want[1] {
			t.Errorf("cmd %v lacks %v", cmd, want)
		}
	}
	bad := d
	bad.Models = slices.Clone(d.Models)
	bad.Models[0].TensorParallelSize = 4
	if err := bad.Validate(); err == nil {
		t.Fatal("tensor_parallel_size 4 with 2 GPUs named must be refused")
	}
	bad.Models[0].TensorParallelSize, bad.Models[0].GPUMemoryUtilization = 2, math.NaN()
	if err := bad.Validate(); err == nil {
		t.Fatal("gpu_memory_utilization NaN must be refused")
	}
	bad.Models[0].GPUMemoryUtilization, bad.Models[0].KVCacheDType = 0.8, "int4"
	if err := bad.Validate(); err == nil {
		t.Fatal("kv_cache_dtype int4 must be refused")
	}
}
