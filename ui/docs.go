package ui

import (
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/docsindex"
)

// DocsView builds the AI Gateway's documentation index (docs.db) natively
// and previews what Duo Chat's documentation search would find in it. It is
// a section of the Settings screen.
type DocsView struct {
	u        *UI
	From     *widget.Entry
	Version  *widget.Entry
	Output   *widget.Entry
	Force    *widget.Check
	Build    *widget.Button
	Progress *widget.ProgressBar
	State    *widget.Label
	Query    *widget.Entry
	Search   *widget.Button
	Results  *widget.Label
	Section  fyne.CanvasObject
}

func newDocsView(u *UI) *DocsView {
	v := &DocsView{u: u,
		From: widget.NewEntry(), Version: widget.NewEntry(), Output: widget.NewEntry(),
		Force: widget.NewCheck("Replace an existing index", nil), Progress: widget.NewProgressBar(),
		State:   wrapped("Gateways for GitLab 17.1–17.3 need this index mounted; later gateway images carry one built in, which yours replaces when the config's docs_index names it."),
		Query:   widget.NewEntry(),
		Results: wrapped("Build or pick an index, then search it the way the gateway does."),
	}
	v.From.SetPlaceHolder("a GitLab checkout, its doc/ folder, or a .zip/.tar.gz/.tar.bz2 of it")
	v.Version.SetPlaceHolder("or a GitLab version to download, e.g. v17.3.1-ee")
	v.Output.SetPlaceHolder("index file (empty: build writes docs.db in DuoBox's data folder; search reads the config's docs_index, else that file)")
	v.Query.SetPlaceHolder("a question about GitLab, e.g. how do I rotate a runner token")
	v.Progress.Hide()
	v.Build = widget.NewButtonWithIcon("Build index", theme.DocumentSaveIcon(), v.onBuild)
	v.Search = widget.NewButtonWithIcon("Search", theme.SearchIcon(), v.onSearch)
	v.Query.OnSubmitted = func(string) { v.onSearch() }
	if u.svc.BuildDocsIndex == nil {
		v.Build.Disable()
		v.State = unavailable("Building the docs index")
	}
	if u.svc.SearchDocs == nil {
		v.Search.Disable()
		v.Results = unavailable("Searching the docs index")
	}
	form := widget.NewForm(
		widget.NewFormItem("From", v.From),
		widget.NewFormItem("Version", v.Version),
		widget.NewFormItem("Output", v.Output),
	)
	v.Section = container.NewVBox(
		heading("Documentation index for Duo Chat"),
		form, v.Force, container.NewHBox(v.Build), v.Progress, v.State,
		heading("Search preview"),
		container.NewBorder(nil, nil, nil, v.Search, v.Query), v.Results,
	)
	return v
}

// onBuild reads the form and builds the index in the background.
func (v *DocsView) onBuild() {
	req := docsindex.Request{From: strings.TrimSpace(v.From.Text), Tag: strings.TrimSpace(v.Version.Text),
		Output: strings.TrimSpace(v.Output.Text), Force: v.Force.Checked}
	if req.From == "" && req.Tag == "" {
		v.State.SetText("Problem: give a folder or archive to read, or a GitLab version to download.\nFix: fill in From or Version.")
		return
	}
	v.Build.Disable()
	v.Progress.SetValue(0)
	v.Progress.Show()
	v.State.SetText("Building…")
	req.DownloadProgress = func(_ string, done, total int64) {
		if total > 0 {
			v.u.bg.do(func() { v.Progress.SetValue(float64(done) / float64(total) / 2) })
		}
	}
	req.IndexProgress = func(done, total int) {
		if total > 0 {
			v.u.bg.do(func() { v.Progress.SetValue(0.5 + float64(done)/float64(total)/2) })
		}
	}
	if req.Tag == "" { // nothing to download: the index is the whole bar
		req.IndexProgress = func(done, total int) {
			if total > 0 {
				v.u.bg.do(func() { v.Progress.SetValue(float64(done) / float64(total)) })
			}
		}
	}
	v.u.bg.run(func(ctx context.Context) func() {
		res, err := v.u.svc.BuildDocsIndex(ctx, req)
		return func() {
			v.Build.Enable()
			if err != nil {
				v.Progress.Hide()
				sayErr(v.State, err)
				return
			}
			v.Progress.SetValue(1)
			v.Output.SetText(res.Path)
			msg := fmt.Sprintf("✓ Wrote %s: %d pages, %.1f MiB, from %s.", res.Path, res.Rows, float64(res.SizeBytes)/(1<<20), res.Source)
			if res.GitLabVersion != "" {
				msg += " GitLab docs version " + res.GitLabVersion + "."
			}
			v.State.SetText(msg + "\nTo use it, set docs_index: " + res.Path + " in the deployment config (Settings shows the file), then Deploy.")
		}
	})
}

// onSearch runs the gateway's own query on the index named in Output.
func (v *DocsView) onSearch() {
	q := strings.TrimSpace(v.Query.Text)
	if q == "" || v.u.svc.SearchDocs == nil {
		return
	}
	index := strings.TrimSpace(v.Output.Text)
	v.Search.Disable()
	v.u.bg.run(func(ctx context.Context) func() {
		hits, err := v.u.svc.SearchDocs(ctx, index, q, 10)
		return func() {
			v.Search.Enable()
			switch {
			case err != nil:
				sayErr(v.Results, err)
			case len(hits) == 0:
				v.Results.SetText("Nothing found for “" + q + "”: Duo Chat would answer without documentation.")
			default:
				var lines []string
				for i, h := range hits {
					mark := "passed to the model"
					if !h.InContext {
						mark = "beyond the gateway's context budget"
					}
					title := h.Title
					if title == "" {
						title = h.Filename
					}
					lines = append(lines, fmt.Sprintf("%d. %s — %s (%d tokens, %s)", i+1, title, h.Filename, h.Tokens, mark))
				}
				v.Results.SetText(strings.Join(lines, "\n"))
			}
		}
	})
}
