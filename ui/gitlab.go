package ui

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/gitlab"
)

// GitLabView hands the administrator the GitLab-side configuration: the
// snippet in each form with Copy buttons, the model entries to create, the
// version notes, and an optional Apply through GitLab's API.
type GitLabView struct {
	Format  *widget.Select
	Snippet *widget.Entry // read-only, monospace
	CopyAll *widget.Button
	Values  *fyne.Container // one row per value with its own Copy button
	Models  *fyne.Container
	Notes   *widget.Label
	Apply   *widget.Button
	Applied *widget.Label
	Content fyne.CanvasObject

	u       *UI
	snippet *gitlab.Snippet
	text    string
}

func newGitLabView(u *UI) *GitLabView {
	v := &GitLabView{u: u}
	var names []string
	for _, f := range gitlab.Formats {
		names = append(names, string(f))
	}
	v.Format = widget.NewSelect(names, func(string) { v.load() })
	v.Format.PlaceHolder = "the form your GitLab version needs"
	v.Snippet = widget.NewMultiLineEntry()
	v.Snippet.TextStyle = fyne.TextStyle{Monospace: true}
	v.Snippet.Wrapping = fyne.TextWrapOff
	v.Snippet.SetMinRowsVisible(10)
	v.Snippet.SetPlaceHolder("The GitLab-side settings show here once the deployment config exists.")
	v.Snippet.OnChanged = func(string) {
		if v.Snippet.Text != v.text {
			v.Snippet.SetText(v.text) // read-only, but selectable
		}
	}
	v.CopyAll = u.copyButton("Copy snippet", func() string { return v.text })
	v.Values = container.NewVBox()
	v.Models = container.NewVBox()
	v.Notes = wrapped("")
	v.Apply = widget.NewButtonWithIcon("Apply in GitLab", theme.ConfirmIcon(), v.onApply)
	v.Applied = wrapped("Apply creates the model entries and settings through GitLab's API (needs an admin token: 'duobox gitlab connect').")
	if u.svc.ApplyGitLab == nil {
		v.Apply.Disable()
	}
	if u.svc.Snippet == nil {
		v.Content = unavailable("The GitLab snippet", "duobox env")
		return v
	}
	v.Content = scrolled(container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("Format"), v.CopyAll, v.Format),
		v.Snippet,
		heading("Values to set in GitLab"), v.Values,
		heading("Self-hosted models to add"), v.Models,
		heading("Notes for this GitLab version"), v.Notes,
		container.NewHBox(v.Apply), v.Applied,
	))
	return v
}

// load builds the snippet in the chosen format, in the background.
func (v *GitLabView) load() {
	if v.u.svc.Snippet == nil {
		return
	}
	if v.u.config() == nil {
		v.Notes.SetText("Nothing to hand to GitLab yet. Fix: write the deployment config first (Configure), or run 'duobox env --gitlab-version X.Y --host HOST'.")
		return
	}
	f := gitlab.Format(v.Format.Selected)
	v.u.bg.run(func(ctx context.Context) func() {
		s, notes, err := v.u.svc.Snippet(ctx, f)
		var buf bytes.Buffer
		if err == nil {
			err = s.Render(&buf)
		}
		return func() {
			if err != nil {
				v.text = ""
				v.Snippet.SetText("")
				v.Notes.SetText(problem(err))
				return
			}
			v.show(s, buf.String(), notes)
		}
	})
}

func (v *GitLabView) show(s *gitlab.Snippet, text string, notes []string) {
	v.snippet, v.text = s, text
	v.Snippet.SetText(text)
	if v.Format.Selected == "" {
		v.Format.PlaceHolder = string(s.Format) + " (what GitLab " + s.GitLabVersion + " needs)"
		v.Format.Refresh()
	}
	v.Values.RemoveAll()
	for _, e := range s.GitLabEnv {
		v.Values.Add(v.valueRow(e.Name, e.Value))
	}
	for _, st := range s.AdminSettings {
		v.Values.Add(v.valueRow(st.Field, st.Value))
	}
	v.Models.RemoveAll()
	if len(s.Models) == 0 {
		v.Models.Add(wrapped("None: the deployment config has no model yet."))
	}
	for _, m := range s.Models {
		v.Models.Add(widget.NewLabelWithStyle(m.DeploymentName+" ("+gitlab.FamilyLabel(m.Family)+")", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
		v.Models.Add(v.valueRow("Deployment name", m.DeploymentName))
		v.Models.Add(v.valueRow("Endpoint", m.Endpoint))
		v.Models.Add(v.valueRow("Model identifier", m.Identifier))
	}
	for _, a := range s.Assignments {
		v.Models.Add(wrapped(fmt.Sprintf("%s → %s (%s)", a.Label, a.DeploymentName, a.Level)))
	}
	all := append(append([]string{}, s.Notes...), notes...)
	v.Notes.SetText(strings.Join(all, "\n"))
}

// valueRow is a name, its value and a Copy button for the value.
func (v *GitLabView) valueRow(name, value string) fyne.CanvasObject {
	val := widget.NewLabelWithStyle(value, fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	val.Truncation = fyne.TextTruncateEllipsis
	n := widget.NewLabel(name)
	return container.NewBorder(nil, nil, n, v.u.copyButton("Copy", func() string { return value }), val)
}

func (v *GitLabView) onApply() {
	v.Apply.Disable()
	v.Applied.SetText("Applying through GitLab's API…")
	v.u.bg.run(func(ctx context.Context) func() {
		msg, err := v.u.svc.ApplyGitLab(ctx)
		return func() {
			v.Apply.Enable()
			if err != nil {
				v.Applied.SetText(problem(err))
				return
			}
			v.Applied.SetText("✓ " + msg)
		}
	})
}
