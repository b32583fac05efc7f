package ui

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/stack"
)

// fakeEngineLogStream stands in for a followed container log (runtime/logs
// over the engine): it holds lines and filters them as the real one does.
type fakeEngineLogStream struct {
	mu     sync.Mutex
	lines  []LogLine
	closed bool
}

var levelRank = map[string]int{"": 2, "debug": 1, "info": 2, "warning": 3, "error": 4, "critical": 5}

func (s *fakeEngineLogStream) add(n int, level, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		seq := uint64(len(s.lines) + 1)
		s.lines = append(s.lines, LogLine{Seq: seq, Time: time.Unix(1_800_000_000+int64(seq), 0), Stream: "stdout", Level: level, Text: fmt.Sprintf("%s %d", text, seq)})
	}
}

func (s *fakeEngineLogStream) Lines(f LogFilter, after uint64) ([]LogLine, error) {
	re, err := regexp.Compile(f.Pattern)
	if err != nil {
		return nil, fmt.Errorf("search %q is not a regular expression: %w", f.Pattern, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogLine
	for _, l := range s.lines {
		if l.Seq > after && re.MatchString(l.Text) && levelRank[l.Level] >= levelRank[f.Level] && (f.Stream == "" || f.Stream == l.Stream) {
			out = append(out, l)
		}
	}
	return out, nil
}

func (s *fakeEngineLogStream) Line(seq uint64) (LogLine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq == 0 || seq > uint64(len(s.lines)) || seq+MaxLogLines <= uint64(len(s.lines)) {
		return LogLine{}, false // the real stream holds the newest MaxLogLines
	}
	return s.lines[seq-1], true
}

func (s *fakeEngineLogStream) Export(path string, f LogFilter) error {
	lines, err := s.Lines(f, 0)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func (s *fakeEngineLogStream) Close() { s.mu.Lock(); s.closed = true; s.mu.Unlock() }

func TestLogs_FakeEngine_100kLinesSearchFilterFollowExport(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	streams := map[string]*fakeEngineLogStream{stack.RoleModel: {}, stack.RoleGateway: {}}
	streams[stack.RoleModel].add(99_990, "info", "INFO loading weights")
	streams[stack.RoleModel].add(10, "error", "CUDA out of memory")
	b.svc.FollowLogs = func(_ context.Context, role string) (LogStream, error) { return streams[role], nil }
	u := b.open()
	u.Logs.tick = 0 // the test polls by hand: PollOnce is one tick
	selectTab(u, TabLogs)
	p := u.Logs.Panes[stack.RoleModel]

	if n := len(p.Lines()); n != 100_000 || p.List.Length() != 100_000 {
		t.Fatalf("%d lines, list %d; want 100000", n, p.List.Length())
	}
	streams[stack.RoleModel].add(5, "warning", "KV cache is low")
	u.Logs.PollOnce()
	if n := len(p.Lines()); n != MaxLogLines {
		t.Errorf("after 5 more lines: %d held, want the cap %d", n, MaxLogLines)
	}
	if last := p.Lines()[len(p.Lines())-1]; last.Seq != 100_005 {
		t.Errorf("newest line %d", last.Seq)
	}
	if got := p.Received(); got != 100_005 {
		t.Errorf("received %d, want 100005 (every line given to the pane, trimmed or not)", got)
	}
	if !strings.Contains(p.Status.Text, "100005 lines received; the newest 100000 are shown") {
		t.Errorf("status after trimming: %q", p.Status.Text)
	}

	test.Type(p.Search, "CUDA|KV")
	u.Wait()
	if n := len(p.Lines()); n != 15 {
		t.Errorf("search kept %d lines, want 15", n)
	}
	p.Level.SetSelected("error")
	u.Wait()
	if n := len(p.Lines()); n != 10 {
		t.Errorf("level error kept %d lines, want 10", n)
	}
	row := newLogRow()
	p.updateRow(0, row)
	if l := row.(*widget.Label); l.Importance != widget.DangerImportance || !strings.Contains(l.Text, "ERROR CUDA out of memory") {
		t.Errorf("error row %q (%v)", l.Text, l.Importance)
	}

	test.Tap(p.Follow) // off: new lines wait
	streams[stack.RoleModel].add(3, "error", "CUDA again")
	u.Logs.PollOnce()
	if n := len(p.Lines()); n != 10 {
		t.Errorf("paused view grew to %d", n)
	}
	test.Tap(p.Follow)
	u.Wait()
	if n := len(p.Lines()); n != 13 {
		t.Errorf("resumed view has %d, want 13", n)
	}

	test.Tap(p.Export)
	u.Wait()
	path := strings.TrimPrefix(p.Status.Text, "Exported the shown lines to ")
	body, err := os.ReadFile(path)
	if err != nil || strings.Count(string(body), "\n") != 13 {
		t.Errorf("export %q: %v, %d lines", path, err, strings.Count(string(body), "\n"))
	}

	p.Search.SetText("(")
	u.Wait()
	if !strings.Contains(p.Status.Text, "not a regular expression") {
		t.Errorf("bad pattern: %q", p.Status.Text)
	}
	u.Stop()
}

func TestLogs_beforeDeployTellsWhatToDo(t *testing.T) {
	b := newBed(t)
	b.svc.FollowLogs = func(context.Context, string) (LogStream, error) { return &fakeEngineLogStream{}, nil }
	u := b.open()
	selectTab(u, TabLogs)
	if got := u.Logs.Panes[stack.RoleGateway].Status.Text; !strings.Contains(got, "Fix: press Deploy") || strings.Contains(got, "duobox ") {
		t.Errorf("status %q", got)
	}
}

func TestLogRing_KeepsTheNewestInOrder(t *testing.T) {
	var r ring[uint64]
	next := uint64(1)
	for _, n := range []int{7, MaxLogLines - 10, 25, 3 * MaxLogLines / 2, 1, MaxLogLines / 3} {
		for range n {
			r.push(next)
			next++
		}
		want := min(int(next-1), MaxLogLines)
		if r.len() != want {
			t.Fatalf("after %d values: %d held, want %d", next-1, r.len(), want)
		}
		for i := range want {
			if got := r.at(i); got != next-uint64(want)+uint64(i) {
				t.Fatalf("after %d values: value %d is %d, want %d", next-1, i, got, next-uint64(want)+uint64(i))
			}
		}
	}
	r.reset()
	if r.len() != 0 {
		t.Fatal("reset ring still holds values")
	}
}

// Any container of the stack (e.g. the one an upgrade kept) is chosen in the window.
func TestLogs_chooseAnotherContainer(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	var followed []string
	kept := &fakeEngineLogStream{}
	kept.add(3, "info", "old gateway line")
	b.svc.FollowLogs = func(_ context.Context, which string) (LogStream, error) {
		followed = append(followed, which)
		if which == "duobox-gateway-rollback" {
			return kept, nil
		}
		return &fakeEngineLogStream{}, nil
	}
	b.svc.LogContainers = func(context.Context) ([]string, error) {
		return []string{"duobox-gateway", "duobox-gateway-rollback", "duobox-model"}, nil
	}
	u := b.open()
	selectTab(u, TabLogs)
	u.Wait()
	v := u.Logs
	if len(v.Container.Options) != 3 {
		t.Fatalf("options %v", v.Container.Options)
	}
	v.Container.SetSelected("duobox-gateway-rollback")
	u.Wait()
	v.PollOnce()
	if followed[len(followed)-1] != "duobox-gateway-rollback" || len(v.Other.Lines()) != 3 {
		t.Fatalf("followed %v, %d lines", followed, len(v.Other.Lines()))
	}
}

// Ctrl+F, from any screen, shows the Logs screen with the cursor in the
// shown pane's search field; the field's placeholder says so.
func TestLogs_ctrlFFocusesTheShownPanesSearch(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.FollowLogs = func(context.Context, string) (LogStream, error) {
		return nil, fmt.Errorf("no container engine in this test")
	}
	u := b.open()
	selectTab(u, TabGitLab)
	ctrlF := &desktop.CustomShortcut{KeyName: fyne.KeyF, Modifier: fyne.KeyModifierShortcutDefault}
	c := u.window.Canvas()
	c.(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(ctrlF)
	if got := u.Tabs.Selected().Text; got != TabLogs {
		t.Fatalf("Ctrl+F showed %q", got)
	}
	if c.Focused() != u.Logs.Panes[stack.RoleModel].Search {
		t.Fatalf("focused %T, want the model server pane's search", c.Focused())
	}
	u.Logs.Tabs.SelectIndex(1)
	c.(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(ctrlF)
	if c.Focused() != u.Logs.Panes[stack.RoleGateway].Search {
		t.Fatalf("focused %T, want the gateway pane's search", c.Focused())
	}
	test.Type(u.Logs.Panes[stack.RoleGateway].Search, "CUDA")
	if got := u.Logs.Panes[stack.RoleGateway].Search.Text; got != "CUDA" {
		t.Errorf("typed into the search: %q", got)
	}
	if !strings.Contains(u.Logs.Panes[stack.RoleGateway].Search.PlaceHolder, "Ctrl+F") {
		t.Errorf("placeholder %q", u.Logs.Panes[stack.RoleGateway].Search.PlaceHolder)
	}
}
