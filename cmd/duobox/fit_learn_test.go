package main

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/logs"
)

// A start's memory lines (a published vLLM 0.11 log of Llama 3.1 8B on an
// H100; the engine part of 'up' needs a GPU and vLLM, which this machine has
// not) are compared with the prediction, stored per model/GPU/version, and
// the next 'recommend' on that GPU and version follows them.
func TestStartMeasurementCalibratesTheNextRecommendStandInLog(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	f, err := os.Open("../../app/recommend/testdata/vllm-logs/07-llama-3.1-8b-h100.log")
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
	dirs, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(dirs.State, 0o700)
	st, err := store.Open(t.Context(), dirs.Database())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(rec)
	if err := st.SaveFitMeasurement(t.Context(), store.FitMeasurement{Model: entry.ID, GPU: "NVIDIA H100 80GB HBM3", VLLM: engine, Settings: []byte("{}"), Predicted: body, Measured: []byte("{}"), At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	calibrated := func(args ...string) bool {
		code, out, errOut := runCLI(t, append([]string{"recommend", "--json", "--nvidia-smi", fixtures + "h100.csv", "--gitlab-version", "18.5", "--context", "16000"}, args...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var r struct {
			Models []struct {
				ID     string `json:"id"`
				Memory struct {
					Calibrated bool `json:"calibrated"`
				} `json:"memory"`
			} `json:"models"`
		}
		json.Unmarshal([]byte(out), &r)
		for _, m := range r.Models {
			if m.ID == entry.ID {
				return m.Memory.Calibrated
			}
		}
		t.Fatal("model missing")
		return false
	}
	if !calibrated("--vllm-version", "0.11.0") {
		t.Fatal("the stored start did not calibrate the next prediction on that GPU and version")
	}
	if calibrated() {
		t.Fatal("a start measured with vLLM 0.11 calibrated a prediction for another version")
	}
}
