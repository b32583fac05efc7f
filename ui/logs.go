package ui

import (
	"context"
	"fmt"
	"github.com/duobox/duobox/app"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/stack"
)

// MaxLogLines is how many lines a log pane keeps (the oldest go first).
const MaxLogLines = 100_000

// LogsView is a tab per container, each with follow, regex search, level
// and stream filters, colour by level and export. Lines reach the list in
// batches: one fyne.Do per tick for all panes, never one per line.
type LogsView struct {
	Tabs  *container.AppTabs
	Panes map[string]*LogPane // by role; otherPane for the chosen container
	// Container chooses any container of the stack for the Other pane.
	Container *widget.Select
	Other     *LogPane
	Content   fyne.CanvasObject

	u       *UI
	started bool
	tick    time.Duration // poll period; 0: only PollOnce (tests)
}

// LogPane is one container's log.
type LogPane struct {
	Follow  *widget.Check
	Search  *widget.Entry
	Level   *widget.Select
	Stream  *widget.Select
	Export  *widget.Button
	Status  *widget.Label
	List    *widget.List
	Detail  *widget.Label // the selected line in full, wrapped
	Content fyne.CanvasObject

	role string
	u    *UI

	mu     sync.Mutex // guards the fields below (read by the poller)
	stream LogStream
	filter LogFilter
	after  uint64
	gen    int // bumps when the filter changes, so stale batches are dropped
	paused bool

	seqs     ring[uint64] // the shown lines' numbers, oldest first; UI goroutine only
	received atomic.Int64 // matching lines given to the pane since it opened or its filter changed, kept or not
}

func newLogsView(u *UI) *LogsView {
	v := &LogsView{u: u, Panes: map[string]*LogPane{}, tick: 250 * time.Millisecond}
	if u.svc.FollowLogs == nil {
		v.Content = unavailable("The log viewer")
		return v
	}
	v.Tabs = container.NewAppTabs()
	for _, role := range []string{stack.RoleModel, stack.RoleGateway} {
		p := newLogPane(u, role)
		v.Panes[role] = p
		title := "Model server"
		if role == stack.RoleGateway {
			title = "AI Gateway"
		}
		v.Tabs.Append(container.NewTabItem(title, p.Content))
	}
	// Any other container of the stack (e.g. the one an upgrade kept), chosen here.
	v.Other = newLogPane(u, "")
	v.Other.Status.SetText("Choose a container of this stack above.")
	v.Panes[otherPane] = v.Other
	v.Container = widget.NewSelect(nil, func(name string) { v.Other.retarget(name) })
	v.Container.PlaceHolder = "choose a container of this stack"
	v.Tabs.Append(container.NewTabItem("Other container", container.NewBorder(
		container.NewBorder(nil, nil, widget.NewLabel("Container"), nil, v.Container), nil, nil, nil, v.Other.Content)))
	v.Content = v.Tabs
	return v
}

var logLevels = []string{"all levels", "debug", "info", "warning", "error", "critical"}
var logStreams = []string{"any stream", "stdout", "stderr"}

func newLogPane(u *UI, role string) *LogPane {
	p := &LogPane{u: u, role: role}
	p.Follow = widget.NewCheck("Follow", p.onFollow)
	p.Follow.Checked = u.prefs.LogsFollow()
	p.paused = !p.Follow.Checked
	p.Search = widget.NewEntry()
	p.Search.SetPlaceHolder("Search (Ctrl+F; a regular expression), e.g. KV cache|CUDA")
	p.Search.OnChanged = func(string) { p.onFilter() }
	p.Level = widget.NewSelect(logLevels, func(string) { p.onFilter() })
	p.Level.Selected = logLevels[0]
	p.Stream = widget.NewSelect(logStreams, func(string) { p.onFilter() })
	p.Stream.Selected = logStreams[0]
	p.Export = widget.NewButtonWithIcon("Export", theme.DocumentSaveIcon(), p.onExport)
	p.Status = wrapped("Open this tab to follow the log.")
	p.List = widget.NewList(p.seqs.len, newLogRow, p.updateRow)
	p.Detail = wrapped("Click a line to read it in full.")
	p.Detail.TextStyle = fyne.TextStyle{Monospace: true}
	p.List.OnSelected = func(id widget.ListItemID) {
		if line, ok := p.line(id); ok {
			p.Detail.SetText(lineText(line))
		}
	}
	bar := container.NewBorder(nil, nil, p.Follow, container.NewHBox(p.Level, p.Stream, p.Export), p.Search)
	p.Content = container.NewBorder(container.NewVBox(bar, p.Status), p.Detail, nil, nil, p.List)
	return p
}

func newLogRow() fyne.CanvasObject {
	l := widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
	l.Truncation = fyne.TextTruncateEllipsis
	return l
}

