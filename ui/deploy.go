package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/units"
	"github.com/duobox/duobox/app/weights"
)

// refreshEvery is how often streamed progress reaches the widgets: one
// fyne.Do per tick, never one per event.
const refreshEvery = 200 * time.Millisecond

// DeployView runs the deployment: a progress bar per image and for the
// weights, each step ticked as it completes, and Cancel.
type DeployView struct {
	Start        *widget.Button
	Cancel       *widget.Button
	Steps        *fyne.Container // one label per step; done steps are ticked
	Images       *fyne.Container // one labelled progress bar per image
	Weights      *widget.ProgressBar
	WeightsState *widget.Label
	Result       *widget.Label
	Next         *widget.Button
	Bundle       *BundlePanel // the offline path: prepare or load a bundle
	Content      fyne.CanvasObject

	u      *UI
	cancel context.CancelFunc
	bars   map[string]*widget.ProgressBar
	failed bool // the last run failed: its last step shows ✗

	mu      sync.Mutex // guards the fields below, written by service callbacks
	steps   []string
	pulls   map[string]engine.Progress
	order   []string
	weights *weights.Progress
	dirty   bool
}

func newDeployView(u *UI) *DeployView {
	v := &DeployView{u: u, bars: map[string]*widget.ProgressBar{}, pulls: map[string]engine.Progress{}}
	v.Start = widget.NewButtonWithIcon("Deploy", theme.MediaPlayIcon(), v.onStart)
	v.Start.Importance = widget.HighImportance
	v.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), v.onCancel)
	v.Cancel.Disable()
	v.Steps = container.NewVBox(widget.NewLabel("Each step shows here, ticked when done."))
	v.Images = container.NewVBox(widget.NewLabel("One progress bar per image shows here while it is pulled."))
	v.Weights = widget.NewProgressBar()
	v.WeightsState = wrapped("Not started.")
	if u.svc.PullWeights == nil {
		v.WeightsState.SetText("The model server downloads the weights itself on its first start; follow it in Logs → Model server.")
		v.Weights.Hide()
	}
	v.Result = wrapped("Deploy pulls the images, downloads the model's weights, starts the model server and the AI Gateway, and waits until both are healthy. A first deploy takes a while: the bars show how far it is.")
	v.Next = widget.NewButtonWithIcon("Open the dashboard", theme.HomeIcon(), func() { u.Select(TabDashboard) })
	v.Next.Disable()
	if u.svc.Up == nil {
		v.Start.Disable()
		v.Result = unavailable("Deploying")
	}
	v.Bundle = newBundlePanel(u)
	v.Content = container.NewBorder(nil, container.NewVBox(v.Result, container.NewHBox(v.Start, v.Cancel, v.Next)), nil, nil,
		scrolled(container.NewVBox(
			heading("Images"), v.Images,
			heading("Model weights"), v.WeightsState, v.Weights,
			heading("Steps"), v.Steps,
			heading("Offline (no internet on this machine)"), v.Bundle.Content,
		)))
	return v
}

func (v *DeployView) onStart() {
	if v.u.config() == nil {
		say(v.Result, app.SeverityNote, "There is no deployment config yet. Fix: fill in Configure and press Save config.")
		return
	}
	v.Start.Disable()
	v.Cancel.Enable()
	v.Next.Disable()
	v.failed = false
	v.Steps.RemoveAll()
	v.Images.RemoveAll()
	v.bars = map[string]*widget.ProgressBar{}
	v.mu.Lock()
	v.steps, v.pulls, v.order, v.weights = nil, map[string]engine.Progress{}, nil, nil
	v.mu.Unlock()
	v.Result.SetText("Deploying…")
	ctx, cancel := context.WithCancel(v.u.bg.ctx)
	v.cancel = cancel
	done := make(chan struct{})
	go v.tick(done)
	v.u.bg.run(func(context.Context) func() {
		defer close(done)
		var err error
		if v.u.svc.PullWeights != nil {
			// The model server starts offline from this cache, so a failed
			// download (gated repo, disk full) stops the deploy with its fix.
			v.step(stepWeights)
			err = v.u.svc.PullWeights(ctx, v.onWeights)
			v.mu.Lock()
			nothing := err == nil && v.weights == nil
			if i := slices.Index(v.steps, stepWeights); nothing && i >= 0 {
				// Not ticked as done: nothing ran.
				v.steps[i], v.dirty = stepNoWeights, true
			}
			v.mu.Unlock()
			if nothing { // no progress at all: nothing was fetched
				v.u.bg.do(func() {
					v.WeightsState.SetText("Nothing to download: the weights are in the cache already, or (CPU mode) the model server brings its own.")
					v.Weights.Hide()
				})
			}
		}
		if err == nil {
			err = v.u.svc.Up(ctx, v.onEvent)
		}
		return func() {
			cancel()
			v.Start.Enable()
			v.Cancel.Disable()
			v.failed = err != nil && !errors.Is(err, context.Canceled)
			v.render()
			v.finish(err)
		}
	})
}

