package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
)

// ChooseView is the model catalog as a table: each model's features,
// verdict, memory bar with its breakdown and why; the recommendation is
// preselected and the GitLab version filters the list.
type ChooseView struct {
	Version *widget.Entry
	Filter  *widget.Button
	Advice  *widget.Label
	Models  *widget.List
	// MemoryHeading says what each row's memory bar is set against.
	MemoryHeading *widget.Label
	Details       *widget.Label // the selected model's whole explanation
	Next          *widget.Button
	Content       fyne.CanvasObject

	// vLLM settings; the prediction follows them as they are typed.
	Utilization      *widget.Entry
	TensorParallel   *widget.Entry
	GPUs             *widget.Entry
	MaxModelLen      *widget.Entry
	KVCacheDType     *widget.Select
	MaxBatchedTokens *widget.Entry
	Variant          *widget.Entry
	SettingsStatus   *widget.Label // the settings' problem, or what they are predicted for
	settings         recommend.Options
	generation       int // the latest settings change; older answers are dropped

	u        *UI
	result   recommend.Result
	selected int    // index into result.Models; -1 = none
	scale    uint64 // with no GPU, the bars' full length: the largest need listed
}

func newChooseView(u *UI) *ChooseView {
	v := &ChooseView{u: u, selected: -1}
	v.Version = widget.NewEntry()
	v.Version.SetPlaceHolder("e.g. 18.2")
	v.Version.OnSubmitted = func(string) { v.onFilter() }
	v.Filter = widget.NewButtonWithIcon("Show models for this version", theme.SearchIcon(), v.onFilter)
	v.Advice = wrapped("Waiting for the machine's detection…")
	v.MemoryHeading = heading("Free GPU memory needed")
	v.MemoryHeading.Truncation = fyne.TextTruncateEllipsis // a grid column is as wide as its widest cell, times five
	v.Models = widget.NewList(func() int { return len(v.result.Models) }, v.newRow, v.updateRow)
	v.Details = wrapped("Click a model to choose it; DuoBox preselects the one it recommends for this machine.")
	v.Models.OnSelected = v.onSelected
	v.Next = widget.NewButtonWithIcon("Next: configure", theme.NavigateNextIcon(), func() { u.Select(TabConfigure) })
	v.Next.Importance = widget.HighImportance
	v.Next.Disable()
	v.Utilization = settingsEntry("e.g. 0.90 (default: DuoBox's)", v.onSettingsChanged)
	v.TensorParallel = settingsEntry("1, 2, 4 or 8", v.onSettingsChanged)
	v.GPUs = settingsEntry("e.g. 0,1 (default: all)", v.onSettingsChanged)
	v.MaxModelLen = settingsEntry("tokens (default 16384)", v.onSettingsChanged)
	v.MaxBatchedTokens = settingsEntry("tokens (default: vLLM's)", v.onSettingsChanged)
	v.Variant = settingsEntry("own, awq, fp8 or a repo", v.onSettingsChanged)
	v.KVCacheDType = widget.NewSelect([]string{"auto", "fp8"}, func(string) { v.onSettingsChanged("") })
	v.KVCacheDType.PlaceHolder = "auto"
	v.SettingsStatus = wrapped("")
	form := container.NewGridWithColumns(4,
		widget.NewLabel("GPU memory utilisation"), v.Utilization, widget.NewLabel("Tensor-parallel size"), v.TensorParallel,
		widget.NewLabel("GPUs"), v.GPUs, widget.NewLabel("Max model length"), v.MaxModelLen,
		widget.NewLabel("KV-cache dtype"), v.KVCacheDType, widget.NewLabel("Max batched tokens"), v.MaxBatchedTokens,
		widget.NewLabel("Variant"), v.Variant)
	settings := widget.NewAccordion(widget.NewAccordionItem("vLLM settings", container.NewVBox(form, v.SettingsStatus)))
	if u.svc.RecommendWith == nil {
		settings.Hide()
	}
	top := container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("GitLab version"), v.Filter, v.Version),
		settings,
		v.Advice,
		container.NewGridWithColumns(5, heading("Model"), heading("Licence"), heading("Verdict"), v.MemoryHeading, heading("Features")),
	)
	v.Content = container.NewBorder(top, container.NewVBox(v.Details, container.NewHBox(v.Next)), nil, nil, v.Models)
	return v
}

