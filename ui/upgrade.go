package ui

import (
	"context"
	"fmt"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/stack"
)

// UpgradeView shows the running and available gateway versions, upgrades
// with progress, shows the automatic rollback as it happens, offers
// Rollback, and lists the history.
type UpgradeView struct {
	Current   *widget.Label
	Available *widget.Select
	Upgrade   *widget.Button
	Rollback  *widget.Button
	Progress  *widget.ProgressBar
	Steps     *widget.Label
	History   *fyne.Container
	// Role chooses the container: the AI Gateway or the model server.
	Role *widget.RadioGroup
	// TagsFile and Archive choose an offline source (a file dialog each);
	// Online goes back to the registry.
	TagsFile *widget.Button
	Archive  *widget.Button
	Online   *widget.Button
	Source   *widget.Label
	Content  fyne.CanvasObject

	query UpgradeQuery

	u  *UI
	mu sync.Mutex
	// steps collected from the service's goroutine, shown per tick.
	log  []string
	pull float64
}

func newUpgradeView(u *UI) *UpgradeView {
	v := &UpgradeView{u: u}
	v.Current = wrapped("Current version: not checked yet.")
	v.Available = widget.NewSelect(nil, nil)
	v.Available.PlaceHolder = "(no newer version)"
	v.Upgrade = widget.NewButtonWithIcon("Upgrade", theme.UploadIcon(), v.onUpgrade)
	v.Upgrade.Importance = widget.HighImportance
	v.Upgrade.Disable()
	v.Rollback = widget.NewButtonWithIcon("Roll back", theme.ContentUndoIcon(), v.onRollback)
	v.Progress = widget.NewProgressBar()
	v.Progress.Hide()
	v.Steps = wrapped("")
	v.History = container.NewVBox()
	v.query.Role = stack.RoleGateway
	v.Role = widget.NewRadioGroup([]string{roleGatewayLabel, roleModelLabel}, func(s string) {
		v.query.Role = stack.RoleGateway
		if s == roleModelLabel {
			v.query.Role = stack.RoleModel
		}
		v.check()
	})
	v.Role.Horizontal = true
	v.Role.Selected = roleGatewayLabel
	v.TagsFile = widget.NewButtonWithIcon("Tags file…", theme.FileTextIcon(), func() {
		v.u.chooseFile("Use these tags", func(path string) {
			v.query.TagsFile, v.query.Archive = path, ""
			v.check()
		})
	})
	v.Archive = widget.NewButtonWithIcon("Image archive…", theme.FolderOpenIcon(), func() {
		v.u.chooseFile("Upgrade from this archive", func(path string) {
			v.query.Archive, v.query.TagsFile = path, ""
			v.check()
		})
	})
	v.Online = widget.NewButtonWithIcon("Registry", theme.ViewRefreshIcon(), func() {
		v.query.Archive, v.query.TagsFile = "", ""
		v.check()
	})
	v.Source = wrapped("")
	v.showSource()
	if u.svc.UpgradeCheck == nil || u.svc.Upgrade == nil {
		v.Rollback.Disable()
		v.Content = container.NewVBox(unavailable("Upgrading from the window"))
		return v
	}
	if u.svc.Rollback == nil {
		v.Rollback.Disable()
	}
	v.Content = scrolled(container.NewVBox(
		container.NewHBox(widget.NewLabel("Container"), v.Role),
		container.NewHBox(widget.NewLabel("Versions from"), v.Online, v.TagsFile, v.Archive), v.Source,
		v.Current,
		container.NewBorder(nil, nil, widget.NewLabel("Upgrade to"), container.NewHBox(v.Upgrade, v.Rollback), v.Available),
		wrapped("An upgrade pulls the new image (or loads it from the archive), swaps the container and waits until it is healthy; when it is not, DuoBox rolls back to the previous image by itself and says why."),
		v.Progress, v.Steps,
		heading("History"), v.History,
	))
	return v
}

// check reads the versions and the history in the background.
func (v *UpgradeView) check() {
	if v.u.svc.UpgradeCheck == nil {
		return
	}
	if v.u.config() == nil {
		v.Current.SetText("Nothing deployed yet. Fix: deploy first (This machine → … → Deploy); upgrades show here then.")
		v.Upgrade.Disable()
		v.Rollback.Disable()
		return
	}
	q := v.query
	v.showSource()
	v.u.bg.run(func(ctx context.Context) func() {
		info, err := v.u.svc.UpgradeCheck(ctx, q)
		var hist []UpgradeRecord
		var herr error
		if v.u.svc.UpgradeHistory != nil {
			hist, herr = v.u.svc.UpgradeHistory(ctx)
		}
		return func() {
			if err != nil {
				sayErr(v.Current, err)
				v.Available.Options = nil
				v.Available.ClearSelected()
				v.Available.PlaceHolder = "(the list could not be read)"
				v.Available.Refresh()
				v.Upgrade.Disable()
			} else {
				v.showInfo(info)
			}
			v.showHistory(hist, herr)
		}
	})
}

