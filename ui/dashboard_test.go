package ui

import (
	"context"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
)

const testDigest = "sha256:4f9a2c0d5e6b7a8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e"

// fakeEngineHealth is what health.Checker reports for a stack whose model
// server ran out of GPU memory once (converted as cmd/duobox converts it).
func fakeEngineHealth(context.Context) (StackReport, error) {
	return StackReport{
		Status: "degraded", Reason: "the model server restarted 2 times", Fix: "lower gpu_memory_utilization",
		Containers: []ContainerCard{
			{Role: stack.RoleModel, Name: "duobox-model-0", Exists: true, State: "running", Health: "healthy",
				StartedAt: time.Now().Add(-90 * time.Minute), Restarts: 2, Image: "vllm/vllm-openai:v0.18.1", Digest: testDigest,
				GPUMemory: []float64{0.2, 0.5, 0.9, 0.91}, Latency: 42 * time.Millisecond},
			{Role: stack.RoleGateway, Name: "duobox-gateway", Exists: true, State: "exited", HealthReason: "exit code 1",
				Image: "model-gateway:self-hosted-v18.2.1-ee"},
		},
		Banners: []Banner{{Role: stack.RoleModel, Summary: "CUDA out of memory", Fix: "lower --gpu-memory-utilization or --max-model-len"}},
	}, nil
}

func TestDashboard_FakeEngine_cardsBannersAndActions(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.Health = fakeEngineHealth
	var restarted string
	b.svc.Restart = func(_ context.Context, role string) error { restarted = role; return nil }
	b.svc.Test = func(context.Context) (TestResult, error) {
		return TestResult{SmokeResult: health.SmokeResult{OK: false, Steps: []health.SmokeStep{
			{Name: "model_completion", OK: true, Latency: 120 * time.Millisecond, FirstTokens: "def add(a, b):"},
			{Name: "gateway_model_check", Diagnosis: "the gateway answered 401", Fix: "check the JWT keys"},
		}}}, nil
	}
	u := b.open()
	v := u.Dashboard
	if u.Tabs.Selected().Text != TabDashboard {
		t.Fatalf("opened %q", u.Tabs.Selected().Text)
	}
	if !strings.Contains(v.Summary.Text, "degraded") || !strings.Contains(v.Summary.Text, "Fix: lower gpu_memory_utilization") {
		t.Errorf("summary %q", v.Summary.Text)
	}
	if len(v.Banners.Objects) != 1 || !strings.Contains(v.Banners.Objects[0].(*widget.Label).Text, "Fix: lower --gpu-memory-utilization") {
		t.Errorf("banners %d", len(v.Banners.Objects))
	}
	if len(v.Cards.Objects) != 2 {
		t.Fatalf("%d cards", len(v.Cards.Objects))
	}
	model := v.Cards.Objects[0].(*widget.Card)
	if model.Title != "Model server" {
		t.Errorf("card title %q", model.Title)
	}
	text := allText(model)
	for _, want := range []string{"Up 1h30m", "Restarts: 2", "Latency: 42.0 ms", "vllm/vllm-openai:v0.18.1", "sha256:4f9a2c0d5e6b…"} {
		if !strings.Contains(text, want) {
			t.Errorf("model card lacks %q in %q", want, text)
		}
	}
	tapButton(t, model, "Copy digest")
	if got := b.app.Clipboard().Content(); got != testDigest {
		t.Errorf("clipboard %q", got)
	}
	tapButton(t, model, "Restart")
	u.Wait()
	if restarted != stack.RoleModel || !strings.Contains(v.TestOut.Text, "Restarted") {
		t.Errorf("restart %q, %q", restarted, v.TestOut.Text)
	}
	if gw := allText(v.Cards.Objects[1]); !strings.Contains(gw, "exit code 1") {
		t.Errorf("gateway card %q", gw)
	}

	test.Tap(v.Test)
	u.Wait()
	if !strings.Contains(v.TestOut.Text, `✓ model completion`) || !strings.Contains(v.TestOut.Text, "Fix: check the JWT keys") || v.TestOut.Importance != widget.DangerImportance {
		t.Errorf("test output %q", v.TestOut.Text)
	}
}

func TestDashboard_beforeDeployTellsWhatToDo(t *testing.T) {
	b := newBed(t)
	b.svc.Health = fakeEngineHealth
	u := b.open()
	selectTab(u, TabDashboard)
	if !strings.Contains(u.Dashboard.Summary.Text, "Fix:") {
		t.Errorf("summary %q", u.Dashboard.Summary.Text)
	}
}

// allText joins the text of every label under o.
func allText(o fyne.CanvasObject) string {
	var b strings.Builder
	walk(o, func(o fyne.CanvasObject) {
		if l, ok := o.(*widget.Label); ok {
			b.WriteString(l.Text + "\n")
		}
	})
	return b.String()
}

// tapButton taps the button labelled text under o.
func tapButton(t *testing.T, o fyne.CanvasObject, text string) {
	t.Helper()
	var found *widget.Button
	walk(o, func(o fyne.CanvasObject) {
		if b, ok := o.(*widget.Button); ok && b.Text == text && found == nil {
			found = b
		}
	})
	if found == nil {
		t.Fatalf("no %q button", text)
	}
	test.Tap(found)
}

func walk(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	f(o)
	switch w := o.(type) {
	case *fyne.Container:
		for _, c := range w.Objects {
			walk(c, f)
		}
	case *widget.Card:
		if w.Content != nil {
			walk(w.Content, f)
		}
	}
}