// show lists a recommendation's verdicts and selects its first pick.
func (v *ChooseView) show(m hardware.Machine, r recommend.Result) {
	v.u.machine, v.u.result = m, r
	v.result = r
	v.Version.SetText(r.GitLab)
	advice := []string{r.Reason}
	advice = append(advice, r.Notes...)
	v.Advice.SetText(strings.Join(advice, "\n"))
	v.scale = 0
	if len(m.NVIDIA()) == 0 {
		for _, f := range r.Models {
			v.scale = max(v.scale, f.FreeNeeded)
		}
		v.MemoryHeading.SetText("GPU memory needed")
		advice = append(advice, fmt.Sprintf("With no GPU to compare with, each memory bar is set against the largest need listed (%.1f GiB).", gib(v.scale)))
	} else {
		v.MemoryHeading.SetText("Free GPU memory: needed of free now")
	}
	v.Advice.SetText(strings.Join(advice, "\n"))
	keep := ""
	if f, ok := v.Selected(); ok {
		keep = f.ID
	}
	v.selected = -1
	v.Models.UnselectAll()
	v.Models.Refresh()
	want := map[string]bool{}
	if keep != "" {
		for i, f := range r.Models {
			if f.ID == keep {
				v.Models.Select(i)
				v.Models.ScrollTo(i)
				return
			}
		}
	}
	if d := v.u.config(); d != nil && len(d.Models) > 0 {
		want[d.Models[0].HFRepo] = true // the configured model, when there is one
	} else {
		for _, p := range r.Recommendation {
			want[p.HFRepo] = true
		}
	}
	for i, f := range r.Models {
		if want[f.HFRepo] {
			v.Models.Select(i)
			v.Models.ScrollTo(i)
			return
		}
	}
}

func (v *ChooseView) onSelected(id widget.ListItemID) {
	v.selected = id
	f := v.result.Models[id]
	text := fmt.Sprintf("%s (%s): %s. %s", f.Name, f.HFRepo, strings.TrimSuffix(f.Why, "."), breakdownText(f))
	if f.Licence != "" {
		text += "\nLicence: " + f.Licence
		if nonProduction(f.Licence) {
			text += " — not for production use"
		}
		text += "."
	}
	if f.Advice != "" {
		text += "\n" + strings.ToUpper(f.Advice[:1]) + f.Advice[1:] + "."
	}
	v.Details.SetText(text)
	v.Next.Enable()
}

func settingsEntry(placeholder string, changed func(string)) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.OnChanged = changed
	return e
}

// Settings are the vLLM settings typed so far (the last valid ones).
func (v *ChooseView) Settings() recommend.Options { return v.settings }

// onSettingsChanged reads the fields and predicts again; a value vLLM would
// refuse is named, and the prediction stays at the last good settings.
func (v *ChooseView) onSettingsChanged(string) {
	text := recommend.SettingsText{Utilization: v.Utilization.Text, TensorParallel: v.TensorParallel.Text, GPUs: v.GPUs.Text,
		MaxModelLen: v.MaxModelLen.Text, KVCacheDType: v.KVCacheDType.Selected, MaxBatchedTokens: v.MaxBatchedTokens.Text, Variant: v.Variant.Text}
	o, err := text.Options(recommend.Options{})
	if err != nil {
		v.SettingsStatus.Importance = widget.DangerImportance
		v.SettingsStatus.SetText(problem(err))
		return
	}
	v.settings = o
	if v.u.svc.RecommendWith == nil || !v.u.detected {
		return
	}
	v.generation++
	gen, version, m := v.generation, strings.TrimSpace(v.Version.Text), v.u.machine
	v.u.bg.run(func(ctx context.Context) func() {
		r, err := v.u.svc.RecommendWith(ctx, m, version, o)
		return func() {
			if gen != v.generation {
				return // the user typed on
			}
			if err != nil {
				v.SettingsStatus.Importance = widget.DangerImportance
				v.SettingsStatus.SetText(problem(err))
				return
			}
			v.SettingsStatus.Importance = widget.MediumImportance
			v.SettingsStatus.SetText("Memory predicted for vLLM " + r.Engine + " with these settings.")
			v.show(m, r)
		}
	})
}

// Selected returns the chosen model's verdict, or false when none is chosen.
func (v *ChooseView) Selected() (recommend.ModelFit, bool) {
	if v.selected < 0 || v.selected >= len(v.result.Models) {
		return recommend.ModelFit{}, false
	}
	return v.result.Models[v.selected], true
}

func (v *ChooseView) onFilter() {
	if v.u.svc.Recommend == nil || !v.u.detected {
		v.Advice.SetText("Detect the machine first (This machine).")
		return
	}
	version, m := strings.TrimSpace(v.Version.Text), v.u.machine
	v.Advice.SetText("Rating the models GitLab " + version + " lists…")
	v.u.bg.run(func(ctx context.Context) func() {
		r, err := v.u.svc.Recommend(ctx, m, version)
		return func() {
			if err != nil {
				sayErr(v.Advice, err)
				return
			}
			v.show(m, r)
		}
	})
}

// row widgets, in template order.
const (
	rowName = iota
	rowLicence
	rowVerdict
	rowMemory
	rowFeatures
)

