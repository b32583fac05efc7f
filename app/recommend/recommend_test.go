package recommend

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

func machineFrom(t *testing.T, fixture string) hardware.Machine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "hardware", "testdata", "nvidia-smi", fixture))
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := hardware.ParseNvidiaSMI(b)
	if err != nil {
		t.Fatal(err)
	}
	return hardware.Machine{GPUs: gpus}
}

func cat(t *testing.T) catalog.Catalog {
	c, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fit(t *testing.T, r Result, id string) ModelFit {
	t.Helper()
	for _, f := range r.Models {
		if f.ID == id {
			return f
		}
	}
	t.Fatalf("model %s not evaluated; have %d models", id, len(r.Models))
	return ModelFit{}
}

// TestBreakdownFollowsTheFormula recomputes the expected numbers by hand for
// the vLLM version DuoBox runs (facts/models.md §3, §8): KV = 2 × layers × kv
// heads × head dim × 2 B × context; overhead = 0.25 GiB non-torch + 12 B per
// batched token and hidden unit + 13.24 B per sequence and vocabulary entry
// (a 24 GB card: vLLM's defaults are 2048 tokens and 256 sequences);
// budget = free × 0.9, capped to leave the CUDA graphs (1 GiB dense) room.
func TestBreakdownFollowsTheFormula(t *testing.T) {
	r, err := Recommend(machineFrom(t, "rtx4090.csv"), cat(t), Options{GitLab: version.MustParse("17.9"), Context: 16384})
	if err != nil {
		t.Fatal(err)
	}
	if r.Engine != DefaultEngine {
		t.Fatalf("predicted for vLLM %q, want %s", r.Engine, DefaultEngine)
	}
	free := uint64(23743) << 20
	wantBudget := uint64(float64(free) * 0.9)
	oh := func(hidden, vocab uint64) uint64 { return GiB/4 + 2048*hidden*12 + 256*vocab*1324/100 }
	tests := []struct {
		id              string
		weights, kv, oh uint64
		verdict         string
	}{
		{"mistral-7b-instruct-v0.3", 14496047104, 2 * 32 * 8 * 128 * 2 * 16384, oh(4096, 32768), Fits},
		{"llama-3.1-8b-instruct", 16060522496, 2 * 32 * 8 * 128 * 2 * 16384, oh(4096, 128256), Fits},
		{"codestral-22b", 12200000000, 2 * 56 * 8 * 128 * 2 * 16384, oh(6144, 32768), FitsQuantized},
		{"llama-3.3-70b-instruct", 0, 0, 0, NeedsMoreGPUs},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			f := fit(t, r, tt.id)
			if f.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", f.Verdict, f.Why, tt.verdict)
			}
			if tt.verdict == NeedsMoreGPUs {
				// 16.4 GiB of weights + 2.1 GiB non-torch + 0.6 GiB activations + 0.6 GiB KV per card fit 8 × 24 GB.
				if f.GPUsNeeded != 8 || f.MaxContext != 0 {
					t.Fatalf("GPUsNeeded %d, MaxContext %d, want 8 and 0", f.GPUsNeeded, f.MaxContext)
				}
				return
			}
			// norms are on every rank; at TP 1 that changes nothing.
			if f.Memory.Weights != tt.weights || f.Memory.KVCache != tt.kv || f.Memory.Overhead != tt.oh {
				t.Fatalf("breakdown %+v, want weights %d kv %d overhead %d", f.Memory, tt.weights, tt.kv, tt.oh)
			}
			if f.Memory.Budget != wantBudget || f.Memory.Total != tt.weights+tt.kv+tt.oh {
				t.Fatalf("budget %d total %d, want %d and %d", f.Memory.Budget, f.Memory.Total, wantBudget, tt.weights+tt.kv+tt.oh)
			}
			if pool := int64(wantBudget) - int64(tt.weights+tt.oh); f.Memory.KVPool != pool || f.Memory.KVTokens != int(pool/int64(tt.kv/16384))/16*16 {
				t.Fatalf("KV pool %d (%d tokens), want %d", f.Memory.KVPool, f.Memory.KVTokens, pool)
			}
			wantMax := int((wantBudget - tt.weights - tt.oh) / (tt.kv / 16384))
			wantMax -= wantMax % 16
			if ctx := min(wantMax, f.model.Architecture.MaxContext); f.MaxContext != ctx {
				t.Fatalf("max context %d, want %d", f.MaxContext, ctx)
			}
		})
	}
}

