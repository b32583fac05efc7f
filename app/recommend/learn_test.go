package recommend

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/version"
)

// A start's printed figures are compared per component, and the next
// prediction on the same machine follows them (issue 14, "learn from the real start").
func TestLearnFromARealStartCalibratesTheNextPrediction(t *testing.T) {
	var fx fixtureLog
	for _, f := range loadFixtureLogs(t) {
		if strings.HasPrefix(f.name, "07-") {
			fx = f
		}
	}
	m := fx.measured()
	est := estimate(fx.model.Architecture, fx.model.WeightBytes, nil, fx.settings, fx.total)
	requested := uint64(fx.settings.Utilization * float64(fx.total))
	rec := Learn(fx.model.ID, est, fx.settings, requested, m, time.Now())
	if rec.Calibration == nil || len(rec.Differences) != 2 {
		t.Fatalf("record %+v", rec)
	}
	// Round trip through JSON (what app/store keeps), NaN figures left out.
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back StartRecord
	if err := json.Unmarshal(b, &back); err != nil || back.Measured.Weights != m.Weights || !math.IsNaN(back.Measured.Activation) {
		t.Fatalf("round trip: %v %+v", err, back.Measured)
	}

	// Next prediction on that machine, same settings: the KV pool now matches what vLLM printed.
	g := hardware.GPU{Vendor: "nvidia", Name: "NVIDIA H100 80GB HBM3", MemoryTotal: fx.total, MemoryFree: fx.total, ComputeCapability: "9.0"}
	opts := Options{GitLab: version.MustParse("18.5"), Context: 16000, Utilization: 0.9, Engine: fx.header["vllm"],
		Calibrations: map[string]Calibration{fx.model.ID: *rec.Calibration}}
	r, err := Recommend(hardware.Machine{GPUs: []hardware.GPU{g}}, cat(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	f := fit(t, r, fx.model.ID)
	got := float64(f.Memory.KVPool) / GiB
	if !f.Memory.Calibrated || math.Abs(got-m.KVPool) > 0.02*m.KVPool || !strings.Contains(f.Why, "calibrated") {
		t.Fatalf("calibrated KV pool %.2f GiB, vLLM printed %.2f (%s)", got, m.KVPool, f.Why)
	}
	// Other models are not touched.
	if o := fit(t, r, "gpt-oss-20b"); o.Memory.Calibrated {
		t.Fatal("a calibration leaked to another model")
	}
}

func TestCalibrationNeedsTheFigures(t *testing.T) {
	if _, ok := Calibrate(Estimate{Weights: GiB}, GiB, NewMeasured(), time.Now()); ok {
		t.Fatal("no printed weights, no calibration")
	}
	m := NewMeasured()
	m.Weights = 100 // a different model altogether
	c, ok := Calibrate(Estimate{Weights: GiB, NonTorch: GiB}, 10*GiB, m, time.Now())
	if !ok || c.Weights != 2 {
		t.Fatalf("scale must stay within 0.5–2: %+v", c)
	}
}
