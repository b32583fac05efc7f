package ui

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
)

// MachineView is the first step: what this machine has, and each problem
// with its fix.
type MachineView struct {
	Status   *widget.Label
	GPUs     *fyne.Container // one row with a VRAM bar per GPU
	Memory   *MeterBar       // RAM in use of the total
	Disk     *widget.Label
	Docker   *widget.Label
	NVIDIA   *widget.Label
	Problems *fyne.Container // one danger label per problem, with its fix
	Redetect *widget.Button
	Next     *widget.Button
	Content  fyne.CanvasObject

	u *UI
}

func newMachineView(u *UI) *MachineView {
	v := &MachineView{u: u,
		Status:   widget.NewLabel("Detecting this machine…"),
		GPUs:     container.NewVBox(),
		Memory:   NewMeterBar(),
		Disk:     widget.NewLabel(""),
		Docker:   wrapped(""),
		NVIDIA:   wrapped(""),
		Problems: container.NewVBox(),
	}
	v.Redetect = widget.NewButtonWithIcon("Detect again", theme.ViewRefreshIcon(), v.detect)
	v.Next = widget.NewButtonWithIcon("Next: choose a model", theme.NavigateNextIcon(), func() { u.Select(TabChoose) })
	v.Next.Importance = widget.HighImportance
	v.Next.Disable()
	v.Content = container.NewBorder(nil, container.NewHBox(v.Redetect, v.Next), nil, nil, scrolled(container.NewVBox(
		v.Status,
		heading("GPUs (memory in use)"), v.GPUs,
		heading("RAM in use"), v.Memory,
		heading("Disk"), v.Disk,
		heading("Docker engine"), v.Docker,
		heading("NVIDIA container runtime"), v.NVIDIA,
		v.Problems,
	)))
	return v
}

// detect probes the machine in the background, then recommends.
func (v *MachineView) detect() {
	if v.u.svc.Detect == nil {
		say(v.Status, app.SeverityWarning, "Detection is not available in this build of DuoBox.")
		return
	}
	v.Status.SetText("Detecting this machine…")
	v.Redetect.Disable()
	version := ""
	if d := v.u.config(); d != nil {
		version = d.GitLab.Version
	}
	v.u.bg.run(func(ctx context.Context) func() {
		m, err := v.u.svc.Detect(ctx)
		if err != nil {
			return func() { v.Redetect.Enable(); sayErr(v.Status, err) }
		}
		var r recommend.Result
		var rerr error
		if v.u.svc.Recommend != nil {
			r, rerr = v.u.svc.Recommend(ctx, m, version)
		}
		return func() {
			v.Redetect.Enable()
			v.show(m)
			if rerr != nil {
				sayErr(v.Status, rerr)
				return
			}
			v.u.Choose.show(m, r)
		}
	})
}

// show fills the view with a detection snapshot.
func (v *MachineView) show(m hardware.Machine) {
	v.u.machine, v.u.detected = m, true
	v.Status.SetText(fmt.Sprintf("%s · %s · %d CPU threads", m.Host.Name, m.CPU.Model, m.CPU.Threads))
	v.GPUs.RemoveAll()
	if len(m.GPUs) == 0 {
		l := wrapped("No GPU found. Models need an NVIDIA GPU with enough memory; without one DuoBox can still run the flow in CPU mode for a try-out.")
		l.Importance = widget.WarningImportance
		v.GPUs.Add(l)
	}
	for _, g := range m.GPUs {
		bar := NewMeterBar()
		bar.Set(share(g.MemoryUsed, g.MemoryTotal), fmt.Sprintf("%.1f GiB in use of %.1f GiB (%.1f GiB free)", gib(g.MemoryUsed), gib(g.MemoryTotal), gib(g.MemoryFree)), widget.MediumImportance)
		label := fmt.Sprintf("GPU %d · %s", g.Index, g.Name)
		if g.DriverVersion != "" {
			label += " · driver " + g.DriverVersion
		}
		v.GPUs.Add(container.NewGridWithColumns(2, widget.NewLabel(label), bar))
	}
	used := m.Memory.Total - min(m.Memory.Available, m.Memory.Total)
	v.Memory.Set(share(used, m.Memory.Total), fmt.Sprintf("%.1f GiB in use of %.1f GiB (%.1f GiB available)", gib(used), gib(m.Memory.Total), gib(m.Memory.Available)), widget.MediumImportance)
	v.Disk.SetText(fmt.Sprintf("%.0f GiB free of %.0f GiB at %s (where Docker keeps images and model weights)", gib(m.Disk.Free), gib(m.Disk.Total), m.Disk.Path))
	v.Problems.RemoveAll()
	if m.Engine.Reachable {
		v.Docker.SetText(fmt.Sprintf("✓ Docker %s at %s", m.Engine.Version, m.Engine.Endpoint))
		v.Docker.Importance = widget.SuccessImportance
	} else {
		v.Docker.SetText("✗ Not reachable: " + m.Engine.Error)
		v.Docker.Importance = widget.DangerImportance
		v.addProblem("Docker engine not reachable", m.Engine.Fix)
	}
	v.Docker.Refresh()
	if ok, fix := m.Engine.GPUAccess(); ok {
		v.NVIDIA.SetText("✓ Containers can use the GPUs")
		v.NVIDIA.Importance = widget.SuccessImportance
	} else {
		v.NVIDIA.SetText("✗ Containers cannot use the GPUs yet")
		v.NVIDIA.Importance = widget.WarningImportance
		if m.Engine.Reachable && len(m.NVIDIA()) > 0 {
			v.addProblem("NVIDIA container runtime missing", fix)
		}
	}
	v.NVIDIA.Refresh()
	for _, p := range m.Probes {
		if !p.OK && p.Fix != "" {
			v.addProblem(fmt.Sprintf("%s (%s): %s", p.Name, p.Source, p.Detail), p.Fix)
		}
	}
	v.u.Configure.suggestHosts(m.Host.Name, m.Host.Addresses)
	v.Next.Enable()
}

func (v *MachineView) addProblem(what, fix string) {
	l := wrapped("⚠ " + what + "\nFix: " + fix)
	l.Importance = widget.DangerImportance
	v.Problems.Add(l)
}

func gib(b uint64) float64 { return float64(b) / (1 << 30) }

// share is part/whole, 0 when whole is unknown.
func share(part, whole uint64) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole)
}
