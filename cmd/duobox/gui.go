package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/cmd/duobox/internal/oneinstance"
	"github.com/duobox/duobox/ui"
)

// AppID is DuoBox's one application ID (FyneApp.toml, .desktop, metainfo).
const AppID = "io.duobox.DuoBox"

// runGUI opens the desktop window and blocks until it closes.
func runGUI(ctx context.Context, g *globals) error {
	if os.Getenv("GOGC") == "" {
		// The window holds up to 100,000 lines per followed container and
		// makes garbage with every batch it shows; a heap that may grow to
		// twice what is live (Go's default) shows up as resident memory that
		// keeps climbing while a busy log is followed. 1.5× keeps it flatter
		// for a few percent more GC work (make bench, gui-logs-follow).
		debug.SetGCPercent(50)
	}
	var instance net.Listener
	if dirs, err := g.dirs(); err == nil {
		var forwarded bool
		if instance, forwarded, _ = oneinstance.Claim(dirs.State); forwarded {
			fmt.Fprintf(cmp.Or[io.Writer](g.stderr, os.Stderr), "duobox: DuoBox is already open (its state folder %s); brought its window forward\n", dirs.State)
			return nil
		}
		confineFyne(dirs)
	}
	a := newFyneApp()
	w := a.NewWindow("DuoBox")
	if instance != nil {
		defer instance.Close()
		go oneinstance.Serve(instance, func() { fyne.Do(func() { w.Show(); w.RequestFocus() }) })
	}
	w.Resize(fyne.NewSize(1100, 760))
	core := g.core()
	defer core.Close()
	svc := ui.ServicesFrom(core)
	u := ui.New(a, w, svc)
	// Detection and the config watcher start once the event loop runs, so
	// they do not compete with the first frame for the CPU.
	a.Lifecycle().SetOnStarted(u.Start)
	if path := os.Getenv(guiStatsEnv); path != "" {
		go writeGUIStats(ctx, u, path)
	}
	go func() { // SIGINT/SIGTERM close the window like the close button
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
	u.Stop()
	return nil
}

// newFyneApp creates the Fyne app with its preferences in memory only: the
// window keeps its settings in its own file (ui.SettingsFile). Fyne builds a
// persistent, watched preferences file only when the app has an ID at
// creation (fyne.io/fyne/v2/app/preferences.go, newPreferences), rewrites it
// in place at every change and at exit, and its watcher reloading the cut
// file printed "Preferences load error: EOF" when the window quit. So the
// app is created without an ID (a Name in the metadata keeps Fyne from
// taking one from a FyneApp.toml in the working folder, meta_development.go),
// and the ID is set afterwards for what asks for it (file dialogs' storage).
func newFyneApp() fyne.App {
	fyneapp.SetMetadata(fyne.AppMetadata{Name: "DuoBox"})
	a := fyneapp.NewWithID("")
	fyneapp.SetMetadata(fyne.AppMetadata{ID: AppID, Name: "DuoBox"})
	return a
}

// confineFyne keeps Fyne's own files (its settings.json and watched folder,
// the icon cache, app storage) under $DUOBOX_HOME when it is set: Fyne puts
// them under os.UserConfigDir and os.UserCacheDir, read whenever it needs
// them (internal/app/config_xdg.go, app/icon_cache_other.go). DuoBox's own
// folders come from DUOBOX_HOME alone then (app/paths), so pointing the XDG
// variables into it changes nothing else of DuoBox's.
func confineFyne(dirs paths.Dirs) {
	if os.Getenv(paths.EnvHome) == "" {
		return // the XDG folders, as the README says
	}
	os.Setenv("XDG_CONFIG_HOME", dirs.Config)
	os.Setenv("XDG_CACHE_HOME", dirs.Cache)
}

// guiStatsEnv names a file the window rewrites every second with counters a
// person cannot read off the screen reliably (README, "Diagnostics"; the
// gui-logs-follow benchmark reads it): lines each log pane was given, and
// the Go heap's figures.
const guiStatsEnv = "DUOBOX_GUI_STATS"

func writeGUIStats(ctx context.Context, u *ui.UI, path string) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		received := map[string]int64{}
		if u.Logs != nil {
			for role, p := range u.Logs.Panes {
				received[role] = p.Received()
			}
		}
		var m goruntime.MemStats
		goruntime.ReadMemStats(&m)
		body, _ := json.Marshal(map[string]any{"time": time.Now().UTC(), "logs_received": received,
			"go_heap_in_use_bytes": m.HeapInuse, "go_heap_live_bytes": m.HeapAlloc, "go_sys_bytes": m.Sys, "go_heap_released_bytes": m.HeapReleased})
		if os.WriteFile(path+".tmp", body, 0o600) == nil {
			_ = os.Rename(path+".tmp", path)
		}
	}
}
