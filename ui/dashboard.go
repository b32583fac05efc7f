package ui

import (
	"context"
	"fmt"
	"github.com/duobox/duobox/app"
	"image/color"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/stack"
)

// DashboardView shows the stack: a card per container (state colour,
// uptime, restarts, health reason, image and digest, GPU memory sparkline,
// request latency), Restart / Stop / Test, and a banner per recognised
// failure with its fix.
type DashboardView struct {
	Summary *widget.Label
	Banners *fyne.Container
	Cards   *fyne.Container
	Refresh *widget.Button
	Stop    *widget.Button
	Test    *widget.Button
	TestOut *widget.Label
	Memory  *widget.Label // predicted vs measured memory at the last start, per component
	Content fyne.CanvasObject

	u      *UI
	report StackReport
	now    func() time.Time
}

func newDashboardView(u *UI) *DashboardView {
	v := &DashboardView{u: u, now: time.Now}
	v.Summary = wrapped("Not checked yet.")
	v.Banners = container.NewVBox()
	v.Cards = container.NewGridWithColumns(2)
	v.Refresh = widget.NewButtonWithIcon("Check now", theme.ViewRefreshIcon(), v.refresh)
	v.Stop = widget.NewButtonWithIcon("Stop", theme.MediaStopIcon(), v.onStop)
	v.Test = widget.NewButtonWithIcon("Test", theme.ConfirmIcon(), v.onTest)
	v.TestOut = wrapped("")
	v.Memory = wrapped("")
	if u.svc.Down == nil {
		v.Stop.Disable()
	}
	if u.svc.Test == nil {
		v.Test.Disable()
	}
	var body fyne.CanvasObject = container.NewVBox(v.Summary, v.Banners, v.Cards, v.Memory, v.TestOut)
	if u.svc.Health == nil {
		body = unavailable("The dashboard")
		v.Refresh.Disable()
	}
	v.Content = container.NewBorder(container.NewHBox(v.Refresh, v.Stop, v.Test), nil, nil, nil, scrolled(body))
	return v
}

// refresh checks the stack in the background.
func (v *DashboardView) refresh() {
	if v.u.svc.Health == nil {
		return
	}
	if v.u.config() == nil {
		say(v.Summary, app.SeverityNote, "Nothing deployed yet. Fix: go through This machine → Choose model → Configure, then press Deploy.")
		v.enableActions(false)
		return
	}
	v.Refresh.Disable()
	v.u.bg.run(func(ctx context.Context) func() {
		r, err := v.u.svc.Health(ctx)
		return func() {
			v.Refresh.Enable()
			if err != nil {
				sayErr(v.Summary, err)
				return
			}
			v.show(r)
		}
	})
	if v.u.svc.StartMemory != nil {
		v.u.bg.run(func(ctx context.Context) func() {
			recs, err := v.u.svc.StartMemory(ctx)
			return func() { v.showMemory(recs, err) }
		})
	}
}

// showMemory writes "predicted vs measured" for each component of each
// model's last start; a component more than 10 % off is named.
func (v *DashboardView) showMemory(recs []recommend.StartRecord, err error) {
	if err != nil {
		v.Memory.SetText("Memory at start: " + problem(err))
		return
	}
	var lines []string
	flagged := false
	for _, r := range recs {
		lines = append(lines, fmt.Sprintf("Memory at the last start of %s (vLLM %s), predicted vs measured:", r.ModelID, r.Predicted.Engine))
		for _, d := range r.Differences {
			lines = append(lines, "  "+d.String())
			flagged = flagged || d.Flagged
		}
	}
	v.Memory.SetText(strings.Join(lines, "\n"))
	v.Memory.Importance = widget.MediumImportance
	if flagged {
		v.Memory.Importance = widget.WarningImportance
	}
	v.Memory.Refresh()
}

