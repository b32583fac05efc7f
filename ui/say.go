package ui

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
)

// Severity decides colour, the same way on every screen.
func severityImportance(s app.Severity) widget.Importance {
	switch s {
	case app.SeveritySuccess:
		return widget.SuccessImportance
	case app.SeverityNote:
		return widget.MediumImportance
	case app.SeverityWarning:
		return widget.WarningImportance
	}
	return widget.DangerImportance
}

// say shows text on l in the colour of its severity, replacing whatever
// was there (a stale error goes with its colour).
func say(l *widget.Label, s app.Severity, text string) {
	l.Importance = severityImportance(s)
	l.SetText(text) // SetText refreshes, with the new importance
}

// sayErr shows a failure with its fix, in the window's words.
func sayErr(l *widget.Label, err error) { say(l, app.SeverityOf(err), problem(err)) }

// copyConfirm is how long a Copy button says "Copied" before it returns.
var copyConfirm = 1500 * time.Millisecond

// restoreLater puts a button's label back after copyConfirm.
func restoreLater(b *widget.Button, label string) {
	time.AfterFunc(copyConfirm, func() {
		fyne.Do(func() { b.SetText(label) })
	})
}
