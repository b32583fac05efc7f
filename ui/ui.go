// Package ui is DuoBox's desktop window, built with Fyne on the same app
// services the CLI uses (see Services). It holds no business rules;
// goroutines change widgets only through fyne.Do. It never imports
// fyne.io/fyne/v2/app or runtime/* (only cmd/duobox does), so it is tested
// headless with fyne's test package.
package ui

import (
	"context"
	"errors"
	"image/color"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
)

// Tab names, in sidebar order.
const (
	TabMachine   = "This machine"
	TabChoose    = "Choose model"
	TabConfigure = "Configure"
	TabDeploy    = "Deploy"
	TabDashboard = "Dashboard"
	TabLogs      = "Logs"
	TabUpgrade   = "Upgrade"
	TabGitLab    = "GitLab"
	TabSettings  = "Settings"
)

// UI is the whole window: a sidebar of screens, the first-run flow first.
type UI struct {
	Tabs      *container.AppTabs
	hidden    map[*container.TabItem]fyne.CanvasObject // tabs' contents until first shown (deferContent)
	Machine   *MachineView
	Choose    *ChooseView
	Configure *ConfigureView
	Deploy    *DeployView
	Dashboard *DashboardView
	Logs      *LogsView
	Upgrade   *UpgradeView
	GitLab    *GitLabView
	Docs      *DocsView
	Settings  *SettingsView

	app      fyne.App
	window   fyne.Window
	svc      Services
	prefs    Settings
	bg       *tasks
	cancel   context.CancelFunc
	mu       sync.Mutex
	cfg      *config.Deployment // the last good config; nil before the first
	machine  hardware.Machine
	result   recommend.Result
	detected bool
	// autoRefresh is how often the shown Dashboard re-checks; 0: never (tests).
	autoRefresh time.Duration
	// pickFolder and pickFile ask for a folder or a file (a dialog; tests replace them).
	pickFolder func(title string, done func(path string))
	pickFile   func(title string, done func(path string))
	// pickSave asks where to save a new file, offering name (a save dialog).
	pickSave func(title, name string, done func(path string))
	// confirm asks a yes/no question (a dialog; tests replace it).
	confirm func(title, question string, done func(bool))
}

// New builds the window's content on a and w and sets it; call Start to
// detect and to follow the config, and Stop when the window closes.
func New(a fyne.App, w fyne.Window, svc Services) *UI {
	ctx, cancel := context.WithCancel(context.Background())
	var prefs settingsStore = a.Preferences()
	if svc.SettingsFile != "" {
		prefs = OpenSettingsFile(svc.SettingsFile)
	}
	u := &UI{app: a, window: w, svc: svc, prefs: NewSettings(prefs), bg: &tasks{ctx: ctx}, cancel: cancel,
		autoRefresh: 10 * time.Second}
	u.Machine = newMachineView(u)
	u.Choose = newChooseView(u)
	u.Configure = newConfigureView(u)
	u.Deploy = newDeployView(u)
	u.Dashboard = newDashboardView(u)
	u.Logs = newLogsView(u)
	u.Upgrade = newUpgradeView(u)
	u.GitLab = newGitLabView(u)
	u.Docs = newDocsView(u)
	u.Settings = newSettingsView(u)
	items := []*container.TabItem{
		container.NewTabItemWithIcon(TabMachine, theme.ComputerIcon(), u.Machine.Content),
		container.NewTabItemWithIcon(TabChoose, theme.ListIcon(), u.Choose.Content),
		container.NewTabItemWithIcon(TabConfigure, theme.DocumentCreateIcon(), u.Configure.Content),
		container.NewTabItemWithIcon(TabDeploy, theme.UploadIcon(), u.Deploy.Content),
		container.NewTabItemWithIcon(TabDashboard, theme.HomeIcon(), u.Dashboard.Content),
		container.NewTabItemWithIcon(TabLogs, theme.FileTextIcon(), u.Logs.Content),
		container.NewTabItemWithIcon(TabUpgrade, theme.ViewRefreshIcon(), u.Upgrade.Content),
		container.NewTabItemWithIcon(TabGitLab, theme.ContentCopyIcon(), u.GitLab.Content),
		container.NewTabItemWithIcon(TabSettings, theme.SettingsIcon(), u.Settings.Content),
	}
	u.hidden = deferContent(items[1:])
	u.Tabs = container.NewAppTabs(items...)
	u.Tabs.SetTabLocation(container.TabLocationLeading)
	u.Tabs.OnSelected = u.onTabSelected
	u.pickFolder = func(title string, done func(string)) {
		d := dialog.NewFolderOpen(func(dir fyne.ListableURI, err error) {
			if err == nil && dir != nil {
				done(dir.Path())
			}
		}, w)
		d.SetConfirmText(title)
		d.Show()
	}
	u.pickFile = func(title string, done func(string)) {
		d := dialog.NewFileOpen(func(f fyne.URIReadCloser, err error) {
			if err == nil && f != nil {
				f.Close()
				done(f.URI().Path())
			}
		}, w)
		d.SetConfirmText(title)
		d.Show()
	}
	u.pickSave = func(title, name string, done func(string)) {
		d := dialog.NewFileSave(func(f fyne.URIWriteCloser, err error) {
			if err == nil && f != nil {
				f.Close() // the export replaces it atomically
				done(f.URI().Path())
			}
		}, w)
		d.SetFileName(name)
		d.SetConfirmText(title)
		d.Show()
	}
	u.confirm = func(title, question string, done func(bool)) { dialog.ShowConfirm(title, question, done, w) }
	// Ctrl+1…9 switch screens, in sidebar order.
	for i, key := range []fyne.KeyName{fyne.Key1, fyne.Key2, fyne.Key3, fyne.Key4, fyne.Key5, fyne.Key6, fyne.Key7, fyne.Key8, fyne.Key9} {
		i := i
		w.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: key, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
			if i < len(u.Tabs.Items) {
				u.Tabs.SelectIndex(i)
			}
		})
	}
	// Ctrl+F searches the logs: the Logs screen, its shown pane's search field.
	w.Canvas().AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}, func(fyne.Shortcut) {
		u.focusLogSearch()
	})
	a.Settings().SetTheme(NewTheme(u.prefs.ThemeVariant()))
	w.SetContent(u.Tabs)
	return u
}

