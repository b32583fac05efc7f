package recommend

import (
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/version"
)

func TestDefaultEngineIsTheImageDuoBoxRuns(t *testing.T) {
	if "v"+DefaultEngine != config.DefaultModelServerTag {
		t.Fatalf("predictions are for vLLM %s but DuoBox runs %s: update DefaultEngine (and check the memory model against that version's logs)", DefaultEngine, config.DefaultModelServerTag)
	}
}

func TestParseEngine(t *testing.T) {
	for in, want := range map[string]string{"": DefaultEngine, "v0.18.1": "0.18.1", "0.21": "0.21.0", "v0.6.4.post1": "0.6.4", "v0.19.0-cu128": "0.19.0"} {
		e, err := ParseEngine(in)
		if err != nil || e.String() != want {
			t.Errorf("ParseEngine(%q) = %v, %v; want %s", in, e, err, want)
		}
	}
	for _, bad := range []string{"x", "0", "1.2.3.4", "v0.-1"} {
		if _, err := ParseEngine(bad); err == nil || !strings.Contains(err.Error(), "not a version") {
			t.Errorf("ParseEngine(%q) = %v, want a clear refusal", bad, err)
		}
	}
}

func twoH100() hardware.Machine {
	g := hardware.GPU{Vendor: "nvidia", Name: "NVIDIA H100 80GB HBM3", MemoryTotal: 81559 << 20, MemoryFree: 81004 << 20, ComputeCapability: "9.0"}
	h := g
	h.Index = 1
	return hardware.Machine{GPUs: []hardware.GPU{g, h}}
}

// Llama 3.3 70B does not fit 2 × H100 at 16k in bf16 (65.7 GiB of weights
// per card plus 2.1 GiB non-torch, activations and KV), but its FP8 variant
// does at tensor parallel 2 — as the published log 05 shows vLLM starting it.
func TestQuantizedVariantWithTensorParallel(t *testing.T) {
	r, err := Recommend(twoH100(), cat(t), Options{GitLab: version.MustParse("18.5"), Context: 16384})
	if err != nil {
		t.Fatal(err)
	}
	f := fit(t, r, "llama-3.3-70b-instruct")
	if f.Verdict != FitsQuantized || f.TensorParallel != 2 || f.Variant == nil || !strings.Contains(f.Variant.Repo, "FP8") {
		t.Fatalf("verdict %s TP %d variant %+v (%s), want the FP8 variant at TP 2", f.Verdict, f.TensorParallel, f.Variant, f.Why)
	}
	if !strings.Contains(f.Why, "split over 2 GPUs") {
		t.Fatalf("why %q", f.Why)
	}
}

func TestFP8KVCacheHalvesBytesPerToken(t *testing.T) {
	m, _ := cat(t).Find("llama-3.1-8b-instruct")
	auto := Predict(m, nil, Settings{MaxModelLen: 16384}, 80*GiB)
	fp8 := Predict(m, nil, Settings{MaxModelLen: 16384, KVCacheDType: "fp8"}, 80*GiB)
	if fp8.KVPerToken*2 != auto.KVPerToken || fp8.KVNeed*2 != auto.KVNeed {
		t.Fatalf("fp8 %d B/token (need %d), auto %d (need %d)", fp8.KVPerToken, fp8.KVNeed, auto.KVPerToken, auto.KVNeed)
	}
	if err := CheckKVCacheDType("int3"); err == nil || !strings.Contains(err.Error(), "fp8") {
		t.Fatalf("bad dtype: %v", err)
	}
}

// vLLM's allocator gives gpt-oss's sliding-window layers pages from the same
// pool, so its tokens are the pool over all 24 layers' bytes, not 12.
func TestSlidingWindowTokensCountedLikeTheAllocator(t *testing.T) {
	m, _ := cat(t).Find("gpt-oss-20b")
	e := Predict(m, nil, Settings{MaxModelLen: 16000, Utilization: 0.9}, 80*GiB)
	if want := uint64(2 * 24 * 8 * 64 * 2); e.KVPerToken != want {
		t.Fatalf("KV bytes per token %d, want %d (all layers)", e.KVPerToken, want)
	}
	pool := int64(10 * GiB)
	if got, want := e.KVTokens(pool), int(uint64(pool)/uint64(2*24*8*64*2)); got > want || got < want-16 {
		t.Fatalf("tokens %d, want %d", got, want)
	}
	// One 16k request needs full pages on the 12 full layers but only the window on the 12 sliding ones.
	full := uint64(12) * 1000 * 16 * 2 * 8 * 64 * 2
	if e.KVNeed <= full || e.KVNeed >= 2*full {
		t.Fatalf("KV need %d, want between %d and %d", e.KVNeed, full, 2*full)
	}
}

