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

	"github.com/duobox/duobox/app/bundle"
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
	}
	a := fyneapp.NewWithID(AppID)
	w := a.NewWindow("DuoBox")
	if instance != nil {
		defer instance.Close()
		go oneinstance.Serve(instance, func() { fyne.Do(func() { w.Show(); w.RequestFocus() }) })
	}
	w.Resize(fyne.NewSize(1100, 760))
	core := g.core()
	defer core.Close()
	svc := ui.ServicesFrom(core)
	svc.CreateBundle = func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.CreateResult, error) {
		return createBundle(ctx, g, bundle.CreateOptions{Output: file}, on)
	}
	svc.LoadBundle = func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.LoadResult, error) {
		return loadBundle(ctx, g, file, on)
	}
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
