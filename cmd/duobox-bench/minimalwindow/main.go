// Command minimalwindow is the reference for the GUI benchmarks: the
// smallest Fyne app (one window with a label and a button) built with the
// same toolkit version, tags and window size as DuoBox.
package main

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("io.duobox.BenchMinimalWindow")
	w := a.NewWindow("Minimal")
	w.SetContent(container.NewVBox(widget.NewLabel("Hello"), widget.NewButton("OK", func() {})))
	w.Resize(fyne.NewSize(1100, 760))
	w.ShowAndRun()
}