func TestCUDAGraphsInsideTheBudgetFrom021(t *testing.T) {
	m, _ := cat(t).Find("gpt-oss-20b")
	old := Predict(m, nil, Settings{Engine: "0.20.2", MaxModelLen: 16384}, 80*GiB)
	now := Predict(m, nil, Settings{Engine: "0.21.0", MaxModelLen: 16384}, 80*GiB)
	if old.GraphsInBudget || !now.GraphsInBudget {
		t.Fatalf("graphs in budget: 0.20 %v, 0.21 %v", old.GraphsInBudget, now.GraphsInBudget)
	}
	if old.Graphs < 18*GiB/10 {
		t.Fatalf("gpt-oss-20b graphs %d, vLLM 0.19 printed 1.84 GiB", old.Graphs)
	}
	if now.Overhead() != now.NonTorch+now.Activation+now.Graphs || old.Overhead() != old.NonTorch+old.Activation {
		t.Fatal("graphs counted on the wrong side of the budget")
	}
	// Outside the budget, graphs need headroom: a budget never leaves less than the graphs free.
	g := gpuMem{free: 20 * GiB, total: 24 * GiB}
	if b := budget(g, 0.98, old); b > g.free-old.Graphs {
		t.Fatalf("budget %d leaves no room for %d of graphs", b, old.Graphs)
	}
}

func TestActivationFollowsVersionAndSettings(t *testing.T) {
	m, _ := cat(t).Find("llama-3.1-8b-instruct")
	v0a := Predict(m, nil, Settings{Engine: "0.6.4", MaxModelLen: 20000}, 24*GiB)
	v0b := Predict(m, nil, Settings{Engine: "0.6.4", MaxModelLen: 29000}, 24*GiB)
	if v0b.Activation <= v0a.Activation {
		t.Fatalf("V0 activation does not grow with max_model_len: %d → %d", v0a.Activation, v0b.Activation)
	}
	small := Predict(m, nil, Settings{MaxModelLen: 16384, MaxBatchedTokens: 2048}, 80*GiB)
	big := Predict(m, nil, Settings{MaxModelLen: 16384, MaxBatchedTokens: 16384}, 80*GiB)
	if big.Activation <= small.Activation {
		t.Fatalf("activation does not follow max_num_batched_tokens: %d vs %d", small.Activation, big.Activation)
	}
	early := Predict(m, nil, Settings{Engine: "0.11.0", MaxModelLen: 16384}, 80*GiB)
	if early.Activation <= small.Activation || early.Engine != "0.11.0" {
		t.Fatalf("0.11's sampler-sized peak (4.8 GiB) should exceed 0.18's: %d vs %d", early.Activation, small.Activation)
	}
}

