package ui

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/store"
)

// Tests in this file drive the screens on the real use-case layer:
// ServicesFrom(actions.Core), as cmd/duobox wires the window, with
// DuoBox's folders in a temp $DUOBOX_HOME. Where a screen touches
// containers the engine is the live one with runtime/testbed's images.

// realBed is a bed whose services are actions.Core's: detection uses o
// (what the CLI's --nvidia-smi and --ram give) and connect opens the engine.
func realBed(t *testing.T, o hardware.Overrides, connect func() (actions.Engine, error)) (*bed, string) {
	t.Helper()
	b := newBed(t)
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	core := &actions.Core{ConfigPath: b.cfgPath, Connect: connect}
	b.svc = ServicesFrom(core)
	b.svc.Detect = func(ctx context.Context) (hardware.Machine, error) { return core.Detect(ctx, o) }
	return b, home
}

// noEngine is an engine that cannot be reached, as on a machine without Docker.
func noEngine() (actions.Engine, error) {
	return nil, errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
}

// l40s is the CLI's --nvidia-smi with app/hardware's saved L40S output.
func l40s(t *testing.T) hardware.Overrides {
	t.Helper()
	file := filepath.Join("..", "app", "hardware", "testdata", "nvidia-smi", "l40s.csv")
	out, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return hardware.Overrides{NvidiaSMIOutput: out, NvidiaSMIFile: file, RAMBytes: 64 << 30}
}

// noCLI fails when a message the window shows names a CLI command.
func noCLI(t *testing.T, where, shown string) {
	t.Helper()
	if strings.Contains(shown, "duobox ") || strings.Contains(shown, "`duobox") || strings.Contains(shown, " --") {
		t.Errorf("%s names a CLI command: %q", where, shown)
	}
}

