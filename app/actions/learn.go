package actions

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

// LearnFromStart reads the memory lines each model server printed at its
// start, sets them against DuoBox's prediction for that model, GPU and vLLM
// version, and stores the measurement, which calibrates the next prediction
// on this machine (issue 14). It never fails 'up': what it cannot read it skips.
func (c *Core) LearnFromStart(ctx context.Context, env *Stack) []recommend.StartRecord {
	if env.Config.Mode != config.ModeGPU || env.Engine == nil {
		return nil
	}
	var machine *hardware.Machine
	var out []recommend.StartRecord
	for i, cm := range env.Config.Models {
		evs, _, err := health.ScanLogEvents(ctx, env.Engine.LogSource(), stack.ModelContainerName(env.Config.Name, i), 5000)
		if err != nil {
			continue
		}
		measured := measuredFrom(evs)
		if math.IsNaN(measured.Weights) && math.IsNaN(measured.KVPool) {
			continue // vLLM printed none of its memory lines (yet)
		}
		entry, ok := env.Catalog.Find(cm.HFRepo)
		if !ok {
			continue
		}
		if machine == nil {
			m, err := c.Detect(ctx, hardware.Overrides{})
			if err != nil {
				return out
			}
			machine = &m
		}
		gpuIdx := 0
		if len(cm.GPUs) > 0 {
			gpuIdx = cm.GPUs[0]
		}
		var gpu hardware.GPU
		for _, gg := range machine.NVIDIA() {
			if gg.Index == gpuIdx {
				gpu = gg
			}
		}
		if gpu.MemoryTotal == 0 {
			continue
		}
		rec, engine := predictStart(entry, cm, env.Config.ModelServer.Tag, gpu.MemoryTotal, measured)
		out = append(out, rec)
		if env.Store != nil {
			settings, _ := json.Marshal(rec.Settings)
			body, _ := json.Marshal(rec)
			meas, _ := json.Marshal(rec.Measured)
			if err := env.Store.SaveFitMeasurement(ctx, store.FitMeasurement{Model: entry.ID, GPU: gpu.Name, VLLM: engine,
				Settings: settings, Predicted: body, Measured: meas, At: time.Now()}); err != nil {
				c.warn(err.Error())
			}
		}
	}
	return out
}

// measuredFrom folds recognised log events into what vLLM printed; a later
// start's lines replace an earlier one's.
func measuredFrom(evs []logs.Event) recommend.Measured {
	m := recommend.NewMeasured()
	for _, e := range evs {
		m.Observe(e.Kind, e.Values)
	}
	return m
}

// predictStart is DuoBox's estimate for a configured model, compared with a start.
func predictStart(entry catalog.Model, cm config.Model, tag string, gpuTotal uint64, measured recommend.Measured) (recommend.StartRecord, string) {
	e, err := recommend.ParseEngine(tag)
	if measured.Engine != "" {
		if pe, perr := recommend.ParseEngine(measured.Engine); perr == nil {
			e, err = pe, nil
		}
	}
	if err != nil {
		e, _ = recommend.ParseEngine("")
	}
	var variant *catalog.Variant
	for i := range entry.Quantized {
		if entry.Quantized[i].Repo == cm.Variant {
			variant = &entry.Quantized[i]
		}
	}
	util := cm.GPUMemoryUtilization
	if util == 0 {
		util = 0.9
	}
	s := recommend.Settings{Engine: e.String(), Utilization: util, TensorParallel: max(cm.TensorParallelSize, len(cm.GPUs), 1),
		MaxModelLen: cm.MaxModelLen, KVCacheDType: cm.KVCacheDType, MaxBatchedTokens: cm.MaxNumBatchedTokens}
	est := recommend.Predict(entry, variant, s, gpuTotal)
	requested := uint64(util * float64(gpuTotal))
	return recommend.Learn(entry.ID, est, s, requested, measured, time.Now()), e.String()
}

// Calibrations loads the measured starts for the GPU DuoBox would use and
// the vLLM version it predicts for (one query; nil when there are none).
func Calibrations(ctx context.Context, st *store.Store, m hardware.Machine, engine string) map[string]recommend.Calibration {
	if st == nil {
		return nil
	}
	gpus := m.NVIDIA()
	if len(gpus) == 0 {
		return nil
	}
	best := gpus[0]
	for _, g := range gpus[1:] {
		if g.MemoryFree > best.MemoryFree {
			best = g
		}
	}
	e, err := recommend.ParseEngine(engine)
	if err != nil {
		return nil
	}
	rows, err := st.FitMeasurements(ctx, best.Name, e.String())
	if err != nil || len(rows) == 0 {
		return nil
	}
	out := map[string]recommend.Calibration{}
	for model, row := range rows {
		var r recommend.StartRecord
		if json.Unmarshal(row.Predicted, &r) == nil && r.Calibration != nil {
			out[model] = *r.Calibration
		}
	}
	return out
}
