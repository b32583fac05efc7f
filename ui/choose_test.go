package ui

import (
	"context"
	"slices"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
)

func TestChoose_preselectsRecommendationAndFiltersByGitLabVersion(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabChoose)

	r := u.Choose.result
	if u.Choose.Models.Length() != len(r.Models) || len(r.Models) == 0 {
		t.Fatalf("%d rows for %d models", u.Choose.Models.Length(), len(r.Models))
	}
	f, ok := u.Choose.Selected()
	if !ok || len(r.Recommendation) == 0 || f.ID != r.Recommendation[0].ModelID {
		t.Fatalf("selected %q, want the recommendation %+v", f.ID, r.Recommendation)
	}
	if !strings.Contains(u.Choose.Details.Text, f.Why) {
		t.Errorf("details %q lack the why %q", u.Choose.Details.Text, f.Why)
	}
	if u.Choose.Next.Disabled() {
		t.Error("Next disabled with a model chosen")
	}

	u.Choose.Version.SetText("")
	test.Type(u.Choose.Version, "17.3")
	test.Tap(u.Choose.Filter)
	u.Wait()
	if got := u.Choose.result.GitLab; !strings.HasPrefix(got, "17.3") {
		t.Fatalf("filtered for %q, want 17.3", got)
	}
	if len(u.Choose.result.Models) >= len(r.Models) {
		t.Errorf("GitLab 17.3 lists %d models, 18.x %d: the version did not filter", len(u.Choose.result.Models), len(r.Models))
	}

	u.Choose.Version.SetText("seventeen")
	test.Tap(u.Choose.Filter)
	u.Wait()
	if !strings.HasPrefix(u.Choose.Advice.Text, "Problem:") {
		t.Errorf("bad version gave %q", u.Choose.Advice.Text)
	}
}

// rowOf renders the list row of model id and returns its cells.
func rowOf(t *testing.T, v *ChooseView, id string) (cells []fyne.CanvasObject, why *widget.Label) {
	t.Helper()
	for i, f := range v.result.Models {
		if f.ID == id {
			o := v.newRow()
			v.updateRow(i, o)
			box := o.(*fyne.Container)
			return box.Objects[0].(*fyne.Container).Objects, box.Objects[1].(*widget.Label)
		}
	}
	t.Fatalf("no row for %s", id)
	return nil, nil
}

// Each row shows the model's licence, one memory figure drawn as a bar
// against the GPU's free memory (the bar full exactly when it does not fit),
// and the reason in one line.
func TestChoose_rowShowsLicenceOneMemoryFigureAsABarAndTheReason(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabChoose)
	v := u.Choose
	if !strings.Contains(v.MemoryHeading.Text, "free") {
		t.Errorf("memory heading %q", v.MemoryHeading.Text)
	}
	for _, f := range v.result.Models {
		cells, why := rowOf(t, v, f.ID)
		bar, ok := cells[rowMemory].(*MeterBar)
		if !ok {
			t.Fatalf("%s: memory cell is %T", f.ID, cells[rowMemory])
		}
		if _, tappable := any(bar).(fyne.Tappable); tappable {
			t.Errorf("%s: the bar can be tapped like a button", f.ID)
		}
		runs := f.Verdict == recommend.Fits || f.Verdict == recommend.FitsQuantized
		if runs != (bar.Value <= 1) || strings.Count(bar.Text, "GiB") != 1 || !strings.Contains(bar.Text, "of 44.5 GiB free") {
			t.Errorf("%s (%s): bar %.2f %q", f.ID, f.Verdict, bar.Value, bar.Text)
		}
		if why.Text != f.Why || why.Truncation != fyne.TextTruncateEllipsis {
			t.Errorf("%s: reason %q", f.ID, why.Text)
		}
		if l := cells[rowLicence].(*widget.Label); l.Text == "" {
			t.Errorf("%s: no licence", f.ID)
		}
	}
	cells, _ := rowOf(t, v, "codestral-22b")
	if l := cells[rowLicence].(*widget.Label); l.Text != "MNPL-0.1\nnon-production" || l.Importance != widget.WarningImportance {
		t.Errorf("Codestral's licence cell %q (importance %d)", l.Text, l.Importance)
	}
	// Readable whole: at the list's width each line fits its cell, and the
	// row (sized from the template) is tall enough for both lines.
	row := v.newRow()
	v.updateRow(slices.IndexFunc(v.result.Models, func(f recommend.ModelFit) bool { return f.ID == "codestral-22b" }), row)
	row.Resize(fyne.NewSize(v.Models.Size().Width, row.MinSize().Height))
	licence := row.(*fyne.Container).Objects[0].(*fyne.Container).Objects[rowLicence].(*widget.Label)
	if v.Models.Size().Width < 500 {
		t.Fatalf("list only %.0f wide", v.Models.Size().Width)
	}
	for _, line := range strings.Split(licence.Text, "\n") {
		w := fyne.MeasureText(line, theme.TextSize(), fyne.TextStyle{}).Width + 2*theme.InnerPadding()
		if w > licence.Size().Width {
			t.Errorf("licence line %q needs %.0f, the cell is %.0f wide: cut", line, w, licence.Size().Width)
		}
	}
	if tmpl := v.newRow().MinSize().Height; tmpl < licence.MinSize().Height {
		t.Errorf("row template %.0f high, the licence needs %.0f", tmpl, licence.MinSize().Height)
	}
	for i, f := range v.result.Models {
		if f.ID == "codestral-22b" {
			v.Models.Select(i)
		}
	}
	if !strings.Contains(v.Details.Text, "Licence: MNPL-0.1 (Mistral Non-Production License) — not for production use") {
		t.Errorf("details %q", v.Details.Text)
	}
	test.AssertObjectRendersToMarkup(t, "choose_meter.xml", cells[rowMemory])
}

// With no GPU the bars cannot be set against free memory: the heading says
// what they are compared to instead.
func TestChoose_withoutGPUSaysWhatTheBarIsComparedTo(t *testing.T) {
	b := newBed(t)
	b.svc.Detect = func(ctx context.Context) (hardware.Machine, error) {
		m, err := b.detect(ctx)
		m.GPUs = nil
		return m, err
	}
	u := b.open()
	selectTab(u, TabChoose)
	v := u.Choose
	if !strings.Contains(v.Advice.Text, "With no GPU to compare with, each memory bar is set against the largest need listed") {
		t.Errorf("advice %q", v.Advice.Text)
	}
	if w := v.Content.MinSize().Width; w > 900 {
		t.Errorf("the screen needs %.0f px: the window cannot be narrower", w)
	}
	full := 0
	for _, f := range v.result.Models {
		cells, _ := rowOf(t, v, f.ID)
		bar := cells[rowMemory].(*MeterBar)
		if bar.Value > 1 || !strings.Contains(bar.Text, "no GPU here") || bar.Importance != widget.DangerImportance {
			t.Errorf("%s: bar %.2f %q", f.ID, bar.Value, bar.Text)
		}
		if bar.Value == 1 {
			full++
		}
	}
	if full != 1 {
		t.Errorf("%d bars full, want the largest only", full)
	}
}