func (v *ChooseView) newRow() fyne.CanvasObject {
	name := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	name.Truncation = fyne.TextTruncateEllipsis
	// Two lines (name, then "non-production"): the cell is a fifth of the
	// row, too narrow for both on one line. The template holds two lines so
	// the list sizes every row for them.
	licence := widget.NewLabel("\n")
	licence.Truncation = fyne.TextTruncateEllipsis
	verdict := widget.NewLabel("")
	features := widget.NewLabel("")
	features.Truncation = fyne.TextTruncateEllipsis
	why := widget.NewLabel("")
	why.Truncation = fyne.TextTruncateEllipsis
	return container.NewVBox(container.NewGridWithColumns(5, name, licence, verdict, NewMeterBar(), features), why)
}

func (v *ChooseView) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	if id >= len(v.result.Models) {
		return
	}
	f := v.result.Models[id]
	box := o.(*fyne.Container)
	cells := box.Objects[0].(*fyne.Container).Objects
	cells[rowName].(*widget.Label).SetText(f.Name)
	licence := cells[rowLicence].(*widget.Label)
	licence.Importance = widget.MediumImportance
	if nonProduction(f.Licence) {
		licence.Importance = widget.WarningImportance
	}
	licence.SetText(shortLicence(f.Licence))
	verdict := cells[rowVerdict].(*widget.Label)
	verdict.Importance = verdictImportance(f.Verdict)
	verdict.SetText(verdictText(f))
	value, text := memoryFigure(f, v.scale)
	cells[rowMemory].(*MeterBar).Set(value, text, verdictImportance(f.Verdict))
	var feats []string
	for _, ft := range f.Features {
		feats = append(feats, strings.ReplaceAll(string(ft), "_", " "))
	}
	cells[rowFeatures].(*widget.Label).SetText(strings.Join(feats, ", "))
	box.Objects[1].(*widget.Label).SetText(f.Why)
}

// memoryFigure is a model's one memory figure: the free GPU memory it needs
// against what this machine's GPU has free, or, with no GPU, against scale
// (the largest need listed).
func memoryFigure(f recommend.ModelFit, scale uint64) (float64, string) {
	if f.GPUFree == 0 {
		if scale == 0 {
			return 0, fmt.Sprintf("%.1f GiB", gib(f.FreeNeeded))
		}
		return float64(f.FreeNeeded) / float64(scale), fmt.Sprintf("%.1f GiB · no GPU here", gib(f.FreeNeeded))
	}
	per := ""
	if f.TensorParallel > 1 {
		per = " per GPU"
	}
	return float64(f.FreeNeeded) / float64(f.GPUFree), fmt.Sprintf("%.1f of %.1f GiB free%s", gib(f.FreeNeeded), gib(f.GPUFree), per)
}

// shortLicence is a licence's name without its expansion, marked when it
// forbids production use ("MNPL-0.1 · non-production").
func shortLicence(l string) string {
	short, _, _ := strings.Cut(l, " (")
	if nonProduction(l) && !nonProduction(short) {
		short += "\nnon-production"
	}
	return strings.Replace(short, " · ", "\n", 1)
}

func nonProduction(licence string) bool {
	return strings.Contains(strings.ToLower(licence), "non-production")
}

// breakdownText is a model's memory split, or what it needs at least.
func breakdownText(f recommend.ModelFit) string {
	if f.Memory.Weights == 0 {
		if f.MinGPUMemory > 0 {
			return fmt.Sprintf("Needs one GPU with at least %.1f GiB free.", gib(f.MinGPUMemory))
		}
		return ""
	}
	s := fmt.Sprintf("Weights %.1f GiB · KV cache %.1f GiB · overhead %.1f GiB · CUDA graphs %.1f GiB · context %d tokens",
		gib(f.Memory.Weights), gib(f.Memory.KVCache), gib(f.Memory.Overhead), gib(f.Memory.Graphs), f.Context)
	if f.Memory.KVTokens > 0 {
		s += fmt.Sprintf(" · KV pool %.1f GiB (%d tokens)", float64(f.Memory.KVPool)/(1<<30), f.Memory.KVTokens)
	}
	if f.TensorParallel > 1 {
		s += fmt.Sprintf(" · split over %d GPUs", f.TensorParallel)
	}
	if f.Variant != nil {
		s += " · as " + f.Variant.Repo
	}
	return s
}

func verdictText(f recommend.ModelFit) string {
	switch f.Verdict {
	case recommend.Fits:
		if f.Tight {
			return "✓ fits (tight)"
		}
		return "✓ fits"
	case recommend.FitsQuantized:
		return "✓ fits quantized"
	case recommend.NeedsMoreGPUs:
		return fmt.Sprintf("needs %d GPUs", f.GPUsNeeded)
	case recommend.TooLarge:
		return "✗ too large"
	case recommend.NeedsGPU:
		return "needs a GPU"
	}
	return f.Verdict
}

func verdictImportance(verdict string) widget.Importance {
	switch verdict {
	case recommend.Fits:
		return widget.SuccessImportance
	case recommend.FitsQuantized, recommend.NeedsMoreGPUs:
		return widget.WarningImportance
	}
	return widget.DangerImportance
}
