package recommend

import (
	"encoding/json"
	"math"
	"time"
)

// Calibration corrects the memory model for one model on one machine from a
// real start: the ratios of what vLLM printed to what was predicted.
type Calibration struct {
	Weights  float64   `json:"weights_scale"`  // loaded weights / predicted weights
	Overhead float64   `json:"overhead_scale"` // measured overhead / predicted overhead
	At       time.Time `json:"measured_at"`
}

// Calibrate derives a calibration from a start: the overhead vLLM had is
// what it was given (total × utilisation) less its weights and KV pool. It
// is false when the log lacked the figures. Ratios are kept within 0.5–2: a
// log that says more than that is about a different setup.
func Calibrate(e Estimate, requested uint64, m Measured, at time.Time) (Calibration, bool) {
	if math.IsNaN(m.Weights) || m.Weights <= 0 || e.Weights == 0 {
		return Calibration{}, false
	}
	c := Calibration{Weights: clamp(m.Weights * GiB / float64(e.Weights)), Overhead: 1, At: at}
	req := float64(requested) / GiB
	if !math.IsNaN(m.Requested) && m.Requested > 0 {
		req = m.Requested
	}
	if !math.IsNaN(m.KVPool) && e.Overhead() > 0 {
		if over := req - m.Weights - m.KVPool; over > 0 {
			c.Overhead = clamp(over * GiB / float64(e.Overhead()))
		}
	}
	return c, true
}

func clamp(r float64) float64 { return math.Min(2, math.Max(0.5, r)) }

// apply scales an estimate by the calibration.
func (c Calibration) apply(e *Estimate) {
	if c.Weights > 0 {
		e.Weights = uint64(float64(e.Weights) * c.Weights)
	}
	if c.Overhead > 0 {
		e.NonTorch = uint64(float64(e.NonTorch) * c.Overhead)
		e.Activation = uint64(float64(e.Activation) * c.Overhead)
		if e.GraphsInBudget {
			e.Graphs = uint64(float64(e.Graphs) * c.Overhead)
		}
	}
}

// StartRecord is what DuoBox keeps of a real start (app/store fit_measurements).
type StartRecord struct {
	ModelID     string       `json:"model"`
	Settings    Settings     `json:"settings"`
	Requested   uint64       `json:"requested_bytes"`
	Predicted   Estimate     `json:"predicted"`
	Measured    Measured     `json:"measured"`
	Differences []Difference `json:"differences"`
	Calibration *Calibration `json:"calibration,omitempty"`
}

// Learn compares a start's recognised figures with the prediction for it.
func Learn(modelID string, e Estimate, s Settings, requested uint64, m Measured, at time.Time) StartRecord {
	r := StartRecord{ModelID: modelID, Settings: s, Requested: requested, Predicted: e, Measured: m, Differences: Compare(e, requested, m)}
	if c, ok := Calibrate(e, requested, m, at); ok {
		r.Calibration = &c
	}
	return r
}

// MarshalJSON writes the figures vLLM printed and leaves out the rest (NaN).
func (m Measured) MarshalJSON() ([]byte, error) {
	out := map[string]any{}
	put := func(k string, v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out[k] = v
		}
	}
	put("weights_gib", m.Weights)
	put("non_torch_gib", m.NonTorch)
	put("activation_gib", m.Activation)
	put("cuda_graphs_gib", m.Graphs)
	put("kv_pool_gib", m.KVPool)
	put("requested_gib", m.Requested)
	put("gpu_total_gib", m.Total)
	if m.KVTokens > 0 {
		out["kv_tokens"] = m.KVTokens
	}
	if m.Engine != "" {
		out["vllm_version"] = m.Engine
	}
	if m.Refused != "" {
		out["refused"] = m.Refused
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON wrote; absent figures are NaN.
func (m *Measured) UnmarshalJSON(b []byte) error {
	var in map[string]json.RawMessage
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*m = NewMeasured()
	num := func(k string, dst *float64) {
		if raw, ok := in[k]; ok {
			_ = json.Unmarshal(raw, dst)
		}
	}
	num("weights_gib", &m.Weights)
	num("non_torch_gib", &m.NonTorch)
	num("activation_gib", &m.Activation)
	num("cuda_graphs_gib", &m.Graphs)
	num("kv_pool_gib", &m.KVPool)
	num("requested_gib", &m.Requested)
	num("gpu_total_gib", &m.Total)
	if raw, ok := in["kv_tokens"]; ok {
		_ = json.Unmarshal(raw, &m.KVTokens)
	}
	if raw, ok := in["vllm_version"]; ok {
		_ = json.Unmarshal(raw, &m.Engine)
	}
	if raw, ok := in["refused"]; ok {
		_ = json.Unmarshal(raw, &m.Refused)
	}
	return nil
}
