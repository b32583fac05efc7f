package recommend

import (
	"math"
	"math/bits"

	"github.com/duobox/duobox/app/catalog"
)

// GiB is 2^30 bytes; vLLM logs GiB, nvidia-smi reports MiB.
const GiB = 1 << 30

// tightShare is the margin under which a fit is called tight: vLLM's own
// figures move by a few percent between runs (fixture logs, testdata/vllm-logs).
const tightShare = 0.03

// Breakdown is one model's memory on one GPU, in bytes.
type Breakdown struct {
	Weights        uint64 `json:"weights_bytes"`
	KVCache        uint64 `json:"kv_cache_bytes"`    // what one request of the chosen context needs (vLLM's start-up check)
	Overhead       uint64 `json:"overhead_bytes"`    // non-torch memory + activations (+ CUDA graphs from vLLM 0.21), inside the budget
	Graphs         uint64 `json:"cuda_graphs_bytes"` // CUDA graphs; outside the budget up to vLLM 0.20 (needs headroom)
	Total          uint64 `json:"total_bytes"`       // weights + KV + overhead
	Budget         uint64 `json:"budget_bytes"`      // what vLLM may use on this GPU: free × utilisation, less graph headroom
	NonTorch       uint64 `json:"non_torch_bytes"`
	Activation     uint64 `json:"activation_bytes"`
	GraphsInBudget bool   `json:"graphs_in_budget"`
	KVPool         int64  `json:"kv_pool_bytes"`        // what vLLM gives the KV cache out of the budget ("Available KV cache memory")
	KVTokens       int    `json:"kv_tokens"`            // "GPU KV cache size: N tokens"
	Engine         string `json:"vllm_version"`         // the vLLM version this is predicted for
	Calibrated     bool   `json:"calibrated,omitempty"` // corrected by a real start measured on this machine
	est            Estimate
}

// gpuMem is the card a layout is sized for.
type gpuMem struct{ free, total uint64 }

// budget is what vLLM may use on a GPU with this much free memory at util,
// keeping headroom for CUDA graphs when they sit outside the budget.
func budget(g gpuMem, util float64, est Estimate) uint64 {
	b := uint64(float64(g.free) * util)
	if est.GraphsInBudget {
		return b
	}
	if g.free <= est.Graphs {
		return 0
	}
	return min(b, g.free-est.Graphs)
}

// budgetFor is the budget under the user's options: with their own
// --gpu-memory-utilization it is that share of the card's total, which vLLM
// refuses to start with when less is free (and up to 0.20 the CUDA graphs
// need room beside it); otherwise DuoBox's share of the free memory.
func budgetFor(g gpuMem, opts Options, est Estimate) uint64 {
	if opts.GPUMemoryUtilization == 0 {
		return budget(g, opts.util(), est)
	}
	b := uint64(opts.GPUMemoryUtilization * float64(g.total))
	need := b
	if !est.GraphsInBudget {
		need += est.Graphs
	}
	if g.free < need {
		return 0
	}
	return b
}

// freeNeeded is the free memory a GPU like g needs for b to fit its budget
// (the inverse of budgetFor): b fits exactly when g.free >= freeNeeded.
func freeNeeded(b Breakdown, g gpuMem, opts Options) uint64 {
	var graphs uint64
	if !b.GraphsInBudget {
		graphs = b.Graphs
	}
	if u := opts.GPUMemoryUtilization; u > 0 {
		if reserved := uint64(u * float64(g.total)); b.Total <= reserved {
			return addSat(reserved, graphs) // vLLM takes its share of the card's total, and wants it free
		}
		return addSat(floatSat(math.Ceil(float64(b.Total)/u)), graphs) // more than this card holds
	}
	return max(floatSat(math.Ceil(float64(b.Total)/opts.util())), addSat(b.Total, graphs))
}

// layout is one way to place a model: its weights (bf16 or a variant) over tp GPUs.
type layout struct {
	weights uint64
	tp      int
	variant *catalog.Variant
	gpus    []int  // the GPU indexes (tensor parallel); nil: the best GPU
	limit   gpuMem // tensor parallel: the GPU with the least free memory, which sizes the budget
}

