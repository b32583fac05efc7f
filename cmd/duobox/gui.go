package main

import (
	"context"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/duobox/duobox/ui"
)

// AppID is DuoBox's one application ID (FyneApp.toml, .desktop, metainfo).
const AppID = "io.duobox.DuoBox"

// runGUI opens the desktop window and blocks until it closes.
func runGUI(ctx context.Context, g *globals) error {
	a := fyneapp.NewWithID(AppID)
	w := a.NewWindow("DuoBox")
	w.Resize(fyne.NewSize(1100, 760))
	svc, closeServices := guiServices(g)
	defer closeServices()
	u := ui.New(a, w, svc)
	// Detection and the config watcher start once the event loop runs, so
	// they do not compete with the first frame for the CPU.
	a.Lifecycle().SetOnStarted(u.Start)
	go func() { // SIGINT/SIGTERM close the window like the close button
		<-ctx.Done()
		fyne.Do(a.Quit)
	}()
	w.ShowAndRun()
	u.Stop()
	return nil
}