// A fit within 3 % of the budget is tight and says what to change.
func TestTightFitSaysWhatToChange(t *testing.T) {
	c := cat(t)
	m, _ := c.Find("llama-3.1-8b-instruct")
	g := hardware.GPU{Vendor: "nvidia", Name: "test", MemoryTotal: 24 * GiB, ComputeCapability: "8.9"}
	// Find free memory where the 16k fit is within 3 % of the budget.
	opts := Options{GitLab: version.MustParse("18.5"), Context: 16384}
	total := need(m, layout{weights: m.WeightBytes, tp: 1}, 16384, gpuMem{free: 24 * GiB, total: 24 * GiB}, opts).Total
	g.MemoryFree = uint64(float64(total)/0.9) + 100<<20
	r, err := Recommend(hardware.Machine{GPUs: []hardware.GPU{g}}, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	f := fit(t, r, "llama-3.1-8b-instruct")
	if f.Verdict != Fits || !f.Tight || !strings.Contains(f.Advice, "context") || !strings.Contains(f.Why, "tight") {
		t.Fatalf("verdict %s tight %v advice %q why %q", f.Verdict, f.Tight, f.Advice, f.Why)
	}
}

func TestCompareFlagsComponentsOffByMoreThanTenPercent(t *testing.T) {
	m, _ := cat(t).Find("llama-3.1-8b-instruct")
	e := Predict(m, nil, Settings{MaxModelLen: 16000}, 79*GiB)
	got := NewMeasured()
	got.Observe("vllm_weights_loaded", map[string]string{"gib": "14.99"})
	got.Observe("vllm_kv_cache_memory", map[string]string{"gib": "40.0"})
	d := Compare(e, 71*GiB, got)
	if len(d) != 2 || d[0].Component != "weights" || d[0].Flagged || d[1].Component != "KV cache" || !d[1].Flagged {
		t.Fatalf("differences %+v", d)
	}
	if !strings.Contains(d[1].String(), "KV cache") || !strings.Contains(d[1].String(), "more than 10 %") {
		t.Fatalf("%s", d[1])
	}
}

func TestUserSettingsChangeThePrediction(t *testing.T) {
	c := cat(t)
	m := twoH100()
	base := Options{GitLab: version.MustParse("18.5"), Context: 16384}
	get := func(o Options) ModelFit {
		t.Helper()
		r, err := Recommend(m, c, o)
		if err != nil {
			t.Fatal(err)
		}
		return fit(t, r, "llama-3.1-8b-instruct")
	}
	def := get(base)
	if def.Verdict != Fits || def.TensorParallel != 1 {
		t.Fatalf("default: %s TP %d", def.Verdict, def.TensorParallel)
	}
	o := base
	o.KVCacheDType = "fp8"
	if f := get(o); f.Memory.KVCache*2 != def.Memory.KVCache || f.MaxContext < def.MaxContext {
		t.Fatalf("fp8 KV: %d vs %d bytes, max context %d vs %d", f.Memory.KVCache, def.Memory.KVCache, f.MaxContext, def.MaxContext)
	}
	o = base
	o.MaxBatchedTokens = 32768
	if f := get(o); f.Memory.Activation <= def.Memory.Activation {
		t.Fatalf("batched tokens: activation %d vs %d", f.Memory.Activation, def.Memory.Activation)
	}
	o = base
	o.TensorParallel = 2
	if f := get(o); f.Verdict != Fits || f.TensorParallel != 2 || len(f.GPUs) != 2 || f.Memory.Weights >= def.Memory.Weights {
		t.Fatalf("TP 2: %s TP %d GPUs %v weights %d", f.Verdict, f.TensorParallel, f.GPUs, f.Memory.Weights)
	}
	o = base
	o.GPUs = []int{1}
	if f := get(o); f.GPUIndex != 1 {
		t.Fatalf("GPU 1 chosen, got %d", f.GPUIndex)
	}
	o = base
	o.Variant = "fp8"
	if f := get(o); f.Verdict != FitsQuantized || f.Variant == nil || f.Variant.Method != "fp8" {
		t.Fatalf("variant fp8: %s %+v", f.Verdict, f.Variant)
	}
	o = base
	o.GPUMemoryUtilization = 0.5
	f := get(o)
	if f.Memory.Budget != uint64(0.5*float64(m.GPUs[0].MemoryTotal)) {
		t.Fatalf("utilisation 0.5: budget %d", f.Memory.Budget)
	}
	r, _ := Recommend(m, c, o)
	for _, p := range r.Recommendation {
		if p.GPUMemoryUtilization != 0.5 {
			t.Fatalf("pick %+v does not carry the user's utilisation", p)
		}
	}
	o = base
	o.Engine = "0.21.0"
	if f := get(o); !f.Memory.GraphsInBudget || f.Memory.Engine != "0.21.0" {
		t.Fatalf("engine 0.21: %+v", f.Memory)
	}
}

func TestBadSettingsAreRefusedClearly(t *testing.T) {
	m := twoH100()
	base := Options{GitLab: version.MustParse("18.5")}
	nan := 0.0
	nan = nan / nan
	for _, tt := range []struct {
		mut  func(*Options)
		want string
	}{
		{func(o *Options) { o.GPUMemoryUtilization = nan }, "out of range"},
		{func(o *Options) { o.GPUMemoryUtilization = -0.5 }, "out of range"},
		{func(o *Options) { o.GPUMemoryUtilization = 1.2 }, "out of range"},
		{func(o *Options) { o.Utilization = nan }, "not a fraction"},
		{func(o *Options) { o.TensorParallel = -1 }, "tensor-parallel size"},
		{func(o *Options) { o.TensorParallel = 3 }, "tensor-parallel size"},
		{func(o *Options) { o.TensorParallel = 4 }, "needs 4 GPUs"},
		{func(o *Options) { o.GPUs = []int{5} }, "not on this machine"},
		{func(o *Options) { o.GPUs = []int{0, 0} }, "repeated"},
		{func(o *Options) { o.TensorParallel, o.GPUs = 2, []int{0} }, "1 GPUs named"},
		{func(o *Options) { o.KVCacheDType = "int2" }, "KV-cache dtype"},
		{func(o *Options) { o.MaxBatchedTokens = -5 }, "too small"},
		{func(o *Options) { o.Context = -1 }, "negative"},
		{func(o *Options) { o.Context = 5 << 20 }, "larger than any model"},
		{func(o *Options) { o.Context = 200000 }, "beyond every model"},
		{func(o *Options) { o.Engine = "banana" }, "not a version"},
	} {
		o := base
		tt.mut(&o)
		_, err := Recommend(m, cat(t), o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", o, err, tt.want)
		}
	}
}
