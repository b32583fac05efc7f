package ui

import (
	"testing"

	"fyne.io/fyne/v2"
)

// Screens other than the first are built into the window only when first
// shown (deferContent): until then their tab holds a placeholder, and once
// shown the tab holds the screen itself and the window draws it.
func TestTabs_screenBuiltIntoTheWindowWhenFirstShown(t *testing.T) {
	b := newBed(t)
	u := b.open()
	var logs *fyne.Container
	for _, it := range u.Tabs.Items {
		if it.Text == TabLogs {
			if it.Content == u.Logs.Content {
				t.Fatal("the Logs screen is in the window before it was shown")
			}
			logs, _ = it.Content.(*fyne.Container)
		}
	}
	if logs == nil || len(logs.Objects) != 0 {
		t.Fatalf("the Logs tab's placeholder is not empty: %#v", logs)
	}
	selectTab(u, TabLogs)
	if got := u.Tabs.Selected(); got == nil || got.Content != u.Logs.Content {
		t.Fatal("the Logs tab does not hold the Logs screen once shown")
	}
	if !u.Logs.Content.Visible() || u.Logs.Content.Size().Width == 0 {
		t.Fatalf("the Logs screen is not laid out in the window once shown (size %v)", u.Logs.Content.Size())
	}
	selectTab(u, TabMachine)
	selectTab(u, TabLogs) // shown again: the same screen, not rebuilt
	if got := u.Tabs.Selected(); got.Content != u.Logs.Content {
		t.Fatal("the Logs tab lost its screen on the second visit")
	}
}