func (p *LogPane) updateRow(id widget.ListItemID, o fyne.CanvasObject) {
	l := o.(*widget.Label)
	line, ok := p.line(id)
	if !ok {
		line = LogLine{Text: "(this line is no longer held in memory)"}
	}
	l.Text = lineText(line)
	l.Importance = levelImportance(line)
	l.Refresh()
}

func lineText(l LogLine) string {
	var b strings.Builder
	if !l.Time.IsZero() {
		b.WriteString(l.Time.Local().Format("15:04:05.000 "))
	}
	if l.Stream == "stderr" {
		b.WriteString("err ")
	}
	if lv := strings.ToUpper(l.Level); lv != "" && lv != "UNKNOWN" && !strings.Contains(l.Text, lv) {
		b.WriteString(lv)
		b.WriteByte(' ')
	}
	b.WriteString(l.Text)
	if l.Summary != "" {
		b.WriteString("  ⟶ " + l.Summary)
		if l.Fix != "" {
			b.WriteString(" Fix: " + l.Fix)
		}
	}
	return b.String()
}

func levelImportance(l LogLine) widget.Importance {
	switch {
	case l.Level == "error" || l.Level == "critical" || l.Fix != "":
		return widget.DangerImportance
	case l.Summary != "":
		return widget.SuccessImportance
	case l.Level == "warning":
		return widget.WarningImportance
	case l.Level == "debug":
		return widget.LowImportance
	}
	return widget.MediumImportance
}

// ensureFollowing opens the streams and starts the poller once.
func (v *LogsView) ensureFollowing() {
	if v.started || v.u.svc.FollowLogs == nil {
		return
	}
	if v.u.config() == nil {
		for _, p := range v.Panes {
			say(p.Status, app.SeverityNote, "Nothing deployed yet. Fix: press Deploy; the logs show here then.")
		}
		return
	}
	v.started = true
	for _, p := range v.Panes {
		if p.role != "" {
			p.open()
		}
	}
	v.listContainers()
	if v.tick > 0 {
		go v.poll()
	}
}

// Pane is the log pane shown now.
func (v *LogsView) Pane() *LogPane {
	if v.Tabs == nil {
		return nil
	}
	switch v.Tabs.SelectedIndex() {
	case 0:
		return v.Panes[stack.RoleModel]
	case 1:
		return v.Panes[stack.RoleGateway]
	}
	return v.Other
}

// PollOnce fetches and shows new lines now; call it on the UI goroutine.
func (v *LogsView) PollOnce() {
	for _, p := range v.Panes {
		if f := p.fetch(); f != nil {
			f()
		}
	}
}

func (p *LogPane) open() {
	p.Status.SetText("Connecting…")
	role := p.role
	p.u.bg.run(func(ctx context.Context) func() {
		s, err := p.u.svc.FollowLogs(ctx, role)
		return func() {
			if err != nil {
				sayErr(p.Status, err)
				return
			}
			p.mu.Lock()
			p.stream = s
			p.mu.Unlock()
			p.Status.SetText("Following.")
			p.fetchNow()
		}
	})
}

// poll fetches new lines for every pane each tick until the window closes.
func (v *LogsView) poll() {
	t := time.NewTicker(v.tick)
	defer t.Stop()
	for {
		select {
		case <-v.u.bg.ctx.Done():
			for _, p := range v.Panes {
				p.close()
			}
			return
		case <-t.C:
		}
		var apply []func()
		for _, p := range v.Panes {
			if f := p.fetch(); f != nil {
				apply = append(apply, f)
			}
		}
		if len(apply) > 0 {
			v.u.bg.do(func() {
				for _, f := range apply {
					f()
				}
			})
		}
	}
}

func (p *LogPane) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stream != nil {
		p.stream.Close()
		p.stream = nil
	}
}

// fetch reads the new matching lines (off the UI goroutine) and returns
// the UI update that shows them, or nil when there is nothing to do.
func (p *LogPane) fetch() func() {
	p.mu.Lock()
	s, f, after, gen, paused := p.stream, p.filter, p.after, p.gen, p.paused
	p.mu.Unlock()
	if s == nil || paused {
		return nil
	}
	lines, err := s.Lines(f, after)
	if err == nil && len(lines) == 0 {
		return nil
	}
	if err == nil {
		p.mu.Lock()
		if gen != p.gen || p.after != after {
			p.mu.Unlock()
			return nil // another fetch got these lines first, or the filter changed
		}
		p.after = lines[len(lines)-1].Seq
		p.mu.Unlock()
	}
	return func() { p.show(gen, lines, err) }
}

// fetchNow fetches on the UI goroutine's behalf (after a filter change).
func (p *LogPane) fetchNow() {
	p.u.bg.run(func(context.Context) func() { return p.fetch() })
}

