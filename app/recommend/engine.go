package recommend

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
)

// DefaultEngine is the vLLM version DuoBox runs (config.DefaultModelServerTag
// without its "v"; a test keeps the two equal). Predictions are for it unless
// a setting names another.
const DefaultEngine = "0.18.1"

// Engine is a vLLM version, as far as memory is concerned.
type Engine struct{ Major, Minor, Patch int }

// ParseEngine reads "v0.18.1", "0.18.1", "0.18" or an image tag such as
// "v0.18.1-cu128"; "" is DefaultEngine.
func ParseEngine(s string) (Engine, error) {
	if s == "" || s == "latest" {
		s = DefaultEngine
	}
	t := strings.TrimPrefix(strings.TrimSpace(s), "v")
	if i := strings.IndexAny(t, "-+"); i >= 0 {
		t = t[:i]
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, ".post1"), ".post2")
	parts := strings.Split(t, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Engine{}, app.BadInput("write the vLLM version as X.Y or X.Y.Z, for example 0.18.1", "vLLM version %q is not a version", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return Engine{}, app.BadInput("write the vLLM version as X.Y or X.Y.Z, for example 0.18.1", "vLLM version %q is not a version", s)
		}
		n[i] = v
	}
	return Engine{n[0], n[1], n[2]}, nil
}

func (e Engine) String() string { return fmt.Sprintf("%d.%d.%d", e.Major, e.Minor, e.Patch) }

func (e Engine) atLeast(minor int) bool { return e.Major > 0 || e.Minor >= minor }

// Generations of vLLM's memory accounting (facts/models.md §3, §8; the
// fixture logs in testdata/vllm-logs).
//   - V0 (before 0.8): no chunked prefill up to 32k context, so the profiled
//     activation peak grows with max_model_len; beyond it, with the batched tokens.
//   - early V1 (0.8–0.11): the profile run samples max_num_seqs dummy requests
//     over the whole vocabulary; that, not the model, sets the peak (4.8 GiB for
//     Llama's 128k vocabulary, 7.4 GiB for gpt-oss's 201k at 1024 sequences).
//   - V1 (0.12–0.20): a smaller sampler profile (1.9 GiB for Llama 3.1 8B on an
//     H100 in 0.19); the tokens batched per step add hidden-size activations.
//     Where between 0.11 and 0.19 this changed is not known: 0.12 is assumed.
//   - from 0.21 CUDA graphs are profiled and counted inside the budget
//     ("CUDA graph memory profiling is enabled (default since v0.21.0)");
//     before, they come on top of it.
func (e Engine) v0() bool             { return !e.atLeast(8) }
func (e Engine) earlyV1() bool        { return e.atLeast(8) && !e.atLeast(12) }
func (e Engine) GraphsInBudget() bool { return e.atLeast(21) }

// Settings are what the user can set for vLLM, as vLLM's flags mean them.
type Settings struct {
	Engine           string  `json:"vllm_version,omitempty"`           // "" = DefaultEngine
	Utilization      float64 `json:"gpu_memory_utilization,omitempty"` // --gpu-memory-utilization (fraction of total memory)
	TensorParallel   int     `json:"tensor_parallel_size,omitempty"`   // --tensor-parallel-size
	MaxModelLen      int     `json:"max_model_len,omitempty"`          // --max-model-len
	KVCacheDType     string  `json:"kv_cache_dtype,omitempty"`         // --kv-cache-dtype: auto (model dtype) or fp8*
	MaxBatchedTokens int     `json:"max_num_batched_tokens,omitempty"` // --max-num-batched-tokens (0: vLLM's default)
	MaxNumSeqs       int     `json:"max_num_seqs,omitempty"`           // --max-num-seqs (0: vLLM's default)
	BlockSize        int     `json:"block_size,omitempty"`             // --block-size (0: 16)
	EnforceEager     bool    `json:"enforce_eager,omitempty"`          // --enforce-eager: no CUDA graphs
}

// KVBytes is the bytes per KV element: 1 for an fp8 cache, else 2.
func (s Settings) KVBytes() int {
	if strings.HasPrefix(strings.ToLower(s.KVCacheDType), "fp8") {
		return 1
	}
	return 2
}

// CheckKVCacheDType refuses a --kv-cache-dtype vLLM does not know.
func CheckKVCacheDType(d string) error {
	switch strings.ToLower(d) {
	case "", "auto", "fp8", "fp8_e4m3", "fp8_e5m2":
		return nil
	}
	return app.BadInput("use auto (the model's dtype) or fp8", "KV-cache dtype %q is not one vLLM accepts", d)
}

