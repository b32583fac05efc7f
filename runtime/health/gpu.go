package health

import (
	"context"
	"encoding/csv"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app/hardware"
)

// GPUSample is one GPU's memory and utilisation at a moment.
type GPUSample struct {
	Time           time.Time `json:"time"`
	Index          int       `json:"index"`
	Name           string    `json:"name"`
	MemoryUsed     uint64    `json:"memory_used_bytes"`
	MemoryTotal    uint64    `json:"memory_total_bytes"`
	UtilizationPct *float64  `json:"utilization_pct,omitempty"` // nil when unknown
	Source         string    `json:"source"`                    // nvml or nvidia-smi
}

// GPUSampler samples NVIDIA GPUs through NVML (in cgo builds), else nvidia-smi.
type GPUSampler struct {
	Run hardware.CommandRunner // nil: exec
}

// nvidiaSMISampleQuery adds utilisation to the columns hardware's parser reads.
var nvidiaSMISampleQuery = []string{"--query-gpu=index,name,memory.total,memory.used,memory.free,utilization.gpu", "--format=csv"}

// Sample returns one sample per GPU; the error explains when neither source works.
func (s GPUSampler) Sample(ctx context.Context) ([]GPUSample, error) {
	now := time.Now().UTC()
	if gpus, err := hardware.NVML(ctx); err == nil {
		out := make([]GPUSample, len(gpus))
		for i, g := range gpus {
			out[i] = GPUSample{Time: now, Index: g.Index, Name: g.Name, MemoryUsed: g.MemoryUsed, MemoryTotal: g.MemoryTotal, UtilizationPct: g.UtilizationPct, Source: "nvml"}
		}
		return out, nil
	}
	run := s.Run
	if run == nil {
		run = func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).CombinedOutput()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := run(ctx, "nvidia-smi", nvidiaSMISampleQuery...)
	if err != nil && len(out) == 0 {
		return nil, fmt.Errorf("sample GPUs: nvidia-smi: %w", err)
	}
	samples, perr := ParseNvidiaSMISample(out)
	if perr != nil {
		return nil, fmt.Errorf("sample GPUs: %w", perr)
	}
	for i := range samples {
		samples[i].Time = now
	}
	return samples, nil
}

// ParseNvidiaSMISample reads nvidia-smi's CSV with hardware's parser (which
// knows the failure texts) plus the utilization.gpu column.
func ParseNvidiaSMISample(out []byte) ([]GPUSample, error) {
	gpus, err := hardware.ParseNvidiaSMI(out)
	if err != nil {
		return nil, err
	}
	util := utilizationColumn(out)
	samples := make([]GPUSample, len(gpus))
	for i, g := range gpus {
		samples[i] = GPUSample{Index: g.Index, Name: g.Name, MemoryUsed: g.MemoryUsed, MemoryTotal: g.MemoryTotal, Source: "nvidia-smi"}
		if i < len(util) {
			samples[i].UtilizationPct = util[i]
		}
	}
	return samples, nil
}

// utilizationColumn returns the utilization.gpu values by row ("37 %", "37", "[N/A]").
func utilizationColumn(out []byte) []*float64 {
	r := csv.NewReader(strings.NewReader(strings.TrimSpace(string(out))))
	r.TrimLeadingSpace, r.FieldsPerRecord = true, -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return nil
	}
	col := -1
	for i, h := range rows[0] {
		if strings.HasPrefix(strings.TrimSpace(h), "utilization.gpu") {
			col = i
		}
	}
	if col < 0 {
		return nil
	}
	var vals []*float64
	for _, row := range rows[1:] {
		var v *float64
		if col < len(row) {
			if f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(row[col]), "%")), 64); err == nil && f >= 0 && f <= 100 {
				v = &f
			}
		}
		vals = append(vals, v)
	}
	return vals
}
