package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// MeterBar is a figure set against what it is compared to: a caption above
// a drawn track filled to Value (0–1; more than 1 fills it and shows in the
// colour of its importance). It looks like a gauge, not like a button: a
// thin outlined track, no background of its own, and it cannot be tapped.
type MeterBar struct {
	widget.BaseWidget
	Value      float64
	Text       string
	Importance widget.Importance // the fill's colour: Success, Warning or Danger
}

// NewMeterBar returns an empty bar.
func NewMeterBar() *MeterBar {
	b := &MeterBar{Importance: widget.SuccessImportance}
	b.ExtendBaseWidget(b)
	return b
}

// Set shows a value, its caption and its colour.
func (b *MeterBar) Set(value float64, text string, imp widget.Importance) {
	b.Value, b.Text, b.Importance = value, text, imp
	b.Refresh()
}

// CreateRenderer is Fyne's.
func (b *MeterBar) CreateRenderer() fyne.WidgetRenderer {
	r := &meterRenderer{b: b, track: canvas.NewRectangle(nil), fill: canvas.NewRectangle(nil),
		text: canvas.NewText("", nil)}
	r.track.StrokeWidth = 1
	r.track.CornerRadius, r.fill.CornerRadius = 3, 3
	r.Refresh()
	return r
}

type meterRenderer struct {
	b           *MeterBar
	track, fill *canvas.Rectangle
	text        *canvas.Text
}

const meterHeight = 8

// Layout aligns the caption and the track with a label's text (inset by
// the inner padding) and centres them vertically in the space given.
func (r *meterRenderer) Layout(size fyne.Size) {
	inset := theme.InnerPadding()
	ts := r.text.MinSize()
	y := max(0, (size.Height-r.contentHeight())/2)
	width := max(0, size.Width-2*inset)
	r.text.Move(fyne.NewPos(inset, y))
	r.text.Resize(fyne.NewSize(width, ts.Height))
	y += ts.Height + theme.Padding()/2
	r.track.Move(fyne.NewPos(inset, y))
	r.track.Resize(fyne.NewSize(width, meterHeight))
	r.fill.Move(fyne.NewPos(inset, y))
	r.fill.Resize(fyne.NewSize(width*float32(min(max(r.b.Value, 0), 1)), meterHeight))
}

func (r *meterRenderer) contentHeight() float32 {
	return r.text.MinSize().Height + theme.Padding()/2 + meterHeight
}

func (r *meterRenderer) MinSize() fyne.Size {
	return fyne.NewSize(max(r.text.MinSize().Width, 60)+2*theme.InnerPadding(), r.contentHeight())
}

func (r *meterRenderer) Refresh() {
	th := r.b.Theme()
	v := fyne.CurrentApp().Settings().ThemeVariant()
	r.track.FillColor = th.Color(theme.ColorNameInputBackground, v)
	r.track.StrokeColor = th.Color(theme.ColorNameInputBorder, v)
	r.fill.FillColor = th.Color(importanceColor(r.b.Importance), v)
	r.text.Text = r.b.Text
	r.text.Color = th.Color(theme.ColorNameForeground, v)
	r.text.TextSize = th.Size(theme.SizeNameCaptionText)
	r.Layout(r.b.Size())
	canvas.Refresh(r.b)
}

func (r *meterRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.track, r.fill, r.text}
}

func (r *meterRenderer) Destroy() {}

// importanceColor is the theme colour of a severity.
func importanceColor(i widget.Importance) fyne.ThemeColorName {
	switch i {
	case widget.SuccessImportance:
		return theme.ColorNameSuccess
	case widget.WarningImportance:
		return theme.ColorNameWarning
	case widget.DangerImportance:
		return theme.ColorNameError
	}
	return theme.ColorNamePrimary
}
