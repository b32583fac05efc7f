package recommend

import (
	"github.com/duobox/duobox/app/catalog"
)

// GiB is 2^30 bytes; vLLM logs GiB, nvidia-smi reports MiB.
const GiB = 1 << 30

// Memory model constants, per GPU (facts/models.md §3.3 and §8). They are
// estimates; after the first start DuoBox reads vLLM's own figures.
const (
	nonTorchSingleGPU = GiB / 2       // CUDA context + non-torch memory, TP = 1
	nonTorchParallel  = 21 * GiB / 10 // per GPU at TP ≥ 2 (NCCL buffers)
	activationBase    = 3 * GiB / 2   // profiled peak activations at 8k batched tokens
	activationVocab   = 3 * GiB / 2   // extra for vocabularies ≥ 150k (logits)
	activationVocabM  = GiB / 2       // extra for vocabularies ≥ 100k
	activationMoE     = GiB           // extra for MoE routing buffers
	cudaGraphs        = GiB           // outside the utilisation budget: needs headroom
	kvDTypeBytes      = 2             // KV cache in the model's 16-bit dtype
	blockSize         = 16            // vLLM's KV block size (tokens)
)

// Breakdown is one model's memory on one GPU, in bytes.
type Breakdown struct {
	Weights  uint64 `json:"weights_bytes"`
	KVCache  uint64 `json:"kv_cache_bytes"`    // at the chosen context, one full-length sequence
	Overhead uint64 `json:"overhead_bytes"`    // non-torch memory + activations, inside the budget
	Graphs   uint64 `json:"cuda_graphs_bytes"` // outside the budget; needs headroom
	Total    uint64 `json:"total_bytes"`       // weights + KV + overhead
	Budget   uint64 `json:"budget_bytes"`      // what vLLM may use on this GPU: free × utilisation, less graph headroom
}

// overheadPerGPU is the non-KV, non-weight memory inside vLLM's budget.
func overheadPerGPU(a catalog.Architecture, tp int) uint64 {
	o := uint64(nonTorchSingleGPU)
	if tp > 1 {
		o = nonTorchParallel
	}
	o += activationBase
	switch {
	case a.Vocab >= 150_000:
		o += activationVocab
	case a.Vocab >= 100_000:
		o += activationVocabM
	}
	if a.MoE {
		o += activationMoE
	}
	return o
}

// budget is what vLLM may use on a GPU with this much free memory at util,
// keeping headroom for CUDA graphs, which sit outside the budget.
func budget(free uint64, util float64) uint64 {
	b := uint64(float64(free) * util)
	if free > cudaGraphs && free-cudaGraphs < b {
		b = free - cudaGraphs
	}
	if free <= cudaGraphs {
		return 0
	}
	return b
}

// layout is one way to place a model: its weights (bf16 or a variant) over tp GPUs.
type layout struct {
	weights uint64
	tp      int
	variant *catalog.Variant
}

// need returns the breakdown for a layout at a context, against a budget.
func need(m catalog.Model, l layout, context int, budgetBytes uint64) Breakdown {
	kv := m.Architecture.KVBytesPerToken(l.tp, kvDTypeBytes) * uint64(roundUp(context, blockSize))
	b := Breakdown{
		Weights:  l.weights / uint64(l.tp),
		KVCache:  kv,
		Overhead: overheadPerGPU(m.Architecture, l.tp),
		Graphs:   cudaGraphs,
		Budget:   budgetBytes,
	}
	b.Total = b.Weights + b.KVCache + b.Overhead
	return b
}

// maxContext is the largest context (a multiple of the block size, at most the
// model's own) whose KV cache fits next to weights and overhead; 0 if none.
func maxContext(m catalog.Model, l layout, budgetBytes uint64) int {
	fixed := l.weights/uint64(l.tp) + overheadPerGPU(m.Architecture, l.tp)
	if budgetBytes <= fixed {
		return 0
	}
	perToken := m.Architecture.KVBytesPerToken(l.tp, kvDTypeBytes)
	tokens := int((budgetBytes - fixed) / perToken)
	tokens -= tokens % blockSize
	return min(tokens, m.Architecture.MaxContext)
}

// minGPUMemory is the smallest single card (total memory, idle) that serves m
// in its own dtype at context with utilisation util.
func minGPUMemory(m catalog.Model, context int, util float64) uint64 {
	total := need(m, layout{weights: m.WeightBytes, tp: 1}, context, 0).Total
	byUtil := uint64(float64(total) / util)
	return max(byUtil, total+cudaGraphs)
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }
