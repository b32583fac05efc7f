package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/weights"
)

// fakeEngineUp stands in for deploy.Deployer.Up on an engine: it reports
// what a real Up reports (steps, per-layer pulls folded by the real
// Aggregator) and returns.
func fakeEngineUp(ctx context.Context, on func(deploy.Event)) error {
	on(deploy.Event{Kind: deploy.EventStep, Message: "Pulling vllm/vllm-openai:v0.18.1"})
	agg := engine.NewAggregator("vllm/vllm-openai:v0.18.1", nil)
	for _, ev := range []engine.LayerEvent{
		{Layer: "a", Status: "Downloading", Current: 10 << 20, Total: 100 << 20},
		{Layer: "b", Status: "Downloading", Current: 5 << 20, Total: 50 << 20},
	} {
		p := agg.Add(ev)
		on(deploy.Event{Kind: deploy.EventPull, Pull: &p})
	}
	p := agg.Finish()
	on(deploy.Event{Kind: deploy.EventPull, Pull: &p})
	on(deploy.Event{Kind: deploy.EventWarning, Message: "the host address is not on this machine"})
	on(deploy.Event{Kind: deploy.EventStep, Message: "Waiting until duobox-model is healthy"})
	return ctx.Err()
}

func TestDeploy_FakeEngine_showsBarsAndTicksSteps(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.Up = fakeEngineUp
	b.svc.PullWeights = func(ctx context.Context, on func(weights.Progress)) error {
		on(weights.Progress{Repo: "mistralai/Codestral-22B-v0.1", Phase: "downloading", FilesDone: 3, FilesTotal: 4, BytesDone: 30 << 30, BytesTotal: 40 << 30})
		return nil
	}
	u := b.open()
	selectTab(u, TabDeploy)
	v := u.Deploy

	test.Tap(v.Start)
	u.Wait()
	if len(v.Images.Objects) != 1 {
		t.Fatalf("%d image bars, want 1", len(v.Images.Objects))
	}
	bar := v.Images.Objects[0].(*fyne.Container).Objects[1].(*widget.ProgressBar)
	if bar.Value != 1 || !strings.HasPrefix(bar.TextFormatter(), "✓ pulled") {
		t.Errorf("image bar %.2f %q", bar.Value, bar.TextFormatter())
	}
	if v.Weights.Value != 0.75 || !strings.Contains(v.WeightsState.Text, "3 of 4 files") {
		t.Errorf("weights bar %.2f %q", v.Weights.Value, v.WeightsState.Text)
	}
	var steps []string
	for _, o := range v.Steps.Objects {
		steps = append(steps, o.(*widget.Label).Text)
	}
	if len(steps) != 4 || !strings.HasPrefix(steps[0], "✓ Downloading the model's weights") || !strings.HasPrefix(steps[3], "✓ Waiting until") || !strings.HasPrefix(steps[2], "⚠") {
		t.Errorf("steps %q", steps)
	}
	if !strings.HasPrefix(v.Result.Text, "✓ Deployed") || v.Next.Disabled() || v.Start.Disabled() {
		t.Errorf("result %q next=%v start=%v", v.Result.Text, !v.Next.Disabled(), !v.Start.Disabled())
	}
}

func TestDeploy_FakeEngine_cancelStopsTheRun(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	started := make(chan struct{})
	b.svc.Up = func(ctx context.Context, on func(deploy.Event)) error {
		on(deploy.Event{Kind: deploy.EventStep, Message: "Pulling"})
		close(started)
		<-ctx.Done()
		return ctx.Err()
	}
	u := b.open()
	test.Tap(u.Deploy.Start)
	<-started
	if u.Deploy.Cancel.Disabled() {
		t.Fatal("Cancel disabled while deploying")
	}
	test.Tap(u.Deploy.Cancel)
	u.Wait()
	if !strings.HasPrefix(u.Deploy.Result.Text, "Cancelled") || u.Deploy.Start.Disabled() {
		t.Errorf("after cancel: %q", u.Deploy.Result.Text)
	}
}

func TestDeploy_withoutConfigSaysWhatToDo(t *testing.T) {
	b := newBed(t)
	b.svc.Up = fakeEngineUp
	u := b.open()
	test.Tap(u.Deploy.Start)
	u.Wait()
	if !strings.Contains(u.Deploy.Result.Text, "Fix: fill in Configure") {
		t.Errorf("result %q", u.Deploy.Result.Text)
	}
}

func TestDeploy_FakeEngine_saysWhenNoWeightsWereNeeded(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.Up = fakeEngineUp
	b.svc.PullWeights = func(context.Context, func(weights.Progress)) error { return nil } // cached, or CPU mode
	u := b.open()
	selectTab(u, TabDeploy)
	v := u.Deploy
	test.Tap(v.Start)
	u.Wait()
	if !strings.HasPrefix(v.WeightsState.Text, "Nothing to download") || v.Weights.Visible() {
		t.Errorf("weights state %q, bar visible %v", v.WeightsState.Text, v.Weights.Visible())
	}
	// The step that did not run is not ticked; the ones that ran are.
	var steps []string
	for _, o := range v.Steps.Objects {
		steps = append(steps, o.(*widget.Label).Text)
	}
	if len(steps) != 4 || steps[0] != "– The model's weights: nothing to download" || !strings.HasPrefix(steps[1], "✓ Pulling") {
		t.Errorf("steps %q", steps)
	}
	for _, s := range steps {
		if strings.Contains(s, "✓ Downloading") {
			t.Errorf("a download that never ran is ticked: %q", steps)
		}
	}
}

func TestDeploy_FakeEngine_failedWeightsStopTheDeploy(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	upCalled := false
	b.svc.Up = func(context.Context, func(deploy.Event)) error { upCalled = true; return nil }
	b.svc.PullWeights = func(context.Context, func(weights.Progress)) error {
		return &app.Problem{Kind: app.KindBadInput, What: "access to google/codegemma-2b is refused (403)", Fix: "accept the terms at https://huggingface.co/google/codegemma-2b"}
	}
	u := b.open()
	selectTab(u, TabDeploy)
	v := u.Deploy
	test.Tap(v.Start)
	u.Wait()
	if upCalled || !strings.Contains(v.Result.Text, "Fix: accept the terms") {
		t.Errorf("up called %v, result %q", upCalled, v.Result.Text)
	}
}