func TestVerdictsAcrossCards(t *testing.T) {
	tests := []struct {
		fixture string
		gitlab  string
		id      string
		verdict string
		variant string
		gpus    int
	}{
		// T4: 14.6 GiB free, compute 7.5 → 8B models only as AWQ; FP8 refused below 8.9.
		{"t4.csv", "18.5", "llama-3.1-8b-instruct", FitsQuantized, "hugging-quants/Meta-Llama-3.1-8B-Instruct-AWQ-INT4", 0},
		{"t4.csv", "18.5", "gpt-oss-20b", NeedsMoreGPUs, "", 2},
		{"t4.csv", "17.2", "codegemma-2b", Fits, "", 0},
		// A10G 22 GiB: Mistral 7B fits at 16k.
		{"a10g.csv", "17.9", "mistral-7b-instruct-v0.3", Fits, "", 0},
		// RTX 4090: Codestral only as AWQ (FP8 at 21 GiB too large); Mistral Small as FP8? 23.3 GiB — no.
		{"rtx4090.csv", "18.5", "codestral-22b", FitsQuantized, "TechxGenus/Codestral-22B-v0.1-AWQ", 0},
		{"rtx4090.csv", "18.5", "mistral-small-3.2-24b", NeedsMoreGPUs, "", 4},
		// L40S 44.5 GiB: Codestral FP8 fits (compute 8.9).
		{"l40s.csv", "18.5", "codestral-22b", FitsQuantized, "TechxGenus/Codestral-22B-v0.1-FP8", 0},
		// A100 40 GB: compute 8.0 rules out FP8 → AWQ.
		{"a100-40.csv", "18.5", "codestral-22b", FitsQuantized, "TechxGenus/Codestral-22B-v0.1-AWQ", 0},
		// A100 80 GB / H100: Codestral in bf16; 70B needs 2 cards; gpt-oss-120b fits an H100.
		{"a100-80.csv", "17.9", "codestral-22b", Fits, "", 0},
		// 70B at 16k on H100s: 65.7 GiB + 4.1 GiB + 2.5 GiB per card exceeds 71.2 GiB on 2 cards → 4.
		{"h100.csv", "18.5", "llama-3.3-70b-instruct", NeedsMoreGPUs, "", 4},
		{"h100.csv", "18.5", "gpt-oss-120b", Fits, "", 0},
		{"h100.csv", "17.9", "mixtral-8x22b-instruct", NeedsMoreGPUs, "", 4},
		// Two 4090s, one busy: the idle one is used.
		{"two-4090-one-busy.csv", "17.9", "mistral-7b-instruct-v0.3", Fits, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"/"+tt.id, func(t *testing.T) {
			r, err := Recommend(machineFrom(t, tt.fixture), cat(t), Options{GitLab: version.MustParse(tt.gitlab)})
			if err != nil {
				t.Fatal(err)
			}
			f := fit(t, r, tt.id)
			if f.Verdict != tt.verdict {
				t.Fatalf("verdict %s (%s), want %s", f.Verdict, f.Why, tt.verdict)
			}
			if tt.variant != "" && (f.Variant == nil || f.Variant.Repo != tt.variant) {
				t.Fatalf("variant %+v, want %s (%s)", f.Variant, tt.variant, f.Why)
			}
			if tt.gpus != 0 && f.GPUsNeeded != tt.gpus {
				t.Fatalf("needs %d GPUs, want %d (%s)", f.GPUsNeeded, tt.gpus, f.Why)
			}
			if f.Why == "" {
				t.Fatal("no reason given")
			}
			// The one memory figure the window draws agrees with the verdict.
			runs := f.Verdict == Fits || f.Verdict == FitsQuantized
			if f.GPUFree == 0 || f.FreeNeeded == 0 || runs != (f.FreeNeeded <= f.GPUFree) {
				t.Fatalf("%s: needs %d free of %d", f.Verdict, f.FreeNeeded, f.GPUFree)
			}
			if f.Licence == "" {
				t.Fatal("no licence")
			}
		})
	}
}

