package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/recommend"
)

// The Dashboard shows predicted vs measured memory per component of the last
// start, and names a component more than 10 % off (the start's figures are
// stand-ins: no GPU and vLLM here).
func TestDashboard_predictedVsMeasuredStandInStart(t *testing.T) {
	b := newBed(t)
	u := b.open()
	entry, _ := b.cat.Find("llama-3.1-8b-instruct")
	s := recommend.Settings{Utilization: 0.9, MaxModelLen: 16384}
	est := recommend.Predict(entry, nil, s, 80<<30)
	m := recommend.NewMeasured()
	m.Observe("vllm_weights_loaded", map[string]string{"gib": "14.99"})
	m.Observe("vllm_kv_cache_memory", map[string]string{"gib": "30.00"})
	rec := recommend.Learn(entry.ID, est, s, 72<<30, m, time.Now())
	u.Dashboard.showMemory([]recommend.StartRecord{rec}, nil)
	text := u.Dashboard.Memory.Text
	for _, want := range []string{"predicted vs measured", "weights: predicted", "KV cache: predicted", "differs by more than 10 %"} {
		if !strings.Contains(text, want) {
			t.Errorf("dashboard memory %q lacks %q", text, want)
		}
	}
	if strings.Count(text, "more than 10 %") != 1 || u.Dashboard.Memory.Importance != widget.WarningImportance {
		t.Errorf("only the KV cache is off; got %q (importance %v)", text, u.Dashboard.Memory.Importance)
	}
}