// Start loads the config (or opens the first-run flow), detects the machine
// and follows the config file. Call it once, on the UI goroutine.
func (u *UI) Start() {
	var first bool
	if u.svc.LoadConfig != nil {
		d, err := u.svc.LoadConfig()
		switch {
		case err == nil:
			u.setConfig(d)
		case errors.Is(err, os.ErrNotExist):
			first = true
		default:
			first = true
			u.Settings.showConfigError(err)
		}
	}
	if first {
		u.Select(TabMachine)
	} else if last := u.prefs.LastTab(); last != "" {
		u.Select(last)
	} else {
		u.Select(TabDashboard)
	}
	u.Machine.detect()
	if u.autoRefresh > 0 {
		go u.refreshDashboard(u.autoRefresh)
	}
	if u.svc.WatchConfig != nil {
		go func() {
			_ = u.svc.WatchConfig(u.bg.ctx,
				func(d config.Deployment) { u.bg.do(func() { u.setConfig(d) }) },
				func(err error) { u.bg.do(func() { u.Settings.showConfigError(err) }) })
		}()
	}
}

// refreshDashboard re-checks the stack while the Dashboard is shown.
func (u *UI) refreshDashboard(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-u.bg.ctx.Done():
			return
		case <-t.C:
			u.bg.do(func() {
				if it := u.Tabs.Selected(); it != nil && it.Text == TabDashboard && !u.Dashboard.Refresh.Disabled() {
					u.Dashboard.refresh()
				}
			})
		}
	}
}

// focusLogSearch shows the Logs screen and puts the cursor in the shown
// pane's search field (Ctrl+F).
func (u *UI) focusLogSearch() {
	p := u.Logs.Pane()
	if p == nil {
		return
	}
	u.Select(TabLogs)
	u.window.Canvas().Focus(p.Search)
}

// deferContent swaps each item's content for an empty placeholder and
// returns the contents to put back when the item is first shown. The tabs
// measure every item's content for their own size, so with all ten screens in
// place their renderers were all built, and their text shaped, before the
// window's first frame; now only the first screen's are.
func deferContent(items []*container.TabItem) map[*container.TabItem]fyne.CanvasObject {
	hidden := make(map[*container.TabItem]fyne.CanvasObject, len(items))
	for _, it := range items {
		hidden[it] = it.Content
		it.Content = container.NewStack()
	}
	return hidden
}

// Stop cancels background work (log followers, watchers, deploys).
func (u *UI) Stop() { u.cancel() }

// Wait blocks until the background tasks started so far have finished and
// their results are shown (for tests).
func (u *UI) Wait() { u.bg.wait() }

// Select shows the named tab.
func (u *UI) Select(name string) {
	for _, it := range u.Tabs.Items {
		if it.Text == name {
			u.Tabs.Select(it)
			return
		}
	}
}

func (u *UI) onTabSelected(it *container.TabItem) {
	if c, ok := u.hidden[it]; ok { // first shown: its own content in place
		delete(u.hidden, it)
		it.Content = c
		u.Tabs.Refresh()
	}
	u.prefs.SetLastTab(it.Text)
	switch it.Text {
	case TabDashboard:
		u.Dashboard.refresh()
	case TabLogs:
		u.Logs.ensureFollowing()
	case TabUpgrade:
		u.Upgrade.check()
	case TabGitLab:
		u.GitLab.load()
	}
}