// defaults are vLLM's max_num_batched_tokens and max_num_seqs for the OpenAI
// server (vllm/engine/arg_utils.py): 8192 / 1024 on cards of 70 GiB or more,
// else 2048 / 256 (A100s count as small there; DuoBox does not tell them apart).
func (s Settings) defaults(gpuTotal uint64, e Engine) (tokens, seqs int) {
	tokens, seqs = 2048, 256
	if gpuTotal >= 70*GiB {
		tokens, seqs = 8192, 1024
	}
	if e.v0() {
		tokens, seqs = 2048, 256
	}
	if s.MaxBatchedTokens > 0 {
		tokens = s.MaxBatchedTokens
	}
	if s.MaxNumSeqs > 0 {
		seqs = s.MaxNumSeqs
	}
	return tokens, min(seqs, tokens)
}

// Estimate is what vLLM will reserve on one GPU for one model, component by
// component, in bytes, as its startup log reports them.
type Estimate struct {
	Engine         string `json:"vllm_version"`
	Weights        uint64 `json:"weights_bytes"`       // "Model loading took"
	NonTorch       uint64 `json:"non_torch_bytes"`     // CUDA context, NCCL, cuBLAS
	Activation     uint64 `json:"activation_bytes"`    // profiled peak activations
	Graphs         uint64 `json:"cuda_graphs_bytes"`   // CUDA graph pool
	GraphsInBudget bool   `json:"graphs_in_budget"`    // from vLLM 0.21
	KVPerToken     uint64 `json:"kv_bytes_per_token"`  // all layers, as vLLM's allocator counts
	KVNeed         uint64 `json:"kv_need_bytes"`       // one request of max_model_len, vLLM's own check
	BatchedTokens  int    `json:"max_batched_tokens"`  // what the activation estimate assumed
	MaxSeqs        int    `json:"max_seqs"`            // idem
	BlockSize      int    `json:"block_size"`          // KV block (tokens)
	SlidingFixed   uint64 `json:"sliding_fixed_bytes"` // the sliding-window layers' share of KVNeed
}

// Overhead is what sits inside the budget besides weights and KV cache.
func (e Estimate) Overhead() uint64 {
	o := addSat(e.NonTorch, e.Activation)
	if e.GraphsInBudget {
		o = addSat(o, e.Graphs)
	}
	return o
}

// KVPool is what vLLM leaves for the KV cache out of requested bytes
// ("Available KV cache memory"); negative when nothing is left.
func (e Estimate) KVPool(requested uint64) int64 {
	used := addSat(e.Weights, e.Overhead())
	if used > requested {
		return -int64(min(used-requested, math.MaxInt64))
	}
	return int64(min(requested-used, math.MaxInt64))
}

// KVTokens is "GPU KV cache size: N tokens" for a pool: vLLM's allocator gives
// every layer, sliding-window ones too, pages from the same pool.
func (e Estimate) KVTokens(pool int64) int {
	if pool <= 0 || e.KVPerToken == 0 {
		return 0
	}
	t := int(uint64(pool) / e.KVPerToken)
	return t - t%e.BlockSize
}

// estimate computes an Estimate for a model's weights (weightBytes: the
// checkpoint's bytes; variant: the quantized build, nil for the model's own)
// under settings s on a GPU with gpuTotal bytes.
func estimate(a catalog.Architecture, weightBytes uint64, variant *catalog.Variant, s Settings, gpuTotal uint64) Estimate {
	e, err := ParseEngine(s.Engine)
	if err != nil {
		e, _ = ParseEngine(DefaultEngine)
	}
	tp := max(s.TensorParallel, 1)
	block := s.BlockSize
	if block <= 0 {
		block = 16
	}
	tokens, seqs := s.defaults(gpuTotal, e)
	est := Estimate{Engine: e.String(), GraphsInBudget: e.GraphsInBudget(), BatchedTokens: tokens, MaxSeqs: seqs, BlockSize: block}
	est.Weights = weightsPerGPU(a, weightBytes, variant, tp)

	// Non-torch memory: measured 0.13 GiB (one GPU) and 0.55 GiB (TP 2) on
	// early V1; 0.03–0.35 GiB and about 2.1 GiB at TP ≥ 2 on 0.19 (§8); 0.25–0.35 GiB on V0.
	switch {
	case e.v0():
		est.NonTorch = 35 * GiB / 100
	case e.earlyV1() && tp == 1:
		est.NonTorch = 13 * GiB / 100
	case e.earlyV1():
		est.NonTorch = 55 * GiB / 100
	case tp == 1:
		est.NonTorch = GiB / 4
	default:
		est.NonTorch = 21 * GiB / 10
	}

	hidden := uint64(a.HiddenSize())
	vocab := uint64(max(a.Vocab, 32000))
	switch {
	case e.v0():
		// No chunked prefill up to 32k: the profile run is one max_model_len
		// sequence; 26.6 B per token and hidden unit (3090 logs: 2.07 GiB at
		// 20k, 2.99 GiB at 29k for Llama 3.1 8B).
		t := s.MaxModelLen
		if t == 0 || t > 32768 {
			t = tokens
		}
		est.Activation = mulSat(uint64(t), hidden, 266) / 10
	case e.earlyV1():
		// 0.14 GiB + 37.75 B per sequence and vocabulary entry.
		est.Activation = addSat(14*GiB/100, mulSat(uint64(seqs), vocab, 3775)/100)
	default:
		// 12 B per batched token and hidden unit + 13.24 B per sequence and
		// vocabulary entry (fits §8's 0.19 figures within 10 %).
		est.Activation = addSat(mulSat(uint64(tokens), hidden, 12), mulSat(uint64(seqs), vocab, 1324)/100)
	}

	// CUDA graphs: 0.67–1.84 GiB outside the budget up to 0.20 (1.84 for
	// gpt-oss-20b); profiled estimates of 0.1–0.7 GiB inside it from 0.21.
	switch {
	case s.EnforceEager:
	case est.GraphsInBudget && a.MoE:
		est.Graphs = 7 * GiB / 10
	case est.GraphsInBudget:
		est.Graphs = 4 * GiB / 10
	case a.MoE:
		est.Graphs = 185 * GiB / 100
	default:
		est.Graphs = GiB
	}

	// KV cache: every layer's pages come from one pool.
	kvHeads := uint64(max(1, a.KVHeads/tp))
	perLayerToken := mulSat(2, kvHeads, uint64(a.HeadDim), uint64(s.KVBytes()))
	est.KVPerToken = mulSat(perLayerToken, uint64(a.Layers))
	est.KVNeed, est.SlidingFixed = kvNeed(a, perLayerToken, s.MaxModelLen, tokens, block)
	return est
}

