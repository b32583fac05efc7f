package ui

import (
	"image/color"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// contrast is WCAG 2's contrast ratio of two colours.
func contrast(a, b color.Color) float64 {
	lum := func(c color.Color) float64 {
		r, g, bl, _ := c.RGBA()
		ch := func(v uint32) float64 {
			s := float64(v) / 0xffff
			if s <= 0.03928 {
				return s / 12.92
			}
			return math.Pow((s+0.055)/1.055, 2.4)
		}
		return 0.2126*ch(r) + 0.7152*ch(g) + 0.0722*ch(bl)
	}
	l1, l2 := lum(a), lum(b)
	return (max(l1, l2) + 0.05) / (min(l1, l2) + 0.05)
}

// Every text colour the window uses reads against its background in both
// variants (WCAG: 4.5:1 for text); the severity colours on light were
// Fyne's, made for dark, at 1.6–3.7:1.
func TestTheme_textColoursReadOnBothVariants(t *testing.T) {
	for _, variant := range []string{VariantLight, VariantDark} {
		th := NewTheme(variant)
		v := theme.VariantLight
		if variant == VariantDark {
			v = theme.VariantDark
		}
		for _, bg := range []fyne.ThemeColorName{theme.ColorNameBackground, theme.ColorNameInputBackground} {
			for _, fg := range []fyne.ThemeColorName{theme.ColorNameForeground, theme.ColorNameSuccess, theme.ColorNameWarning, theme.ColorNameError} {
				if c := contrast(th.Color(fg, v), th.Color(bg, v)); c < 4.5 {
					t.Errorf("%s: %s on %s is %.1f:1", variant, fg, bg, c)
				}
			}
		}
	}
}
