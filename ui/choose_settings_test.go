package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/duobox/duobox/app/recommend"
)

// The Choose screen's vLLM settings change the prediction as they are typed,
// name a bad value, say why a model stops fitting, and reach Configure (issue 14).
func TestChoose_vLLMSettingsUpdateThePredictionAsTyped(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabChoose)
	before, ok := u.Choose.Selected()
	if !ok || before.Memory.KVCache == 0 {
		t.Fatalf("no fitting model selected: %+v", before)
	}

	u.Choose.KVCacheDType.SetSelected("fp8")
	u.Wait()
	after, _ := u.Choose.Selected()
	if after.ID != before.ID || after.Memory.KVCache*2 != before.Memory.KVCache {
		t.Fatalf("fp8 KV cache: %s %d bytes, was %s %d", after.ID, after.Memory.KVCache, before.ID, before.Memory.KVCache)
	}
	if !strings.Contains(u.Choose.SettingsStatus.Text, "vLLM "+recommend.DefaultEngine) {
		t.Errorf("status %q does not say which vLLM the prediction is for", u.Choose.SettingsStatus.Text)
	}

	test.Type(u.Choose.Utilization, "abc")
	u.Wait()
	if !strings.Contains(u.Choose.SettingsStatus.Text, "GPU memory utilisation") {
		t.Fatalf("bad utilisation gave %q", u.Choose.SettingsStatus.Text)
	}
	if f, _ := u.Choose.Selected(); f.Memory.KVCache != after.Memory.KVCache {
		t.Fatal("a refused value changed the prediction")
	}

	u.Choose.Utilization.SetText("0.15")
	u.Wait()
	f, _ := u.Choose.Selected()
	if f.ID != before.ID || f.Verdict == recommend.Fits || !strings.Contains(u.Choose.Details.Text, f.Why) {
		t.Fatalf("at 0.15 the model should stop fitting with its reason shown: %s %s; details %q", f.ID, f.Verdict, u.Choose.Details.Text)
	}

	u.Choose.Utilization.SetText("")
	test.Type(u.Choose.TensorParallel, "2")
	u.Wait()
	if !strings.Contains(u.Choose.SettingsStatus.Text, "needs 2 GPUs") {
		t.Fatalf("TP 2 on one GPU gave %q", u.Choose.SettingsStatus.Text)
	}
	u.Choose.TensorParallel.SetText("")
	u.Choose.MaxModelLen.SetText("8192")
	u.Wait()
	in, _ := u.Configure.Input()
	if in.VLLM.KVCacheDType != "fp8" || in.MaxModelLen != 8192 || in.VLLM.Context != 8192 {
		t.Fatalf("Configure input %+v does not carry the settings", in.VLLM)
	}
}