// setConfig makes d the config in force and refreshes what shows it.
func (u *UI) setConfig(d config.Deployment) {
	u.mu.Lock()
	u.cfg = &d
	u.mu.Unlock()
	u.Settings.showConfig(d)
	u.Configure.fill(d)
	if u.Tabs.Selected() != nil {
		switch u.Tabs.Selected().Text {
		case TabDashboard:
			u.Dashboard.refresh()
		case TabGitLab:
			u.GitLab.load()
		}
	}
}

// config returns the config in force, or nil before there is one.
func (u *UI) config() *config.Deployment {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.cfg
}

// tasks runs background work and hands its results to the UI goroutine.
type tasks struct {
	ctx context.Context
	wg  sync.WaitGroup
	// queue (tests): UI changes wait in queued until Wait runs them on its
	// caller's goroutine, so a test drives the UI from one goroutine as
	// the real driver does.
	queue  bool
	mu     sync.Mutex
	queued []func()
}

// run calls work on a new goroutine; the func it returns (if any) runs on
// the UI goroutine.
func (t *tasks) run(work func(ctx context.Context) func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if apply := work(t.ctx); apply != nil {
			t.do(apply)
		}
	}()
}

// do runs f on the UI goroutine: fyne.Do, or the test queue.
func (t *tasks) do(f func()) {
	if !t.queue {
		fyne.Do(f)
		return
	}
	t.mu.Lock()
	t.queued = append(t.queued, f)
	t.mu.Unlock()
}

// wait waits for the started work and runs the queued UI changes, until
// neither is left.
func (t *tasks) wait() {
	for {
		t.wg.Wait()
		t.mu.Lock()
		q := t.queued
		t.queued = nil
		t.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

// unavailable is the message a screen shows when its service is missing.
func unavailable(what string) *widget.Label {
	l := widget.NewLabel(what + " is not available in this build of DuoBox.")
	l.Wrapping = fyne.TextWrapWord
	l.Importance = widget.WarningImportance
	return l
}

// scrolled scrolls o vertically, keeping its right edge clear of the
// scroll bar (which Fyne draws over the content).
func scrolled(o fyne.CanvasObject) *container.Scroll {
	gap := canvas.NewRectangle(color.Transparent)
	gap.SetMinSize(fyne.NewSize(theme.ScrollBarSize()+theme.Padding(), 0))
	return container.NewVScroll(container.NewBorder(nil, nil, nil, gap, o))
}

// heading is a bold section title.
func heading(text string) *widget.Label {
	return widget.NewLabelWithStyle(text, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
}

// wrapped is a label that wraps at word boundaries.
func wrapped(text string) *widget.Label {
	l := widget.NewLabel(text)
	l.Wrapping = fyne.TextWrapWord
	return l
}

// copyButton copies value() to the system clipboard.
func (u *UI) copyButton(label string, value func() string) *widget.Button {
	b := widget.NewButtonWithIcon(label, theme.ContentCopyIcon(), nil)
	b.OnTapped = func() {
		u.clipboard().SetContent(value())
		b.SetText("Copied")
		restoreLater(b, label)
	}
	return b
}

func (u *UI) clipboard() fyne.Clipboard { return u.app.Clipboard() }

// problem renders a failure with its fix on a line of its own.
// in the window's words (one vocabulary with the CLI: "press Deploy" where
// the CLI says "run 'duobox up'").
func problem(err error) string {
	what, fix := app.Describe(err, app.FaceWindow)
	what, fix = app.InWindowWords(what), app.InWindowWords(fix)
	if fix != "" {
		return "Problem: " + what + "\nFix: " + fix
	}
	return "Problem: " + what
}

// fixText is a fix written for the CLI (health reports, log recognisers) in the window's words.
func fixText(s string) string { return app.InWindowWords(s) }

// chooseFolder asks for a folder, then calls done with it (UI goroutine).
func (u *UI) chooseFolder(title string, done func(string)) { u.pickFolder(title, done) }

// chooseFile asks for a file, then calls done with its path (UI goroutine).
func (u *UI) chooseFile(title string, done func(string)) { u.pickFile(title, done) }

// setGitLabVersion makes v the GitLab version on every screen that shows one.
func (u *UI) setGitLabVersion(v string) {
	if v == "" {
		return
	}
	if u.Configure != nil && u.Configure.Version.Text != v {
		u.Configure.Version.SetText(v)
	}
	if u.Choose != nil && u.Choose.Version.Text != v {
		u.Choose.Version.SetText(v)
	}
}
