package ui

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
)

// Window settings and defaults: UI-only state, kept in DuoBox's own
// window-settings file (Services.SettingsFile), not in Fyne's preferences
// file: Fyne rewrites that file in place (os.Create truncates it before the
// new content is written, app/preferences_nonweb.go) while its own watcher
// reloads it on every change of its folder (app/preferences_other.go,
// settings_desktop.go), and a reload that lands between the two printed
// "Preferences load error: EOF" when the window quit. Shared operational
// state lives in the config file and SQLite instead.
const (
	keyThemeVariant = "theme-variant" // VariantSystem, VariantLight or VariantDark
	keyLastTab      = "last-tab"      // the tab shown last ("" = Dashboard)
	keyLogsFollow   = "logs-follow"   // the Logs screen follows new lines

	defaultThemeVariant = VariantSystem
	defaultLogsFollow   = true
)

// settingsStore is the part of fyne.Preferences the window uses.
type settingsStore interface {
	StringWithFallback(key, fallback string) string
	String(key string) string
	SetString(key, value string)
	BoolWithFallback(key string, fallback bool) bool
	SetBool(key string, value bool)
}

// Settings is typed access to DuoBox's window settings.
type Settings struct{ p settingsStore }

// NewSettings wraps a store: a SettingsFile, or an app's preferences (tests).
func NewSettings(p settingsStore) Settings { return Settings{p} }

// ThemeVariant is the chosen theme variant.
func (s Settings) ThemeVariant() string {
	return s.p.StringWithFallback(keyThemeVariant, defaultThemeVariant)
}

// SetThemeVariant stores the theme variant.
func (s Settings) SetThemeVariant(v string) { s.p.SetString(keyThemeVariant, v) }

// LastTab is the tab shown when the window last closed.
func (s Settings) LastTab() string { return s.p.String(keyLastTab) }

// SetLastTab stores the tab shown.
func (s Settings) SetLastTab(name string) { s.p.SetString(keyLastTab, name) }

// LogsFollow reports whether the Logs screen follows new lines.
func (s Settings) LogsFollow() bool { return s.p.BoolWithFallback(keyLogsFollow, defaultLogsFollow) }

// SetLogsFollow stores the follow toggle.
func (s Settings) SetLogsFollow(on bool) { s.p.SetBool(keyLogsFollow, on) }

// SettingsFile keeps the window settings in one JSON file, rewritten whole
// and atomically (a reader sees the old file or the new one, never a cut
// one) and read once: nothing else writes it while the window is open (one
// window per DuoBox home). A missing or damaged file means the defaults.
type SettingsFile struct {
	path   string
	mu     sync.Mutex
	values map[string]any
}

// OpenSettingsFile reads the window settings at path.
func OpenSettingsFile(path string) *SettingsFile {
	f := &SettingsFile{path: path, values: map[string]any{}}
	if body, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(body, &f.values) // damaged: the defaults, rewritten on the next change
	}
	return f
}

func (f *SettingsFile) get(key string) (any, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.values[key]
	return v, ok
}

func (f *SettingsFile) set(key string, v any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old, ok := f.values[key]; ok && old == v {
		return
	}
	f.values[key] = v
	body, err := json.MarshalIndent(f.values, "", "  ")
	if err == nil {
		err = config.WriteFileAtomic(f.path, append(body, '\n'), 0o600)
	}
	if err != nil {
		fyne.LogError("DuoBox could not save its window settings to "+f.path, err)
	}
}

// StringWithFallback is the string at key, or fallback.
func (f *SettingsFile) StringWithFallback(key, fallback string) string {
	if v, ok := f.get(key); ok {
		if s, ok := v.(string); ok {
			return s
		}
	}
	return fallback
}

// String is the string at key, or "".
func (f *SettingsFile) String(key string) string { return f.StringWithFallback(key, "") }

// SetString stores a string.
func (f *SettingsFile) SetString(key, value string) { f.set(key, value) }