// First run on the real layer: This machine detects the saved nvidia-smi
// output and records it; Choose model rates the real catalog on it;
// Configure's Save writes the real config file, and a bad edit of that
// file is shown on Configure, where the user is.
func TestRealCore_machineChooseConfigure(t *testing.T) {
	b, home := realBed(t, l40s(t), noEngine)
	u := b.open()
	if got := u.Tabs.Selected().Text; got != TabMachine {
		t.Fatalf("first run opened %q", got)
	}
	m := u.Machine
	if len(m.GPUs.Objects) != 1 {
		t.Fatalf("%d GPU rows", len(m.GPUs.Objects))
	}
	row := m.GPUs.Objects[0].(*fyne.Container)
	if l := row.Objects[0].(*widget.Label).Text; !strings.Contains(l, "NVIDIA L40S") {
		t.Errorf("GPU label %q", l)
	}
	if bar := row.Objects[1].(*MeterBar); !strings.Contains(bar.Text, "of 45.0 GiB (44.5 GiB free)") {
		t.Errorf("VRAM bar %q", bar.Text)
	}
	if !strings.Contains(m.Memory.Text, "of 64.0 GiB") {
		t.Errorf("RAM bar %q, want the --ram override", m.Memory.Text)
	}
	if m.Docker.Importance != widget.DangerImportance || !strings.Contains(m.Docker.Text, "Cannot connect to the Docker daemon") {
		t.Errorf("engine %q (%d)", m.Docker.Text, m.Docker.Importance)
	}
	noCLI(t, "This machine", allText(m.Content))
	dirs, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dirs.Database(), home) {
		t.Fatalf("state database %s outside DUOBOX_HOME %s", dirs.Database(), home)
	}
	st, err := store.Open(t.Context(), dirs.Database())
	if err != nil {
		t.Fatal(err)
	}
	_, body, err := st.LatestSnapshot(t.Context(), "machine")
	st.Close()
	if err != nil || !strings.Contains(string(body), "NVIDIA L40S") {
		t.Errorf("snapshot: %v %.80s", err, body)
	}

	test.Tap(m.Next)
	u.Wait()
	c := u.Choose
	if len(c.result.Models) == 0 || c.Models.Length() != len(c.result.Models) {
		t.Fatalf("%d rows for %d models", c.Models.Length(), len(c.result.Models))
	}
	chosen, ok := c.Selected()
	if !ok || len(c.result.Recommendation) == 0 || chosen.ID != c.result.Recommendation[0].ModelID {
		t.Fatalf("selected %q, recommendation %+v", chosen.ID, c.result.Recommendation)
	}
	if !strings.Contains(c.MemoryHeading.Text, "free") {
		t.Errorf("memory heading %q", c.MemoryHeading.Text)
	}
	verdicts := map[string]bool{}
	for _, f := range c.result.Models {
		verdicts[f.Verdict] = true
		cells, why := rowOf(t, c, f.ID)
		bar := cells[rowMemory].(*MeterBar)
		runs := f.Verdict == recommend.Fits || f.Verdict == recommend.FitsQuantized
		if runs != (bar.Value <= 1) || !strings.Contains(bar.Text, "of 44.5 GiB free") {
			t.Errorf("%s (%s): bar %.2f %q", f.ID, f.Verdict, bar.Value, bar.Text)
		}
		if why.Text == "" || strings.Contains(why.Text, "\n") {
			t.Errorf("%s: reason %q", f.ID, why.Text)
		}
		noCLI(t, f.ID+"'s row", why.Text)
	}
	if !verdicts[recommend.Fits] || len(verdicts) < 2 {
		t.Errorf("verdicts on an L40S: %v, want models that fit and others that do not", verdicts)
	}
	cells, _ := rowOf(t, c, "codestral-22b")
	if l := cells[rowLicence].(*widget.Label); l.Text != "MNPL-0.1\nnon-production" || l.Importance != widget.WarningImportance {
		t.Errorf("Codestral's licence %q (%d)", l.Text, l.Importance)
	}
	noCLI(t, "Choose model", c.Details.Text+c.Advice.Text)

	test.Tap(c.Next)
	u.Wait()
	v := u.Configure
	test.Type(v.GitLabURL, "https://gitlab.example.com/")
	v.Version.SetText("")
	test.Type(v.Version, "18.2")
	v.Host.SetText("")
	test.Type(v.Host, "192.0.2.10")
	test.Tap(v.PublishAll) // 192.0.2.10 is not this machine's
	test.Tap(v.Save)
	u.Wait()
	d, err := config.Load(b.cfgPath)
	if err != nil {
		t.Fatalf("after Save: %v (screen says %q)", err, v.Result.Text)
	}
	if d.Host != "192.0.2.10" || d.GitLab.Version != "18.2" || len(d.Models) != 1 || d.Models[0].HFRepo != chosen.HFRepo {
		t.Errorf("saved host %q version %q models %+v, chosen %s", d.Host, d.GitLab.Version, d.Models, chosen.HFRepo)
	}
	if !strings.Contains(v.Result.Text, "Saved") || v.Next.Disabled() {
		t.Errorf("after Save: %q, Next disabled %v", v.Result.Text, v.Next.Disabled())
	}
	noCLI(t, "Configure", v.Result.Text)

	// An editor breaks the file: Configure, where the user is, says so.
	time.Sleep(100 * time.Millisecond) // let the watcher see the saved file
	if err := os.WriteFile(b.cfgPath, []byte("version: 1\ngitlab: [this is not a map\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(v.Result.Text, "rejected") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		u.Wait()
	}
	if !strings.Contains(v.Result.Text, "The config file was rejected") || v.Result.Importance != widget.DangerImportance ||
		!strings.Contains(v.Result.Text, "last good config stays in force") {
		t.Errorf("Configure after a bad edit: %q (%d)", v.Result.Text, v.Result.Importance)
	}
	noCLI(t, "Configure", v.Result.Text)
	if got := u.config(); got == nil || got.Host != "192.0.2.10" {
		t.Errorf("config in force after the bad edit: %+v", got)
	}
}

// Configure's Read from GitLab on the real layer: without a stored token
// GitLab refuses and the screen says what to do in the window's words;
// with the token Connect stored, the version field gets GitLab's version.
func TestRealCore_configureReadsGitLabsVersion(t *testing.T) {
	b, _ := realBed(t, l40s(t), noEngine)
	srv := gitLabAPI(t, "glpat-admin", true)
	u := b.open()
	selectTab(u, TabConfigure)
	v := u.Configure
	test.Type(v.GitLabURL, srv.URL())
	test.Tap(v.ReadVersion)
	u.Wait()
	if !strings.Contains(v.Result.Text, "Problem:") || !strings.Contains(v.Result.Text, "press Connect") || v.Version.Text != "" {
		t.Errorf("without a token: %q, version %q", v.Result.Text, v.Version.Text)
	}
	noCLI(t, "Read from GitLab", v.Result.Text)

	if _, err := b.svc.ConnectGitLab(t.Context(), srv.URL(), "glpat-admin"); err != nil {
		t.Fatal(err)
	}
	test.Tap(v.ReadVersion)
	u.Wait()
	if !strings.HasPrefix(v.Version.Text, "18.2.1") || !strings.Contains(v.Result.Text, "runs 18.2.1") {
		t.Errorf("with the token: %q, version %q", v.Result.Text, v.Version.Text)
	}
	noCLI(t, "Read from GitLab", v.Result.Text)
}
