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

// Color pins the variant when one was chosen.
func (t *duoTheme) Color(n fyne.ThemeColorName, v fyne.ThemeVariant) color.Color {
	switch t.variant {
	case VariantLight:
		v = theme.VariantLight
	case VariantDark:
		v = theme.VariantDark
	}
	return t.Theme.Color(n, v)
}