// BoolWithFallback is the bool at key, or fallback.
func (f *SettingsFile) BoolWithFallback(key string, fallback bool) bool {
	if v, ok := f.get(key); ok {
		if b, ok := v.(bool); ok {
			return b
		}
	}
	return fallback
}

// SetBool stores a bool.
func (f *SettingsFile) SetBool(key string, value bool) { f.set(key, value) }

// SettingsView is the Settings screen: theme, the config file in force and
// the error of a rejected edit.
type SettingsView struct {
	Theme       *widget.RadioGroup
	ConfigPath  *widget.Label
	CopyPath    *widget.Button
	ConfigState *widget.Label
	ConfigError *widget.Label
	Content     fyne.CanvasObject

	u *UI
}

var themeChoices = []string{"Follow the desktop", "Light", "Dark"}
var themeVariants = []string{VariantSystem, VariantLight, VariantDark}

func newSettingsView(u *UI) *SettingsView {
	v := &SettingsView{u: u}
	v.Theme = widget.NewRadioGroup(themeChoices, v.onThemeChanged)
	v.Theme.Horizontal = true
	for i, tv := range themeVariants {
		if tv == u.prefs.ThemeVariant() {
			v.Theme.Selected = themeChoices[i]
		}
	}
	path := u.svc.ConfigPath
	if path == "" {
		path = "(no config file)"
	}
	v.ConfigPath = widget.NewLabelWithStyle(path, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	v.ConfigPath.Wrapping = fyne.TextWrapBreak
	v.CopyPath = u.copyButton("Copy path", func() string { return u.svc.ConfigPath })
	v.ConfigState = wrapped("No deployment config yet. Go through \"This machine\" → \"Choose model\" → \"Configure\" to write one.")
	v.ConfigError = wrapped("")
	v.ConfigError.Importance = widget.DangerImportance
	v.ConfigError.Hide()
	v.Content = scrolled(container.NewVBox(
		heading("Appearance"),
		v.Theme,
		widget.NewSeparator(),
		heading("Deployment config"),
		wrapped("DuoBox follows this file: changes made with the duobox command or in an editor show here at once. A bad edit is rejected and the last good config stays in force."),
		container.NewBorder(nil, nil, nil, v.CopyPath, v.ConfigPath),
		v.ConfigState,
		v.ConfigError,
		widget.NewSeparator(),
		u.Docs.Section,
	))
	return v
}

func (v *SettingsView) onThemeChanged(choice string) {
	for i, c := range themeChoices {
		if c == choice {
			v.u.prefs.SetThemeVariant(themeVariants[i])
			v.u.app.Settings().SetTheme(NewTheme(themeVariants[i]))
		}
	}
}

// showConfig shows the config in force and clears a previous error.
func (v *SettingsView) showConfig(d config.Deployment) {
	var models []string
	for _, m := range d.Models {
		models = append(models, m.Repo())
	}
	v.ConfigState.SetText(fmt.Sprintf("In force since %s: GitLab %s at %s · host %s:%d · model %s · gateway %s",
		time.Now().Format("15:04:05"), d.GitLab.Version, d.GitLab.URL, d.Host, d.Gateway.Port,
		strings.Join(models, ", "), d.Gateway.Image.Tag))
	v.ConfigError.Hide()
}

// showConfigError shows why an edit was rejected; the last good config stays.
func (v *SettingsView) showConfigError(err error) {
	keep := "There is no earlier good config."
	if v.u.config() != nil {
		keep = "The last good config stays in force."
	}
	text := fmt.Sprintf("The config file was rejected.\n%s\n%s Fix the file and save it; DuoBox reloads it by itself.", problem(err), keep)
	v.ConfigError.SetText(text)
	v.ConfigError.Show()
	if v.u.Configure != nil { // shown where the user edits the config too
		say(v.u.Configure.Result, app.SeverityError, text)
	}
}
