package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

func TestMachine_firstRunShowsGPUsProblemsAndRecordsSnapshot(t *testing.T) {
	b := newBed(t)
	u := b.open()

	if got := u.Tabs.Selected().Text; got != TabMachine {
		t.Fatalf("first run opened %q, want %q", got, TabMachine)
	}
	if n := len(u.Machine.GPUs.Objects); n != 1 {
		t.Fatalf("%d GPU rows, want 1", n)
	}
	row := u.Machine.GPUs.Objects[0].(*fyne.Container)
	if l := row.Objects[0].(*widget.Label).Text; !strings.Contains(l, "NVIDIA L40S") {
		t.Errorf("GPU label %q", l)
	}
	bar := row.Objects[1].(*MeterBar)
	if bar.Value <= 0 || bar.Value >= 0.05 {
		t.Errorf("VRAM bar %.3f, want the used share (about 1%%)", bar.Value)
	}
	// The label says what the bar shows: the share in use, then what is free.
	if bar.Text != "0.5 GiB in use of 45.0 GiB (44.5 GiB free)" {
		t.Errorf("VRAM bar text %q", bar.Text)
	}
	ram := u.Machine.Memory
	if ram.Value < 0 || ram.Value > 1 || !strings.Contains(ram.Text, " GiB in use of ") || !strings.Contains(ram.Text, "available)") {
		t.Errorf("RAM bar %.2f %q", ram.Value, ram.Text)
	}
	if !strings.Contains(u.Machine.Docker.Text, "no engine in this test") || u.Machine.Docker.Importance != widget.DangerImportance {
		t.Errorf("docker status %q (%v)", u.Machine.Docker.Text, u.Machine.Docker.Importance)
	}
	var problems []string
	for _, o := range u.Machine.Problems.Objects {
		problems = append(problems, o.(*widget.Label).Text)
	}
	if !strings.Contains(strings.Join(problems, "\n"), "Fix: start Docker: sudo systemctl start docker") {
		t.Errorf("problems %q lack the engine fix", problems)
	}
	if u.Machine.Next.Disabled() {
		t.Error("Next stays disabled after detection")
	}
	if _, body, err := b.store.LatestSnapshot(t.Context(), "machine"); err != nil || !strings.Contains(string(body), "NVIDIA L40S") {
		t.Errorf("snapshot in SQLite: %v %.80s", err, body)
	}

	test.Tap(u.Machine.Next)
	if got := u.Tabs.Selected().Text; got != TabChoose {
		t.Errorf("Next went to %q", got)
	}
}

func TestMachine_missingDetectorSaysSoWithoutSendingToATerminal(t *testing.T) {
	b := newBed(t)
	b.svc.Detect = nil
	u := b.open()
	if got := u.Machine.Status.Text; !strings.Contains(got, "not available") || strings.Contains(got, "duobox ") {
		t.Errorf("status %q", u.Machine.Status.Text)
	}
}
