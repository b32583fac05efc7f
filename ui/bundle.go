package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/units"
)

// BundlePanel is the offline path on the Deploy screen: prepare a bundle on
// a machine with internet, load one on the air-gapped workstation, with a
// progress bar (bytes and rate) for each step.
type BundlePanel struct {
	Path     *widget.Entry // the bundle file
	Prepare  *widget.Button
	Load     *widget.Button
	Cancel   *widget.Button
	Progress *widget.ProgressBar
	State    *widget.Label
	Content  fyne.CanvasObject

	u      *UI
	cancel context.CancelFunc

	mu   sync.Mutex
	last *bundle.Progress
}

func newBundlePanel(u *UI) *BundlePanel {
	p := &BundlePanel{u: u}
	p.Path = widget.NewEntry()
	p.Path.SetPlaceHolder("/media/usb/duobox-offline.bundle")
	p.Prepare = widget.NewButtonWithIcon("Prepare an offline bundle…", theme.DownloadIcon(), func() { p.choose(true) })
	p.Load = widget.NewButtonWithIcon("Load a bundle…", theme.UploadIcon(), func() { p.choose(false) })
	p.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		if p.cancel != nil {
			p.cancel()
		}
	})
	p.Cancel.Disable()
	p.Progress = widget.NewProgressBar()
	p.Progress.Hide()
	p.State = wrapped("No internet here? On a machine with internet, prepare a bundle (the images, the weights, the tags: one file), carry it over, and load it here; then press Deploy.")
	if u.svc.CreateBundle == nil {
		p.Prepare.Disable()
	}
	if u.svc.LoadBundle == nil {
		p.Load.Disable()
	}
	if u.svc.CreateBundle == nil && u.svc.LoadBundle == nil {
		p.State = unavailable("Offline bundles")
	}
	p.Content = container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("Bundle file"), nil, p.Path),
		container.NewHBox(p.Prepare, p.Load, p.Cancel),
		p.Progress, p.State)
	return p
}

// choose asks for the file when the path is empty (a file dialog on a
// real window), then runs.
func (p *BundlePanel) choose(create bool) {
	if strings.TrimSpace(p.Path.Text) != "" || p.u.window == nil {
		p.run(create)
		return
	}
	if create {
		d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
			if err != nil || w == nil {
				return
			}
			w.Close()
			path := w.URI().Path()
			_ = storage.Delete(w.URI()) // create writes the file itself, and refuses an existing one
			p.Path.SetText(path)
			p.run(true)
		}, p.u.window)
		d.SetFileName("duobox-offline.bundle")
		d.Show()
		return
	}
	dialog.ShowFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil || r == nil {
			return
		}
		r.Close()
		p.Path.SetText(r.URI().Path())
		p.run(false)
	}, p.u.window)
}

func (p *BundlePanel) run(create bool) {
	path := strings.TrimSpace(p.Path.Text)
	if path == "" {
		p.show("Problem: no bundle file given\nFix: type the path of the bundle file above", widget.DangerImportance)
		return
	}
	p.Prepare.Disable()
	p.Load.Disable()
	p.Cancel.Enable()
	p.Progress.SetValue(0)
	p.Progress.Show()
	p.mu.Lock()
	p.last = nil
	p.mu.Unlock()
	if create {
		p.show("Preparing "+path+"…", widget.MediumImportance)
	} else {
		p.show("Loading "+path+" (every checksum verified; if one fails, nothing is kept)…", widget.MediumImportance)
	}
	ctx, cancel := context.WithCancel(p.u.bg.ctx)
	p.cancel = cancel
	done := make(chan struct{})
	go tickUntil(done, func() { p.u.bg.do(p.render) })
	p.u.bg.run(func(context.Context) func() {
		defer close(done)
		var msg string
		var err error
		if create {
			var res bundle.CreateResult
			if res, err = p.u.svc.CreateBundle(ctx, path, p.onProgress); err == nil {
				msg = fmt.Sprintf("✓ Wrote %s (%s in %s): GitLab %s, %s, %d images, %s. Carry it to the workstation and press Load a bundle… there.",
					res.File, units.HumanBytes(res.Bytes), time.Duration(res.Seconds*float64(time.Second)).Round(time.Second),
					res.Manifest.GitLabVersion, res.Manifest.Platform, len(res.Manifest.Images), modelOf(res.Manifest))
			}
		} else {
			var res bundle.LoadResult
			if res, err = p.u.svc.LoadBundle(ctx, path, p.onProgress); err == nil {
				msg = loadSummary(res)
			}
		}
		return func() {
			cancel()
			p.Cancel.Disable()
			if p.u.svc.CreateBundle != nil {
				p.Prepare.Enable()
			}
			if p.u.svc.LoadBundle != nil {
				p.Load.Enable()
			}
			p.render()
			switch {
			case errors.Is(err, context.Canceled):
				p.show("Cancelled. Nothing was changed; preparing again resumes with what was fetched.", widget.WarningImportance)
			case err != nil:
				p.show(problem(err), widget.DangerImportance)
			default:
				p.Progress.SetValue(1)
				p.show(msg, widget.SuccessImportance)
			}
		}
	})
}

func modelOf(m bundle.Manifest) string {
	if m.Model == nil {
		return "no weights"
	}
	return m.Model.Repo + " (" + units.HumanBytes(m.Model.Bytes) + ")"
}

func loadSummary(r bundle.LoadResult) string {
	if !r.Changed {
		return "✓ Verified " + r.File + ": everything in it was in place already; nothing changed. Press Deploy."
	}
	var parts []string
	for _, i := range r.Images {
		parts = append(parts, i.Action+" "+i.Ref)
	}
	if r.WeightsRepo != "" {
		parts = append(parts, "weights "+r.Weights+" "+r.WeightsRepo)
	}
	s := "✓ Loaded " + r.File + " for GitLab " + r.GitLabVersion + ": " + strings.Join(parts, "; ") + "."
	if r.ConfigUpdated {
		s += " The config now names the bundle's images."
	}
	for _, n := range r.Notes {
		s += "\nNote: " + n
	}
	return s + " Press Deploy: no network is needed."
}

func (p *BundlePanel) show(text string, imp widget.Importance) {
	p.State.SetText(text)
	p.State.Importance = imp
	p.State.Refresh()
}

func (p *BundlePanel) onProgress(pr bundle.Progress) {
	p.mu.Lock()
	p.last = &pr
	p.mu.Unlock()
}

// render shows the latest progress; UI goroutine only.
func (p *BundlePanel) render() {
	p.mu.Lock()
	pr := p.last
	p.mu.Unlock()
	if pr == nil {
		return
	}
	if pr.Total > 0 {
		p.Progress.Value = float64(pr.Done) / float64(pr.Total)
	}
	line := pr.Line()
	p.Progress.TextFormatter = func() string { return line }
	p.Progress.Refresh()
}

// offerBundle points at the Load button when a pull failed in a way a
// bundle gets around (no registry, no route, refused, rate limited…).
func (p *BundlePanel) offerBundle(err error) bool {
	var pf *engine.PullFailure
	if !errors.As(err, &pf) || !pf.BundleHelps() || p.u.svc.LoadBundle == nil {
		return false
	}
	p.Load.Importance = widget.HighImportance
	p.Load.Refresh()
	p.show("This machine cannot pull "+pf.Image+". Load a bundle prepared on a machine with internet (Prepare an offline bundle… there), then press Deploy again.", widget.WarningImportance)
	return true
}