// settingsFor are the vLLM settings a layout runs with at a context.
func (o Options) settingsFor(l layout, context int) Settings {
	return Settings{Engine: o.Engine, Utilization: o.GPUMemoryUtilization, TensorParallel: l.tp, MaxModelLen: context, KVCacheDType: o.KVCacheDType,
		MaxBatchedTokens: o.MaxBatchedTokens, EnforceEager: o.EnforceEager}
}

// need returns the breakdown for a layout at a context on a GPU.
func need(m catalog.Model, l layout, context int, g gpuMem, opts Options) Breakdown {
	est := estimate(m.Architecture, l.weights, l.variant, opts.settingsFor(l, context), g.total)
	c, calibrated := opts.Calibrations[m.ID]
	if calibrated {
		c.apply(&est)
	}
	b := Breakdown{Calibrated: calibrated, Weights: est.Weights, KVCache: est.KVNeed, Overhead: est.Overhead(), Graphs: est.Graphs,
		NonTorch: est.NonTorch, Activation: est.Activation, GraphsInBudget: est.GraphsInBudget, Engine: est.Engine, est: est}
	if g.free > 0 {
		b.Budget = budgetFor(g, opts, est)
		b.KVPool = est.KVPool(b.Budget)
		b.KVTokens = est.KVTokens(b.KVPool)
	}
	b.Total = addSat(b.Weights, b.KVCache, b.Overhead)
	return b
}

// mulSat and addSat multiply and add, saturating at the largest uint64: a
// size that large fits no GPU, where a wrapped one could look small enough
// to fit (a catalog model with 2^63−1 layers read "0.0 GiB of KV cache, fits").
func mulSat(xs ...uint64) uint64 {
	r := uint64(1)
	for _, x := range xs {
		hi, lo := bits.Mul64(r, x)
		if hi != 0 {
			return math.MaxUint64
		}
		r = lo
	}
	return r
}

// floatSat converts a non-negative size to bytes, the largest uint64 when
// it is beyond (a plain conversion is undefined there).
func floatSat(f float64) uint64 {
	if f >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(max(f, 0))
}

func addSat(xs ...uint64) uint64 {
	var r uint64
	for _, x := range xs {
		sum, carry := bits.Add64(r, x, 0)
		if carry != 0 {
			return math.MaxUint64
		}
		r = sum
	}
	return r
}

// fits says whether the breakdown fits its budget, and whether only tightly.
func (b Breakdown) fits() (ok, tight bool) {
	if b.Budget == 0 || b.Total > b.Budget {
		return false, false
	}
	return true, float64(b.Budget-b.Total) < tightShare*float64(b.Budget)
}

// maxContext is the largest context (a multiple of the block size, at most the
// model's own) whose KV cache fits next to weights and overhead; 0 if none.
func maxContext(m catalog.Model, b Breakdown) int {
	e := b.est
	fixed := b.Weights + b.Overhead + e.SlidingFixed
	if b.Budget <= fixed || e.KVPerToken == 0 {
		return 0
	}
	a := m.Architecture
	full := uint64(a.Layers - a.SlidingLayers())
	if full == 0 {
		return a.MaxContext
	}
	perToken := e.KVPerToken / uint64(a.Layers) * full
	tokens := int((b.Budget - fixed) / perToken)
	tokens -= tokens % max(e.BlockSize, 1)
	return min(tokens, a.MaxContext)
}

// minGPUMemory is the smallest single card (total memory, idle) that serves m
// in its own dtype at context with utilisation util.
func minGPUMemory(m catalog.Model, context int, opts Options) uint64 {
	b := need(m, layout{weights: m.WeightBytes, tp: 1}, context, gpuMem{}, opts)
	byUtil := floatSat(float64(b.Total) / opts.util())
	if b.GraphsInBudget {
		return byUtil
	}
	return max(byUtil, addSat(b.Total, b.Graphs))
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