// kvNeed is vLLM's check that one request of maxLen fits: full-attention
// layers need cdiv(len, block) pages; sliding-window layers need
// cdiv(min(window − 1 + batched tokens, len), block) + 1 pages.
func kvNeed(a catalog.Architecture, perLayerToken uint64, maxLen, batched, block int) (total, sliding uint64) {
	sl := a.SlidingLayers()
	full := uint64(a.Layers - sl)
	pages := uint64((maxLen + block - 1) / block)
	total = mulSat(full, pages, uint64(block), perLayerToken)
	if sl > 0 {
		n := min(a.SlidingWindow-1+batched, maxLen)
		sliding = mulSat(uint64(sl), uint64((n+block-1)/block+1), uint64(block), perLayerToken)
		total = addSat(total, sliding)
	}
	return total, sliding
}

// weightsPerGPU is "Model loading took" on one GPU. Dense and quantized
// checkpoints load at their file size, split over the tensor-parallel ranks
// except what every rank holds: layer norms, and the KV projections when there
// are more ranks than KV heads. MXFP4 experts (gpt-oss) are padded on load:
// each rank's expert intermediate size is rounded up to a multiple of 256
// (2880 → 3072), and the router and attention sinks are on every rank.
func weightsPerGPU(a catalog.Architecture, weightBytes uint64, variant *catalog.Variant, tp int) uint64 {
	h := uint64(a.HiddenSize())
	l := uint64(a.Layers)
	bytesPer := uint64(2)
	if variant != nil && variant.Bits <= 8 {
		bytesPer = 1
	}
	replicated := mulSat(addSat(mulSat(l, 2, h), h), 2) // norms stay bf16
	var extra uint64
	if tp > a.KVHeads {
		// each rank holds one KV head's K and V projections instead of nKV/tp of them
		perHead := mulSat(l, 2, h, uint64(a.HeadDim), bytesPer)
		extra = perHead - perHead*uint64(a.KVHeads)/uint64(tp)
	}
	if variant == nil && a.DType == "mxfp4" && a.Experts > 0 {
		ei := uint64(a.ExpertIntermediate)
		expertParams := mulSat(l, uint64(a.Experts), 3, h, ei)
		fileExperts := mulSat(expertParams/32, 17) // 4 bits + one 8-bit scale per 32
		rest := weightBytes - min(fileExperts, weightBytes)
		perRank := (ei + uint64(tp) - 1) / uint64(tp)
		padded := (perRank + 255) / 256 * 256
		loadedExperts := mulSat(mulSat(l, uint64(a.Experts), 3, h, padded)/32, 17)
		replicated = addSat(replicated, mulSat(l, addSat(mulSat(h, uint64(a.Experts)), uint64(a.AttentionHeads)), 2)) // router, sinks
		return addSat(rest/uint64(tp), loadedExperts, replicated-replicated/uint64(tp), extra)
	}
	return addSat(weightBytes/uint64(tp), replicated-replicated/uint64(tp), extra)
}