// show appends a batch; UI goroutine only.
func (p *LogPane) show(gen int, lines []LogLine, err error) {
	p.mu.Lock()
	stale := gen != p.gen
	p.mu.Unlock()
	if stale {
		return
	}
	if err != nil {
		sayErr(p.Status, err)
		return
	}
	received := p.received.Add(int64(len(lines)))
	for _, l := range lines {
		p.seqs.push(l.Seq)
	}
	p.Status.Importance = widget.MediumImportance
	if shown := p.seqs.len(); int(received) > shown {
		p.Status.SetText(fmt.Sprintf("%d lines received; the newest %d are shown.", received, shown))
	} else {
		p.Status.SetText(fmt.Sprintf("%d lines shown.", shown))
	}
	p.List.Refresh()
	if p.Follow.Checked {
		p.List.ScrollToBottom()
	}
}

// Filter is the pane's current filter.
func (p *LogPane) Filter() LogFilter {
	f := LogFilter{Pattern: p.Search.Text}
	if p.Level.Selected != logLevels[0] {
		f.Level = p.Level.Selected
	}
	if p.Stream.Selected != logStreams[0] {
		f.Stream = p.Stream.Selected
	}
	return f
}

// Lines is what the pane shows (for tests and export).
func (p *LogPane) Lines() []LogLine {
	out := make([]LogLine, 0, p.seqs.len())
	for i := range p.seqs.len() {
		if l, ok := p.line(i); ok {
			out = append(out, l)
		}
	}
	return out
}

// line is the pane's row id, read from the stream; UI goroutine only.
func (p *LogPane) line(id int) (LogLine, bool) {
	if id < 0 || id >= p.seqs.len() {
		return LogLine{}, false
	}
	p.mu.Lock()
	s := p.stream
	p.mu.Unlock()
	if s == nil {
		return LogLine{}, false
	}
	return s.Line(p.seqs.at(id))
}

// Received counts the matching lines the pane has been given since it
// opened or its filter changed, including those trimmed since; safe from
// any goroutine.
func (p *LogPane) Received() int64 { return p.received.Load() }

func (p *LogPane) onFilter() {
	if p.Level == nil || p.Stream == nil || p.List == nil {
		return // still being built
	}
	p.mu.Lock()
	p.filter = p.Filter()
	p.after = 0
	p.gen++
	p.mu.Unlock()
	p.seqs.reset()
	p.received.Store(0)
	p.List.Refresh()
	p.fetchNow()
}

func (p *LogPane) onFollow(on bool) {
	p.u.prefs.SetLogsFollow(on)
	p.mu.Lock()
	p.paused = !on
	p.mu.Unlock()
	if on {
		p.fetchNow()
	}
}

func (p *LogPane) onExport() {
	p.mu.Lock()
	s, f := p.stream, p.filter
	p.mu.Unlock()
	if s == nil {
		p.Status.SetText("Nothing to export yet: the log is not open.")
		return
	}
	dir := p.u.svc.ExportDir
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("duobox-%s-%s.log", p.role, time.Now().Format("20060102-150405")))
	p.u.bg.run(func(context.Context) func() {
		err := s.Export(path, f)
		return func() {
			if err != nil {
				sayErr(p.Status, err)
				return
			}
			p.Status.SetText("Exported the shown lines to " + path)
		}
	})
}

// ring holds the newest MaxLogLines values. Pushing to a full ring
// overwrites the oldest in place, so following a busy log costs the same per
// line whether the pane is full or not.
type ring[T any] struct {
	buf   []T // grows to MaxLogLines, then wraps
	start int // index of the oldest value once the ring is full
}

func (r *ring[T]) len() int { return len(r.buf) }

// at is the i-th oldest value.
func (r *ring[T]) at(i int) T { return r.buf[(r.start+i)%len(r.buf)] }

func (r *ring[T]) push(v T) {
	if len(r.buf) < MaxLogLines {
		r.buf = append(r.buf, v)
		return
	}
	r.buf[r.start] = v
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring[T]) reset() { *r = ring[T]{} }

// otherPane keys the pane that follows a container chosen by name.
const otherPane = "other"

// listContainers fills the container choice with the stack's containers.
func (v *LogsView) listContainers() {
	if v.u.svc.LogContainers == nil {
		v.Container.Disable()
		return
	}
	v.u.bg.run(func(ctx context.Context) func() {
		names, err := v.u.svc.LogContainers(ctx)
		return func() {
			if err != nil {
				sayErr(v.Other.Status, err)
				return
			}
			v.Container.Options = names
			v.Container.Refresh()
		}
	})
}

// retarget follows another container in this pane; UI goroutine only.
func (p *LogPane) retarget(name string) {
	if name == "" || name == p.role {
		return
	}
	p.close()
	p.mu.Lock()
	p.role = name
	p.after = 0
	p.gen++
	p.mu.Unlock()
	p.seqs.reset()
	p.received.Store(0)
	p.List.Refresh()
	p.open()
}