func (v *UpgradeView) showInfo(info UpgradeInfo) {
	text := "Current version: " + info.Current
	if len(info.Available) == 0 {
		text += " — the newest for this GitLab version."
	} else {
		text += fmt.Sprintf(" — %d newer available.", len(info.Available))
	}
	for _, n := range info.Notes {
		text += "\n" + n
	}
	say(v.Current, app.SeverityNote, text)
	v.Available.PlaceHolder = "(no newer version)"
	v.Available.Options = info.Available
	if len(info.Available) > 0 {
		v.Available.SetSelected(info.Available[0])
		v.Upgrade.Enable()
	} else {
		v.Available.ClearSelected()
		v.Upgrade.Disable()
	}
	if v.query.Archive != "" { // the archive's own tag is the target
		v.Upgrade.Enable()
	}
	v.Available.Refresh()
}

func (v *UpgradeView) showHistory(hist []UpgradeRecord, err error) {
	v.History.RemoveAll()
	if err != nil {
		v.History.Add(wrapped(problem(err)))
		return
	}
	if len(hist) == 0 {
		v.History.Add(wrapped("No upgrades yet. After the first one, Roll back returns to the version it replaced."))
	}
	v.Rollback.Disable()
	for _, h := range hist {
		if h.Outcome == "upgraded" && v.u.svc.Rollback != nil {
			v.Rollback.Enable()
		}
		l := wrapped(fmt.Sprintf("%s  %s → %s  %s  %s", h.Time.Local().Format("2006-01-02 15:04"), h.From, h.To, h.Outcome, h.Reason))
		if h.Outcome != "upgraded" {
			l.Importance = widget.WarningImportance
		}
		v.History.Add(l)
	}
}

func (v *UpgradeView) onUpgrade() {
	target := v.Available.Selected
	q := v.query
	if target == "" && q.Archive == "" {
		return
	}
	v.runStepped("Upgrading to "+target+"…", func(ctx context.Context, on func(UpgradeStep)) error {
		return v.u.svc.Upgrade(ctx, q, target, on)
	})
}

func (v *UpgradeView) onRollback() {
	v.runStepped("Rolling back to the previous image…", func(ctx context.Context, on func(UpgradeStep)) error {
		return v.u.svc.Rollback(ctx, v.query.Role, on)
	})
}

// runStepped runs an upgrade or rollback, showing its steps as they come.
func (v *UpgradeView) runStepped(start string, work func(context.Context, func(UpgradeStep)) error) {
	v.Upgrade.Disable()
	v.Rollback.Disable()
	v.Progress.SetValue(0)
	v.Progress.Show()
	v.mu.Lock()
	v.log, v.pull = []string{start}, 0
	v.mu.Unlock()
	v.Steps.SetText(start)
	v.u.bg.run(func(ctx context.Context) func() {
		var last time.Time // pull progress reaches the widgets at most every refreshEvery
		err := work(ctx, func(s UpgradeStep) {
			v.mu.Lock()
			if s.Pull != nil && s.Pull.Total > 0 {
				v.pull = float64(s.Pull.Done) / float64(s.Pull.Total)
			}
			if s.Message != "" {
				msg := "✓ " + s.Message
				if s.RollingBack {
					msg = "↩ " + s.Message
				}
				v.log = append(v.log, msg)
			}
			v.mu.Unlock()
			if s.Message != "" || time.Since(last) >= refreshEvery {
				last = time.Now()
				v.u.bg.do(v.render)
			}
		})
		return func() {
			v.render()
			v.Progress.Hide()
			if err != nil {
				say(v.Steps, app.SeverityOf(err), v.Steps.Text+"\n"+problem(err))
			}
			v.check()
		}
	})
}

// render shows the collected steps; UI goroutine only.
func (v *UpgradeView) render() {
	v.mu.Lock()
	defer v.mu.Unlock()
	text := ""
	for i, l := range v.log {
		if i > 0 {
			text += "\n"
		}
		text += l
	}
	v.Steps.SetText(text)
	v.Progress.SetValue(v.pull)
}

const (
	roleGatewayLabel = "AI Gateway"
	roleModelLabel   = "Model server"
)

// showSource says where the versions come from.
func (v *UpgradeView) showSource() {
	switch {
	case v.query.Archive != "":
		v.Source.SetText("Offline: the image in " + v.query.Archive)
		if v.u.svc.Upgrade != nil {
			v.Upgrade.Enable()
		}
	case v.query.TagsFile != "":
		v.Source.SetText("Offline: the tags listed in " + v.query.TagsFile)
	default:
		v.Source.SetText("The image's registry.")
	}
}
