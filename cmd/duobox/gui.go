package main

import (
	"context"
	"fmt"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/ui"
)

// AppID is DuoBox's one application ID (FyneApp.toml, .desktop, metainfo).
const AppID = "io.duobox.DuoBox"

// runGUI opens the desktop window and blocks until it closes.
func runGUI(ctx context.Context, g *globals) error {
	a := fyneapp.NewWithID(AppID)
	w := a.NewWindow("DuoBox")
	view := ui.NewMachineView()
	w.SetContent(view.Content)
	w.Resize(fyne.NewSize(1000, 700))
	go func() {
		var flags machineFlags
		rec := startRecorder(ctx, g)
		defer rec.close()
		m, err := flags.detectRecording(ctx, rec)
		if err != nil {
			fyne.Do(func() { view.ShowError(err) })
			return
		}
		c, err := loadCatalog(g)
		if err != nil {
			fyne.Do(func() { view.ShowError(err) })
			return
		}
		v, _, err := resolveGitLabVersion(g, "", c)
		if err != nil {
			fyne.Do(func() { view.ShowError(err) })
			return
		}
		r, err := recommend.Recommend(m, c, recommend.Options{GitLab: v})
		fyne.Do(func() {
			if err != nil {
				view.ShowError(fmt.Errorf("recommend: %w", err))
				return
			}
			view.Show(m, r)
		})
	}()
	w.ShowAndRun()
	return nil
}