func TestRecommendationCoversFeatures(t *testing.T) {
	tests := []struct {
		fixture   string
		gitlab    string
		wantIDs   []string
		uncovered []catalog.Feature
	}{
		// 17.2 on a 48 GB card: Mistral 7B (generation + chat) and CodeGemma 2b (completion) share the GPU.
		{"l40s.csv", "17.2", []string{"codegemma-2b", "mistral-7b-instruct-v0.3"}, nil},
		// 17.2 on a 24 GB card the pair fits at 4k each (14.5 + 5.9 GiB and two processes' CUDA graphs in 23.2 GiB free).
		{"rtx4090.csv", "17.2", []string{"codegemma-2b", "mistral-7b-instruct-v0.3"}, nil},
		// 18.5 on an H100: gpt-oss-120b covers all three at full level.
		{"h100.csv", "18.5", []string{"gpt-oss-120b"}, nil},
		// 17.9 on an A100 80 GB: full coverage, whichever models.
		{"a100-80.csv", "17.9", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.fixture+"@"+tt.gitlab, func(t *testing.T) {
			r, err := Recommend(machineFrom(t, tt.fixture), cat(t), Options{GitLab: version.MustParse(tt.gitlab)})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			var util float64
			for _, p := range r.Recommendation {
				ids = append(ids, p.ModelID)
				util += p.GPUMemoryUtilization
				if p.MaxModelLen < minUsefulContext || p.GPUMemoryUtilization <= 0 || p.GPUMemoryUtilization > 0.95 {
					t.Fatalf("pick %+v has unusable settings", p)
				}
			}
			if util > 0.95 {
				t.Fatalf("utilisation shares add to %.2f", util)
			}
			slices.Sort(ids)
			if tt.wantIDs != nil && !slices.Equal(ids, tt.wantIDs) {
				t.Fatalf("recommended %v, want %v (%s)", ids, tt.wantIDs, r.Reason)
			}
			if len(r.Uncovered) != len(tt.uncovered) {
				t.Fatalf("uncovered %v, want %v (%s)", r.Uncovered, tt.uncovered, r.Reason)
			}
			if !strings.HasSuffix(r.Reason, ".") || strings.Count(r.Reason, ". ") > 0 {
				t.Fatalf("reason must be one sentence: %q", r.Reason)
			}
		})
	}
}

