package actions

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/logs"
)

// A start's memory lines (a published vLLM 0.11 log of Llama 3.1 8B on an
// H100; the engine part of 'up' needs a GPU and vLLM, which this machine has
// not) are compared with the prediction, stored per model/GPU/version, and
// the next recommendation on that GPU and version follows them.
func TestStartMeasurementCalibratesTheNextRecommendStandInLog(t *testing.T) {
	f, err := os.Open("../recommend/testdata/vllm-logs/07-llama-3.1-8b-h100.log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []logs.Event
	rs := logs.Builtin()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if ev := rs.Recognise(sc.Text()); ev != nil && !strings.HasPrefix(sc.Text(), "# ") {
			evs = append(evs, *ev)
		}
	}
	measured := measuredFrom(evs)
	cat, _ := bundles.Catalog()
	entry, _ := cat.Find("llama-3.1-8b-instruct")
	total := uint64(81559) << 20 // h100.csv
	rec, engine := predictStart(entry, config.Model{HFRepo: entry.HFRepo, MaxModelLen: 16000, GPUMemoryUtilization: 0.9, GPUs: []int{0}}, "v0.11.0", total, measured)
	if engine != "0.11.0" || len(rec.Differences) != 2 || rec.Calibration == nil {
		t.Fatalf("record %+v", rec)
	}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	body, _ := json.Marshal(rec)
	if err := st.SaveFitMeasurement(t.Context(), store.FitMeasurement{Model: entry.ID, GPU: "NVIDIA H100 80GB HBM3", VLLM: engine, Settings: []byte("{}"), Predicted: body, Measured: []byte("{}"), At: time.Now()}); err != nil {
		t.Fatal(err)
	}

	csv, err := os.ReadFile("../hardware/testdata/nvidia-smi/h100.csv")
	if err != nil {
		t.Fatal(err)
	}
	gpus, err := hardware.ParseNvidiaSMI(csv)
	if err != nil {
		t.Fatal(err)
	}
	m := hardware.Machine{GPUs: gpus}
	calibrated := func(vllm string) bool {
		opts := recommend.Options{GitLab: version.MustParse("18.5"), Context: 16000, Engine: vllm, Calibrations: Calibrations(t.Context(), st, m, vllm)}
		res, err := recommend.Recommend(m, cat, opts)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := json.Marshal(res)
		var r struct {
			Models []struct {
				ID     string `json:"id"`
				Memory struct {
					Calibrated bool `json:"calibrated"`
				} `json:"memory"`
			} `json:"models"`
		}
		json.Unmarshal(out, &r)
		for _, rm := range r.Models {
			if rm.ID == entry.ID {
				return rm.Memory.Calibrated
			}
		}
		t.Fatal("model missing")
		return false
	}
	if !calibrated("0.11.0") {
		t.Fatal("the stored start did not calibrate the next prediction on that GPU and version")
	}
	if calibrated("") {
		t.Fatal("a start measured with vLLM 0.11 calibrated a prediction for another version")
	}
}