// show draws a report; UI goroutine only.
func (v *DashboardView) show(r StackReport) {
	v.report = r
	text := fmt.Sprintf("Stack %s: %s", strings.ReplaceAll(r.Status, "_", " "), r.Reason)
	if r.Fix != "" {
		text += "\nFix: " + fixText(r.Fix)
	}
	say(v.Summary, statusSeverity(r.Status), text)
	v.enableActions(r.Status != "not_deployed")
	v.Banners.RemoveAll()
	for _, b := range r.Banners {
		text := fmt.Sprintf("⚠ %s: %s", b.Role, b.Summary)
		if b.Fix != "" {
			text += "\nFix: " + fixText(b.Fix)
		}
		l := wrapped(text)
		l.Importance = widget.DangerImportance
		v.Banners.Add(l)
	}
	if r.GPUError != "" {
		l := wrapped("GPU sampling: " + r.GPUError)
		l.Importance = widget.WarningImportance
		v.Banners.Add(l)
	}
	v.Cards.RemoveAll()
	for _, c := range r.Containers {
		v.Cards.Add(v.card(c))
	}
}

// enableActions enables Test and Stop only when something is deployed,
// saying why they are off otherwise.
func (v *DashboardView) enableActions(deployed bool) {
	for _, b := range []struct {
		w   *widget.Button
		has bool
	}{{v.Test, v.u.svc.Test != nil}, {v.Stop, v.u.svc.Down != nil}} {
		if deployed && b.has {
			b.w.Enable()
		} else {
			b.w.Disable()
		}
	}
	if !deployed {
		say(v.TestOut, app.SeverityNote, notDeployedActions)
	} else if v.TestOut.Text == notDeployedActions {
		v.TestOut.SetText("")
	}
}

const notDeployedActions = "Test and Stop need a deployed stack. Fix: press Deploy."

// statusSeverity: ok is a success, starting and degraded are warnings,
// nothing deployed (or stopped) is a note, down is an error.
func statusSeverity(s string) app.Severity {
	switch s {
	case "ok":
		return app.SeveritySuccess
	case "starting", "degraded":
		return app.SeverityWarning
	case "not_deployed":
		return app.SeverityNote
	}
	return app.SeverityError
}

// card draws one container.
func (v *DashboardView) card(c ContainerCard) fyne.CanvasObject {
	title := c.Role
	switch c.Role {
	case stack.RoleModel:
		title = "Model server"
	case stack.RoleGateway:
		title = "AI Gateway"
	}
	stripe := canvas.NewRectangle(stateColor(c))
	stripe.SetMinSize(fyne.NewSize(6, 6))
	if !c.Exists {
		body := wrapped("Not created. Fix: press Deploy.")
		return widget.NewCard(title, c.Name, container.NewBorder(nil, nil, stripe, nil, body))
	}
	state := c.State
	if c.Health != "" {
		state += " · " + c.Health
	}
	lines := []string{"State: " + state}
	if !c.StartedAt.IsZero() && c.State == "running" {
		lines = append(lines, "Up "+v.now().Sub(c.StartedAt).Round(time.Second).String())
	}
	lines = append(lines, fmt.Sprintf("Restarts: %d", c.Restarts))
	if c.HealthReason != "" {
		lines = append(lines, "Health: "+c.HealthReason)
	}
	if c.Latency > 0 {
		lines = append(lines, fmt.Sprintf("Latency: %.1f ms", float64(c.Latency)/float64(time.Millisecond)))
	}
	lines = append(lines, "Image: "+c.Image)
	lines = append(lines, c.Notes...)
	info := wrapped(strings.Join(lines, "\n"))
	digest := widget.NewLabelWithStyle(shortDigest(c.Digest), fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	full := c.Digest
	items := []fyne.CanvasObject{info}
	if full != "" {
		items = append(items, container.NewBorder(nil, nil, nil, v.u.copyButton("Copy digest", func() string { return full }), digest))
	}
	if c.Role == stack.RoleModel && !c.NoGPU {
		items = append(items, widget.NewLabel("GPU memory in use"), newSparkline(c.GPUMemory))
	}
	role := c.Role
	restart := widget.NewButtonWithIcon("Restart", theme.ViewRefreshIcon(), func() { v.onRestart(role) })
	if v.u.svc.Restart == nil {
		restart.Disable()
	}
	items = append(items, container.NewHBox(restart))
	return widget.NewCard(title, c.Name, container.NewBorder(nil, nil, stripe, nil, container.NewVBox(items...)))
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19] + "…"
	}
	return d
}

