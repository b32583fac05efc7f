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

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/stack"
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
	// URL and Token connect DuoBox to GitLab (the token is stored 0600).
	URL        *widget.Entry
	Token      *widget.Entry
	Connect    *widget.Button
	Connection *widget.Label
	// ExportFormat and Export write compose, docker-run or Helm files.
	ExportFormat *widget.Select
	Export       *widget.Button
	Exported     *widget.Label
	Content      fyne.CanvasObject

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
	v.Applied = wrapped("Apply creates the model entries and settings through GitLab's API (GitLab 17.9 on; needs an administrator's token: connect first).")
	if u.svc.ApplyGitLab == nil {
		v.Apply.Disable()
	}
	v.URL = widget.NewEntry()
	v.URL.SetPlaceHolder("https://gitlab.example.com")
	v.Token = widget.NewPasswordEntry()
	v.Token.SetPlaceHolder("personal access token (scope api); kept in a 0600 file")
	v.Connect = widget.NewButtonWithIcon("Connect", theme.LoginIcon(), v.onConnect)
	v.Connection = wrapped("Connect reads GitLab's version and checks the token; the token is stored only when that works.")
	if u.svc.ConnectGitLab == nil {
		v.Connect.Disable()
	}
	v.ExportFormat = widget.NewSelect(stack.Formats, func(string) { v.Export.Enable() })
	v.ExportFormat.PlaceHolder = "compose, docker-run or helm"
	v.Export = widget.NewButtonWithIcon("Export…", theme.DocumentSaveIcon(), v.onExport)
	v.Export.Disable()
	v.Exported = wrapped("Export writes the same containers for another tool: compose and docker-run as one file you name, Helm as two files into a folder you choose; secrets stay in their 0600 files.")
	if u.svc.Snippet == nil {
		v.Content = unavailable("The GitLab snippet")
		return v
	}
	v.Content = scrolled(container.NewVBox(
		container.NewBorder(nil, nil, widget.NewLabel("Format"), v.CopyAll, v.Format),
		v.Snippet,
		heading("Values to set in GitLab"), v.Values,
		heading("Self-hosted models to add"), v.Models,
		heading("Notes for this GitLab version"), v.Notes,
		heading("Connect to GitLab"),
		widget.NewForm(widget.NewFormItem("GitLab URL", v.URL), widget.NewFormItem("GitLab token", v.Token)),
		container.NewHBox(v.Connect), v.Connection,
		container.NewHBox(v.Apply), v.Applied,
		heading("Export the deployment"),
		container.NewBorder(nil, nil, nil, v.Export, v.ExportFormat), v.Exported,
	))
	return v
}

// load builds the snippet in the chosen format, in the background.
func (v *GitLabView) load() {
	if v.u.svc.Snippet == nil {
		return
	}
	if v.u.config() == nil {
		say(v.Notes, app.SeverityNote, "Nothing to hand to GitLab yet. Fix: fill in Configure and press Save config.")
		return
	}
	if v.URL.Text == "" {
		v.URL.SetText(v.u.config().GitLab.URL)
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
				sayErr(v.Notes, err)
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
	for i := range all {
		all[i] = fixText(all[i])
	}
	say(v.Notes, app.SeverityNote, strings.Join(all, "\n"))
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
				sayErr(v.Applied, err)
				return
			}
			say(v.Applied, app.SeveritySuccess, "✓ "+msg)
		}
	})
}

func (v *GitLabView) onConnect() {
	url, token := strings.TrimSpace(v.URL.Text), v.Token.Text
	v.Connect.Disable()
	say(v.Connection, app.SeverityNote, "Reading GitLab's version and checking the token…")
	v.u.bg.run(func(ctx context.Context) func() {
		r, err := v.u.svc.ConnectGitLab(ctx, url, token)
		return func() {
			v.Connect.Enable()
			if err != nil {
				sayErr(v.Connection, err)
				return
			}
			v.Token.SetText("")
			v.u.setGitLabVersion(r.Instance.Parsed.String())
			if r.Admin {
				say(v.Connection, app.SeveritySuccess, fmt.Sprintf("✓ GitLab %s at %s — token of administrator %s: Apply can set it up.", r.Version, r.Connection.URL, r.User))
			} else {
				say(v.Connection, app.SeverityWarning, fmt.Sprintf("Connected to GitLab %s at %s, but Apply is not possible with this token: %s", r.Version, r.Connection.URL, fixText(r.AdminNote)))
			}
			v.load()
		}
	})
}

func (v *GitLabView) onExport() {
	format := v.ExportFormat.Selected
	if format == "" || v.u.svc.Export == nil {
		return
	}
	write := func(target string) {
		v.Export.Disable()
		v.u.bg.run(func(context.Context) func() {
			paths, err := v.u.svc.Export(format, target)
			return func() {
				v.Export.Enable()
				if err != nil {
					sayErr(v.Exported, err)
					return
				}
				say(v.Exported, app.SeveritySuccess, "✓ Wrote "+strings.Join(paths, ", "))
			}
		})
	}
	if name := stack.ExportFile(format); name != "" {
		v.u.pickSave("Save", name, write) // one file: a save dialog with its usual name
		return
	}
	v.u.chooseFolder("Export "+format+" into", write) // several files: a folder
}
