package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// Theme variants the Settings screen offers.
const (
	VariantSystem = "system"
	VariantLight  = "light"
	VariantDark   = "dark"
)

// duoTheme decorates Fyne's default theme: it pins the light or dark
// variant when the user chose one, and otherwise follows the desktop.
type duoTheme struct {
	fyne.Theme
	variant string
}

// NewTheme returns DuoBox's theme for a variant (VariantSystem, VariantLight
// or VariantDark; anything else follows the system).
func NewTheme(variant string) fyne.Theme {
	return &duoTheme{Theme: theme.DefaultTheme(), variant: variant}
}

// Color pins the variant when one was chosen, and on the light variant
// darkens the severity colours: Fyne's (green #43f436-like, orange
// #ff9800, red #f44336) are made for dark backgrounds and fall to 1.6–3.7:1
// on white, below WCAG's 4.5:1 for text.
func (t *duoTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	switch t.variant {
	case VariantLight:
		v = theme.VariantLight
	case VariantDark:
		v = theme.VariantDark
	}
	if v == theme.VariantLight {
		if c, ok := lightSeverity[n]; ok {
			return c
		}
	} else if n == theme.ColorNameError {
		return darkError
	}
	return t.Theme.Color(n, v)
}

// lightSeverity are the severity colours on the light variant, each at
// least 4.5:1 against white (and against Fyne's light input background).
var lightSeverity = map[fyne.ThemeColorName]color.Color{
	theme.ColorNameSuccess: color.NRGBA{R: 0x1b, G: 0x7a, B: 0x2e, A: 0xff}, // 5.4:1
	theme.ColorNameWarning: color.NRGBA{R: 0x9a, G: 0x58, B: 0x00, A: 0xff}, // 5.3:1
	theme.ColorNameError:   color.NRGBA{R: 0xc6, G: 0x28, B: 0x28, A: 0xff}, // 5.6:1
}

// darkError is Fyne's dark red (#f44336, 4.4:1 on its input background)
// lightened to 5.0:1.
var darkError = color.NRGBA{R: 0xf5, G: 0x5a, B: 0x4e, A: 0xff}