func (v *DeployView) finish(err error) {
	switch {
	case errors.Is(err, context.Canceled):
		v.Result.SetText("Cancelled. What this run created was removed again; press Deploy to start over.")
		v.Result.Importance = widget.WarningImportance
	case err != nil:
		msg := problem(err)
		if v.Bundle.offerBundle(err) {
			msg += "\nOr: load an offline bundle (Load a bundle…, below)."
		}
		say(v.Result, app.SeverityOf(err), msg)
	default:
		msg := "✓ Deployed: the model server and the AI Gateway are healthy. Next: paste the GitLab snippet (GitLab tab) and test."
		v.Result.SetText(msg)
		v.Result.Importance = widget.SuccessImportance
		v.Next.Enable()
		if len(v.Images.Objects) == 0 {
			v.Images.Add(widget.NewLabel("✓ Every image was already here; nothing to pull."))
		}
	}
	v.Result.Refresh()
}

func (v *DeployView) onCancel() {
	if v.cancel != nil {
		v.Cancel.Disable()
		v.Result.SetText("Cancelling…")
		v.cancel()
	}
}

// Steps of the weights download; a step that did not run is shown with the
// skipped mark, never ticked.
const (
	skipped       = "– "
	stepWeights   = "Downloading the model's weights"
	stepNoWeights = skipped + "The model's weights: nothing to download"
)

// step records a new step; the previous one counts as done.
func (v *DeployView) step(msg string) {
	v.mu.Lock()
	v.steps = append(v.steps, msg)
	v.dirty = true
	v.mu.Unlock()
}

// onEvent takes deploy events from the service's goroutine.
func (v *DeployView) onEvent(ev deploy.Event) {
	switch ev.Kind {
	case deploy.EventPull:
		v.mu.Lock()
		if _, ok := v.pulls[ev.Pull.Image]; !ok {
			v.order = append(v.order, ev.Pull.Image)
		}
		v.pulls[ev.Pull.Image] = *ev.Pull
		v.dirty = true
		v.mu.Unlock()
	case deploy.EventWarning:
		v.step("⚠ " + fixText(ev.Message)) // warnings are written for both faces
	default:
		v.step(ev.Message)
	}
}

func (v *DeployView) onWeights(p weights.Progress) {
	v.mu.Lock()
	v.weights = &p
	v.dirty = true
	v.mu.Unlock()
}

// tick hands changes to the UI (when there are some) until done is closed.
func (v *DeployView) tick(done <-chan struct{}) {
	tickUntil(done, func() {
		v.mu.Lock()
		dirty := v.dirty
		v.mu.Unlock()
		if dirty {
			v.u.bg.do(v.render)
		}
	})
}

// tickUntil calls f every refreshEvery until done is closed (progress that
// a background run collects, shown a few times a second).
func tickUntil(done <-chan struct{}, f func()) {
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			f()
		}
	}
}

// render shows the collected progress; UI goroutine only.
func (v *DeployView) render() {
	v.mu.Lock()
	steps := append([]string(nil), v.steps...)
	order := append([]string(nil), v.order...)
	pulls := make(map[string]engine.Progress, len(v.pulls))
	for k, p := range v.pulls {
		pulls[k] = p
	}
	w := v.weights
	v.dirty = false
	v.mu.Unlock()
	for i := len(v.Steps.Objects); i < len(steps); i++ {
		v.Steps.Add(wrapped(""))
	}
	running := v.Start.Disabled()
	for i, s := range steps {
		mark := "✓ "
		switch {
		case strings.HasPrefix(s, "⚠"), strings.HasPrefix(s, skipped):
			mark = ""
		case i == len(steps)-1 && running:
			mark = "… "
		case i == len(steps)-1 && v.failed:
			mark = "✗ "
		}
		v.Steps.Objects[i].(*widget.Label).SetText(mark + s)
	}
	for _, img := range order {
		p := pulls[img]
		bar, ok := v.bars[img]
		if !ok {
			bar = widget.NewProgressBar()
			v.bars[img] = bar
			v.Images.Add(container.NewGridWithColumns(2, widget.NewLabel(img), bar))
		}
		if p.Total > 0 {
			bar.Value = float64(p.Done) / float64(p.Total)
		}
		if p.Finished {
			bar.Value = 1
		}
		text := pullText(p)
		bar.TextFormatter = func() string { return text }
		bar.Refresh()
	}
	if w != nil {
		if w.BytesTotal > 0 {
			v.Weights.Value = float64(w.BytesDone) / float64(w.BytesTotal)
		}
		v.Weights.Refresh()
		v.WeightsState.SetText(fmt.Sprintf("%s: %s, %d of %d files, %s of %s%s", w.Repo, w.Phase, w.FilesDone, w.FilesTotal,
			units.HumanBytes(w.BytesDone), units.HumanBytes(w.BytesTotal), eta(w.BytesPerSecond, w.ETA)))
	}
}

func pullText(p engine.Progress) string {
	if p.Finished {
		return "✓ pulled " + units.HumanBytes(p.Total)
	}
	return fmt.Sprintf("%s of %s%s", units.HumanBytes(p.Done), units.HumanBytes(p.Total), eta(p.Rate, p.ETA))
}

func eta(rate float64, left time.Duration) string {
	if rate <= 0 {
		return ""
	}
	s := fmt.Sprintf(" · %s/s", units.HumanBytes(int64(rate)))
	if left > 0 {
		s += " · " + left.Round(time.Second).String() + " left"
	}
	return s
}