func TestSharedGPUPicksFitTogether(t *testing.T) {
	m := machineFrom(t, "l40s.csv")
	r, err := Recommend(m, cat(t), Options{GitLab: version.MustParse("17.2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recommendation) != 2 {
		t.Fatalf("want two models sharing the GPU, got %+v", r.Recommendation)
	}
	total := m.GPUs[0].MemoryTotal
	var used float64
	for _, p := range r.Recommendation {
		f := fit(t, r, p.ModelID)
		share := uint64(p.GPUMemoryUtilization * float64(total))
		if needAt(f, p.MaxModelLen) > share {
			t.Fatalf("%s needs %d at %d tokens but gets %d", p.ModelID, needAt(f, p.MaxModelLen), p.MaxModelLen, share)
		}
		used += p.GPUMemoryUtilization * float64(total)
	}
	if uint64(used) > m.GPUs[0].MemoryFree {
		t.Fatalf("shares use %.0f bytes, more than the %d free", used, m.GPUs[0].MemoryFree)
	}
}

func TestNoGPUStillAnswers(t *testing.T) {
	r, err := Recommend(hardware.Machine{}, cat(t), Options{GitLab: version.MustParse("18.5")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Recommendation) != 0 || len(r.Uncovered) != 3 || !strings.Contains(r.Reason, "no NVIDIA GPU") {
		t.Fatalf("got %+v", r)
	}
	for _, f := range r.Models {
		if f.Verdict != NeedsGPU || f.MinGPUMemory == 0 || f.FreeNeeded != f.MinGPUMemory || f.GPUFree != 0 || !strings.Contains(f.Why, "GiB") {
			t.Fatalf("model %s: %+v", f.ID, f)
		}
	}
	// gpt-oss-20b should fit a 24 GB class card, Llama 3.3 70B should not.
	if m := fit(t, r, "gpt-oss-20b").MinGPUMemory; m > 24<<30 {
		t.Fatalf("gpt-oss-20b minimum %d", m)
	}
	if l := fit(t, r, "codestral-22b").Licence; !strings.Contains(l, "Non-Production") {
		t.Fatalf("Codestral's licence %q", l)
	}
}

func TestMIGAndT4Notes(t *testing.T) {
	r, err := Recommend(machineFrom(t, "a100-80-mig.csv"), cat(t), Options{GitLab: version.MustParse("18.5")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Notes) == 0 || !strings.Contains(r.Notes[0], "MIG") {
		t.Fatalf("notes %v", r.Notes)
	}
	r, _ = Recommend(machineFrom(t, "t4.csv"), cat(t), Options{GitLab: version.MustParse("18.5")})
	if len(r.Recommendation) == 0 || !slices.Contains(r.Recommendation[0].ExtraArgs, "float16") {
		t.Fatalf("a T4 (no bfloat16) needs --dtype float16: %+v", r.Recommendation)
	}
}

func TestBadInput(t *testing.T) {
	m := machineFrom(t, "rtx4090.csv")
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{GitLab: version.MustParse("18.5"), Context: -1}, "negative"},
		{Options{GitLab: version.MustParse("16.11")}, "no self-hosted models"},
		{Options{GitLab: version.MustParse("18")}, "minor release"},
		{Options{GitLab: version.MustParse("25.1")}, "not in DuoBox's GitLab version table: it knows GitLab 17.1–19.11"},
		{Options{GitLab: version.MustParse("18.5"), Utilization: 1.5}, "out of range"},
	} {
		if _, err := Recommend(m, cat(t), tt.opts); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: err = %v, want %q", tt.opts, err, tt.want)
		}
	}
}

// FreeNeeded is the inverse of the budget under every kind of setting: a
// model runs exactly when this machine's free memory covers it.
func TestFreeNeededAgreesWithTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		opts    Options
	}{
		{"l40s.csv", Options{}},
		{"l40s.csv", Options{GPUMemoryUtilization: 0.5}},
		{"two-4090-one-busy.csv", Options{TensorParallel: 2}},
		{"two-4090-one-busy.csv", Options{Context: 32768}},
	} {
		tc.opts.GitLab = version.MustParse("18.5")
		r, err := Recommend(machineFrom(t, tc.fixture), cat(t), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range r.Models {
			runs := f.Verdict == Fits || f.Verdict == FitsQuantized
			if settings := tc.opts.TensorParallel > 0; settings && !runs {
				continue // refused for the settings, not for memory
			}
			if runs != (f.FreeNeeded <= f.GPUFree) {
				t.Errorf("%s %+v %s: %s, needs %d free of %d", tc.fixture, tc.opts, f.ID, f.Verdict, f.FreeNeeded, f.GPUFree)
			}
		}
	}
}

// TestHugeNumbersNeverWrapIntoAFit: the fit arithmetic saturates instead of
// wrapping, so a model whose sizes overflow 64 bits (numbers the catalog
// refuses, built here directly) needs more than any GPU, never "0.0 GiB, fits".
func TestHugeNumbersNeverWrapIntoAFit(t *testing.T) {
	const huge = 1<<63 - 1
	for _, a := range []catalog.Architecture{
		{Layers: huge, AttentionHeads: 32, KVHeads: 8, HeadDim: 128, MaxContext: 32768, Vocab: 32768},
		{Layers: 32, AttentionHeads: 32, KVHeads: 8, HeadDim: 1 << 40, MaxContext: 32768, Vocab: 32768},
		{Layers: 32, AttentionHeads: 32, KVHeads: 8, HeadDim: 128, MaxContext: 32768, Vocab: huge},
	} {
		m := catalog.Model{ID: "huge", Architecture: a, WeightBytes: 14 << 30}
		b := need(m, layout{weights: m.WeightBytes, tp: 1}, 16384, gpuMem{free: 80 << 30, total: 80 << 30}, Options{})
		if ok, _ := b.fits(); ok || b.Total < 80<<30 || b.KVTokens != 0 {
			t.Errorf("%+v: total %d, KV %d, %d tokens: it must need more than the card", a, b.Total, b.KVCache, b.KVTokens)
		}
		if free := freeNeeded(b, gpuMem{free: 80 << 30, total: 80 << 30}, Options{}); free < 80<<30 {
			t.Errorf("%+v: needs %d free: less than the card", a, free)
		}
		if min := minGPUMemory(m, 16384, Options{}); min < 80<<30 {
			t.Errorf("%+v: smallest card %d", a, min)
		}
	}
}