func stateColor(c ContainerCard) color.Color {
	switch {
	case c.State == "running" && (c.Health == "healthy" || c.Health == ""):
		return theme.Color(theme.ColorNameSuccess)
	case c.State == "running" && c.Health == "starting", c.State == "restarting", c.State == "created":
		return theme.Color(theme.ColorNameWarning)
	case !c.Exists, c.State == "exited" && c.HealthReason == "":
		return theme.Color(theme.ColorNameDisabled) // stopped is not a failure
	}
	return theme.Color(theme.ColorNameError)
}

func (v *DashboardView) onRestart(role string) {
	v.TestOut.SetText("Restarting the " + role + " and waiting until it is healthy…")
	v.u.bg.run(func(ctx context.Context) func() {
		err := v.u.svc.Restart(ctx, role)
		return func() {
			if err != nil {
				sayErr(v.TestOut, err)
			} else {
				say(v.TestOut, app.SeveritySuccess, "✓ Restarted the "+role+".")
			}
			v.refresh()
		}
	})
}

func (v *DashboardView) onStop() {
	v.Stop.Disable()
	v.TestOut.SetText("Stopping the stack (model weights stay)…")
	v.u.bg.run(func(ctx context.Context) func() {
		err := v.u.svc.Down(ctx)
		return func() {
			v.Stop.Enable()
			if err != nil {
				sayErr(v.TestOut, err)
			} else {
				say(v.TestOut, app.SeverityNote, "Stopped. Press Deploy to start again.")
			}
			v.refresh()
		}
	})
}

func (v *DashboardView) onTest() {
	v.Test.Disable()
	v.TestOut.SetText("Sending a completion to the model and GitLab's model check to the gateway…")
	v.u.bg.run(func(ctx context.Context) func() {
		r, err := v.u.svc.Test(ctx)
		return func() {
			v.Test.Enable()
			if err != nil {
				sayErr(v.TestOut, err)
				return
			}
			sev := app.SeveritySuccess
			if !r.OK {
				sev = app.SeverityError
			}
			say(v.TestOut, sev, testText(r))
		}
	})
}

func testText(r TestResult) string {
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "%s %s (%s)", s.Mark(), strings.ReplaceAll(s.Name, "_", " "), s.Latency.Round(time.Millisecond))
		if s.FirstTokens != "" {
			fmt.Fprintf(&b, ": %q", s.FirstTokens)
		}
		b.WriteString("\n")
		if s.Diagnosis != "" {
			b.WriteString("   " + s.Diagnosis + "\n")
		}
		if s.Fix != "" {
			b.WriteString("   Fix: " + fixText(s.Fix) + "\n")
		}
	}
	if r.Note != "" {
		b.WriteString(r.Note)
	}
	return strings.TrimSpace(b.String())
}

// newSparkline draws values (fractions 0–1, oldest first) as a filled
// area in the theme's primary colour.
func newSparkline(values []float64) fyne.CanvasObject {
	if len(values) == 0 {
		return widget.NewLabel("No GPU samples yet (they come every 10 s while DuoBox runs).")
	}
	vals := append([]float64(nil), values...)
	fg, bg := theme.Color(theme.ColorNamePrimary), theme.Color(theme.ColorNameInputBackground)
	r := canvas.NewRasterWithPixels(func(x, y, w, h int) color.Color {
		if w == 0 || h == 0 {
			return color.Transparent
		}
		i := x * len(vals) / w
		level := int(float64(h) * (1 - min(1, max(0, vals[i]))))
		if y >= level {
			return fg
		}
		return bg
	})
	r.SetMinSize(fyne.NewSize(200, 40))
	return r
}
