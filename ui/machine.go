// Package ui is DuoBox's desktop window, built with Fyne on the same app
// services the CLI uses. It holds no business rules; goroutines change
// widgets only through fyne.Do. It never imports fyne.io/fyne/v2/app (only
// cmd/duobox does), so it is tested headless with fyne's test package.
package ui

import (
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
)

// MachineView shows what the machine has and which model DuoBox recommends.
type MachineView struct {
	Status   *widget.Label
	Hardware *widget.Label
	Verdicts *widget.Label
	Advice   *widget.Label
	Content  fyne.CanvasObject
}

// NewMachineView builds the view in its "detecting" state.
func NewMachineView() *MachineView {
	v := &MachineView{
		Status:   widget.NewLabel("Detecting this machine…"),
		Hardware: widget.NewLabel(""),
		Verdicts: widget.NewLabel(""),
		Advice:   widget.NewLabel(""),
	}
	v.Advice.Wrapping = fyne.TextWrapWord
	v.Verdicts.TextStyle = fyne.TextStyle{Monospace: true}
	v.Content = container.NewVScroll(container.NewVBox(
		widget.NewLabelWithStyle("This machine", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		v.Status, v.Hardware,
		widget.NewLabelWithStyle("Recommendation", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		v.Advice,
		widget.NewLabelWithStyle("Every model GitLab lists", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		v.Verdicts,
	))
	return v
}

// Show fills the view; call it on the UI goroutine (fyne.Do).
func (v *MachineView) Show(m hardware.Machine, r recommend.Result) {
	v.Status.SetText(fmt.Sprintf("GitLab %s · context %d tokens · utilisation %.2f", r.GitLab, max(r.Context, recommend.DefaultContext), r.Utilization))
	var hw []string
	if len(m.NVIDIA()) == 0 {
		hw = append(hw, "No NVIDIA GPU found.")
	}
	for _, g := range m.GPUs {
		hw = append(hw, fmt.Sprintf("GPU %d  %s — %.1f GiB free of %.1f GiB", g.Index, g.Name, gib(g.MemoryFree), gib(g.MemoryTotal)))
	}
	hw = append(hw, fmt.Sprintf("RAM %.1f GiB available of %.1f GiB · %d CPU threads · %.0f GiB free disk", gib(m.Memory.Available), gib(m.Memory.Total), m.CPU.Threads, gib(m.Disk.Free)))
	if m.Engine.Reachable {
		hw = append(hw, "Docker "+m.Engine.Version)
	} else {
		hw = append(hw, "Docker not reachable: "+m.Engine.Error+" — "+m.Engine.Fix)
	}
	for _, p := range m.Probes {
		if !p.OK && p.Fix != "" {
			hw = append(hw, fmt.Sprintf("⚠ %s (%s): %s — %s", p.Name, p.Source, p.Detail, p.Fix))
		}
	}
	v.Hardware.SetText(strings.Join(hw, "\n"))
	var adv []string
	for _, p := range r.Recommendation {
		name := p.Name
		if p.Variant != "" {
			name += " as " + p.Variant
		}
		adv = append(adv, fmt.Sprintf("• %s — GPU %d, utilisation %.2f, context %d", name, p.GPUIndex, p.GPUMemoryUtilization, p.MaxModelLen))
	}
	adv = append(adv, r.Reason)
	adv = append(adv, r.Notes...)
	v.Advice.SetText(strings.Join(adv, "\n"))
	var rows []string
	for _, f := range r.Models {
		rows = append(rows, fmt.Sprintf("%-32s %-15s %s", f.Name, f.Verdict, f.Why))
	}
	v.Verdicts.SetText(strings.Join(rows, "\n"))
}

// ShowError reports a failed detection.
func (v *MachineView) ShowError(err error) { v.Status.SetText("Detection failed: " + err.Error()) }

func gib(b uint64) float64 { return float64(b) / (1 << 30) }
