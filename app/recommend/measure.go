package recommend

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app/catalog"
)

// Predict is the per-GPU estimate for model m (variant nil: its own weights)
// under s on a GPU with gpuTotal bytes.
func Predict(m catalog.Model, variant *catalog.Variant, s Settings, gpuTotal uint64) Estimate {
	w := m.WeightBytes
	if variant != nil {
		w = variant.WeightBytes
	}
	if s.MaxModelLen == 0 {
		s.MaxModelLen = m.Architecture.MaxContext
	}
	return estimate(m.Architecture, w, variant, s, gpuTotal)
}

// Measured is what vLLM printed about its memory at start-up, in GiB (NaN:
// not printed), read from the recognised log lines.
type Measured struct {
	Engine     string  `json:"vllm_version,omitempty"`
	Weights    float64 `json:"weights_gib"`
	NonTorch   float64 `json:"non_torch_gib"`
	Activation float64 `json:"activation_gib"`
	Graphs     float64 `json:"cuda_graphs_gib"`
	KVPool     float64 `json:"kv_pool_gib"`
	KVTokens   int     `json:"kv_tokens,omitempty"`
	Requested  float64 `json:"requested_gib"` // total × utilisation, when printed
	Total      float64 `json:"gpu_total_gib"`
	Refused    string  `json:"refused,omitempty"` // the recogniser kind of a start-up refusal
}

// NewMeasured is a Measured with nothing seen yet.
func NewMeasured() Measured {
	n := math.NaN()
	return Measured{Weights: n, NonTorch: n, Activation: n, Graphs: n, KVPool: n, Requested: n, Total: n}
}

// Observe folds one recognised log event (its kind and values, as
// runtime/logs recognises them) into m.
func (m *Measured) Observe(kind string, values map[string]string) {
	f := func(k string) float64 {
		v, err := strconv.ParseFloat(strings.TrimSpace(values[k]), 64)
		if err != nil {
			return math.NaN()
		}
		return v
	}
	set := func(dst *float64, k string) {
		if v := f(k); !math.IsNaN(v) {
			*dst = v
		}
	}
	switch kind {
	case "vllm_engine_version":
		m.Engine = values["version"]
	case "vllm_weights_loaded":
		set(&m.Weights, "gib")
	case "vllm_kv_cache_memory":
		set(&m.KVPool, "gib")
	case "vllm_kv_cache_tokens":
		if n, err := strconv.Atoi(strings.ReplaceAll(values["tokens"], ",", "")); err == nil {
			m.KVTokens = n
		}
	case "vllm_gpu_blocks":
		if n, err := strconv.Atoi(values["gpu_blocks"]); err == nil && m.KVTokens == 0 {
			m.KVTokens = n * 16
		}
	case "vllm_memory_profile":
		set(&m.Weights, "weights_gib")
		set(&m.NonTorch, "non_torch_gib")
		set(&m.Activation, "activation_gib")
		set(&m.KVPool, "kv_gib")
	case "vllm_memory_profile_v0":
		set(&m.Total, "total_gib")
		set(&m.NonTorch, "non_torch_gib")
		set(&m.KVPool, "kv_gib")
		if peak := f("peak_torch_gib"); !math.IsNaN(peak) && !math.IsNaN(m.Weights) {
			m.Activation = peak - m.Weights
		}
		if u := f("utilization"); !math.IsNaN(u) && !math.IsNaN(m.Total) {
			m.Requested = u * m.Total
		}
	case "vllm_memory_budget":
		set(&m.Total, "total_gib")
		set(&m.Requested, "requested_gib")
	case "vllm_memory_usage":
		set(&m.Total, "total_gib")
		set(&m.Requested, "requested_gib")
		set(&m.Activation, "activation_gib")
		set(&m.Graphs, "graphs_gib")
		if c := f("consumed_gib"); !math.IsNaN(c) && !math.IsNaN(m.Weights) {
			m.NonTorch = c - m.Weights
		}
	case "vllm_cuda_graphs":
		set(&m.Graphs, "gib")
	case "vllm_cuda_graph_pool":
		set(&m.Graphs, "actual_gib")
	case "vllm_kv_cache_too_small", "vllm_no_cache_memory", "cuda_out_of_memory", "vllm_gpu_memory_taken":
		if m.Refused == "" {
			m.Refused = kind
		}
	}
}

// Difference is one component, predicted against measured.
type Difference struct {
	Component string  `json:"component"` // weights, non-torch memory, activations, CUDA graphs, KV cache
	Predicted float64 `json:"predicted_gib"`
	Measured  float64 `json:"measured_gib"`
	Off       float64 `json:"off"`     // (predicted − measured) / measured
	Flagged   bool    `json:"flagged"` // more than 10 % apart (and more than 0.25 GiB)
}

func (d Difference) String() string {
	s := fmt.Sprintf("%s: predicted %.2f GiB, measured %.2f GiB (%+.0f %%)", d.Component, d.Predicted, d.Measured, 100*d.Off)
	if d.Flagged {
		s += " — differs by more than 10 %"
	}
	return s
}

// Compare sets an estimate, with the bytes vLLM was given (total ×
// utilisation), against what vLLM printed; components it did not print are left out.
func Compare(e Estimate, requested uint64, m Measured) []Difference {
	var out []Difference
	add := func(name string, predicted float64, measured float64) {
		if math.IsNaN(measured) {
			return
		}
		d := Difference{Component: name, Predicted: predicted, Measured: measured}
		if measured != 0 {
			d.Off = (predicted - measured) / math.Abs(measured)
		}
		d.Flagged = math.Abs(d.Off) > 0.10 && math.Abs(predicted-measured) > 0.25
		out = append(out, d)
	}
	g := func(b uint64) float64 { return float64(b) / GiB }
	add("weights", g(e.Weights), m.Weights)
	add("non-torch memory", g(e.NonTorch), m.NonTorch)
	add("activations", g(e.Activation), m.Activation)
	add("CUDA graphs", g(e.Graphs), m.Graphs)
	add("KV cache", float64(e.KVPool(requested))/GiB, m.KVPool)
	return out
}
