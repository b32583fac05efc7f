package ui

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/theme"

	"github.com/duobox/duobox/app/config"
)

func TestSettings_themeChoiceIsStoredAndApplied(t *testing.T) {
	b := newBed(t)
	u := b.open()
	u.Settings.Theme.SetSelected("Light")
	if got := NewSettings(b.app.Preferences()).ThemeVariant(); got != VariantLight {
		t.Errorf("stored %q", got)
	}
	bg := b.app.Settings().Theme().Color(theme.ColorNameBackground, theme.VariantDark)
	if r, _, _, _ := bg.RGBA(); r < 0x8000 {
		t.Errorf("light theme background is dark: %v", bg)
	}
	u.Settings.Theme.SetSelected("Dark")
	bg = b.app.Settings().Theme().Color(theme.ColorNameBackground, theme.VariantLight)
	if r, _, _, _ := bg.RGBA(); r > 0x8000 {
		t.Errorf("dark theme background is light: %v", bg)
	}
}

func TestSettings_followsConfigEditsAndKeepsLastGoodOnBadEdit(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	changed, failed := make(chan struct{}, 4), make(chan struct{}, 4)
	watch := b.svc.WatchConfig
	b.svc.WatchConfig = func(ctx context.Context, on func(config.Deployment), onErr func(error)) error {
		return watch(ctx, func(d config.Deployment) { on(d); signal(changed) }, func(err error) { onErr(err); signal(failed) })
	}
	u := b.open()
	if got := u.Tabs.Selected().Text; got != TabDashboard {
		t.Errorf("with a config the window opened %q", got)
	}
	if !strings.Contains(u.Settings.ConfigState.Text, "192.0.2.10") {
		t.Fatalf("state %q", u.Settings.ConfigState.Text)
	}
	time.Sleep(100 * time.Millisecond) // let the watcher start

	d, _ := config.Load(b.cfgPath)
	d.Host = "192.0.2.20" // what 'duobox init --force' or an editor does
	if err := config.Save(b.cfgPath, d); err != nil {
		t.Fatal(err)
	}
	waitFor(t, changed, "the config change")
	u.Wait()
	if !strings.Contains(u.Settings.ConfigState.Text, "192.0.2.20") || u.Configure.Host.Text != "192.0.2.20" {
		t.Errorf("after the edit: state %q, host field %q", u.Settings.ConfigState.Text, u.Configure.Host.Text)
	}

	if err := os.WriteFile(b.cfgPath, []byte("version: 1\ngitlab: [this is not a map\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, failed, "the rejected edit")
	u.Wait()
	if !u.Settings.ConfigError.Visible() || !strings.Contains(u.Settings.ConfigError.Text, "last good config stays in force") {
		t.Errorf("error shown=%v %q", u.Settings.ConfigError.Visible(), u.Settings.ConfigError.Text)
	}
	if got := u.config(); got == nil || got.Host != "192.0.2.20" {
		t.Errorf("config in force after a bad edit: %+v", got)
	}
	test.Tap(u.Settings.CopyPath)
	if got := b.app.Clipboard().Content(); got != b.cfgPath {
		t.Errorf("clipboard %q", got)
	}
}

func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// signal notes an event without ever blocking the sender.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// The window's own settings live in DuoBox's window-settings file (written
// whole and atomically, 0600), not in Fyne's preferences, whose in-place
// rewrite and reload printed "Preferences load error: EOF" at quit; the
// next window reads them back, and a damaged file means the defaults.
func TestSettings_keptInDuoBoxsOwnFileNotFynePreferences(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.SettingsFile = filepath.Join(t.TempDir(), "window-settings.json")
	u := b.open()
	u.Settings.Theme.SetSelected("Light")
	selectTab(u, TabGitLab)
	u.prefs.SetLogsFollow(false) // what the Logs screen's Follow box does
	body, err := os.ReadFile(b.svc.SettingsFile)
	st, _ := os.Stat(b.svc.SettingsFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("settings file: %v %v", err, st)
	}
	var saved map[string]any
	if err := json.Unmarshal(body, &saved); err != nil || saved[keyThemeVariant] != VariantLight || saved[keyLastTab] != TabGitLab || saved[keyLogsFollow] != false {
		t.Fatalf("saved %s (%v)", body, err)
	}
	if got := b.app.Preferences().String(keyThemeVariant); got != "" {
		t.Errorf("Fyne's preferences got %q too", got)
	}
	u2 := b.open()
	if got := u2.Tabs.Selected().Text; got != TabGitLab || u2.prefs.ThemeVariant() != VariantLight || u2.prefs.LogsFollow() {
		t.Errorf("next window: tab %q, theme %q, follow %v", got, u2.prefs.ThemeVariant(), u2.prefs.LogsFollow())
	}
	os.WriteFile(b.svc.SettingsFile, []byte("{cut"), 0o600)
	if s := NewSettings(OpenSettingsFile(b.svc.SettingsFile)); s.ThemeVariant() != defaultThemeVariant || !s.LogsFollow() {
		t.Error("a damaged file does not mean the defaults")
	}
}
