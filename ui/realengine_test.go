package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/logs"
	"github.com/duobox/duobox/runtime/testbed"
)

// testEngine adapts runtime/docker's engine to the actions' Engine, as
// cmd/duobox's dockerEngine does.
type testEngine struct{ *docker.Engine }

func (e testEngine) LogSource() logs.Source { return docker.LogSource{Engine: e.Engine} }

func connectTestEngine() (actions.Engine, error) {
	e, err := docker.Connect()
	if err != nil {
		return nil, err
	}
	return testEngine{e}, nil
}

// engineBed is a window on the real use-case layer and the live engine,
// with a saved config that deploys runtime/testbed's stand-ins (CPU mode,
// nothing to download) under a name of this test's own. The stack is
// removed, volumes included, when the test ends. Engine test: skipped
// under -short and without an engine, except under CI.
// The gateway and the model server run tb's images tagged gatewayTag and
// modelTag (pushed by the caller unless v1).
func engineBed(t *testing.T, tb *testbed.Bed, gatewayTag, modelTag string) (*bed, config.Deployment) {
	t.Helper()
	b, home := realBed(t, l40s(t), connectTestEngine)
	d := tb.StackConfig(t, fmt.Sprintf("dbt-uitests-%d", time.Now().UnixNano()%1e9), home, modelTag, gatewayTag)
	if err := config.Save(b.cfgPath, d); err != nil {
		t.Fatal(err)
	}
	core := &actions.Core{ConfigPath: b.cfgPath, Connect: connectTestEngine}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := core.Down(ctx, true, nil, nil); err != nil {
			t.Errorf("removing the test stack: %v", err)
		}
	})
	return b, d
}

// Deploy → Dashboard (Restart, Test) → Logs → Stop on the live engine, driven as a
// user does: every message shown is in the window's words.
func TestRealEngine_deployDashboardLogsTestStop(t *testing.T) {
	testbed.Engine(t)
	b, d := engineBed(t, testbed.Start(t), "v1", "v1")
	u := b.open()
	if got := u.Tabs.Selected().Text; got != TabDashboard {
		t.Fatalf("with a config the window opened %q", got)
	}
	dash := u.Dashboard
	if !strings.Contains(dash.Summary.Text, "Deploy") {
		t.Errorf("before deploying the Dashboard says %q", dash.Summary.Text)
	}
	noCLI(t, "Dashboard before deploying", dash.Summary.Text)

	selectTab(u, TabDeploy)
	dep := u.Deploy
	start := time.Now()
	test.Tap(dep.Start)
	u.Wait()
	t.Logf("deploy took %s", time.Since(start).Round(time.Millisecond))
	if !strings.HasPrefix(dep.Result.Text, "✓ Deployed") {
		t.Fatalf("deploy: %q, steps:\n%s", dep.Result.Text, allText(dep.Steps))
	}
	noCLI(t, "Deploy", dep.Result.Text+allText(dep.Steps))

	test.Tap(dep.Next)
	u.Wait()
	if got := u.Tabs.Selected().Text; got != TabDashboard {
		t.Fatalf("Deploy's Next went to %q", got)
	}
	// Docker's own health check runs on its interval: Check now until it
	// has passed once for both containers.
	for deadline := time.Now().Add(40 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		test.Tap(dash.Refresh)
		u.Wait()
		if dash.report.Status == "ok" && allHealthy(dash.report) || time.Now().After(deadline) {
			break
		}
	}
	if len(dash.Cards.Objects) != 2 {
		t.Fatalf("%d cards: %s", len(dash.Cards.Objects), dash.Summary.Text)
	}
	var names []string
	for _, c := range dash.report.Containers {
		if !c.Exists || c.State != "running" || c.Health != "healthy" || !strings.HasPrefix(c.Name, d.Name) {
			t.Errorf("card %s: exists %v, %s, %s", c.Name, c.Exists, c.State, c.Health)
		}
		names = append(names, c.Name)
	}
	for i, o := range dash.Cards.Objects {
		if txt := allText(o); !strings.Contains(txt, "healthy") {
			t.Errorf("card %d shows %q", i, txt)
		}
	}
	if dash.report.Status != "ok" {
		t.Errorf("stack %q: %s", dash.report.Status, dash.Summary.Text)
	}
	noCLI(t, "Dashboard", dash.Summary.Text+allText(dash.Cards)+allText(dash.Banners))

	// Restart the gateway from its card: a new container, healthy again.
	before := dash.report.Containers
	tapButton(t, dash.Cards.Objects[1], "Restart")
	u.Wait()
	if dash.TestOut.Importance != widget.SuccessImportance || !strings.Contains(dash.TestOut.Text, "✓ Restarted the gateway") {
		t.Errorf("Restart shows %q (%d)", dash.TestOut.Text, dash.TestOut.Importance)
	}
	for i, c := range dash.report.Containers {
		if c.Role == stack.RoleGateway && (c.State != "running" || !c.StartedAt.After(before[i].StartedAt)) {
			t.Errorf("gateway after Restart: %s, started %s (before %s)", c.State, c.StartedAt, before[i].StartedAt)
		}
	}
	noCLI(t, "Restart", dash.TestOut.Text)

	test.Tap(dash.Test)
	u.Wait()
	if dash.TestOut.Importance != widget.SuccessImportance || !strings.Contains(dash.TestOut.Text, "✓ model completion") {
		t.Errorf("Test shows %q (%d)", dash.TestOut.Text, dash.TestOut.Importance)
	}
	noCLI(t, "Test", dash.TestOut.Text)

	u.Logs.tick = 0 // the test polls by hand: PollOnce is one tick
	selectTab(u, TabLogs)
	p := u.Logs.Panes[stack.RoleModel]
	// Lines come within a poll or two (a backlog once waited for the
	// container's next line: runtime/docker's pump).
	deadline := time.Now().Add(3 * time.Second)
	for !(paneHas(p, "vLLM API server version") && paneHas(p, "Received request")) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		u.Logs.PollOnce()
		u.Wait()
	}
	if !paneHas(p, "vLLM API server version") || !paneHas(p, "Received request") {
		var shown []string
		for _, l := range p.Lines() {
			shown = append(shown, lineText(l))
		}
		t.Errorf("model server pane (%s):\n%s", p.Status.Text, strings.Join(shown, "\n"))
	}
	noCLI(t, "Logs", p.Status.Text)

	selectTab(u, TabDashboard)
	test.Tap(dash.Stop)
	u.Wait()
	if !strings.Contains(strings.ToLower(dash.TestOut.Text), "press deploy") || !dash.Stop.Disabled() {
		t.Errorf("Stop shows %q", dash.TestOut.Text)
	}
	noCLI(t, "Stop", dash.TestOut.Text+dash.Summary.Text)
	eng, err := connectTestEngine()
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	for _, n := range names {
		if _, err := eng.ContainerHealthState(t.Context(), n); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("%s after Stop: %v", n, err)
		}
	}
	for _, c := range dash.report.Containers {
		if c.Exists {
			t.Errorf("Dashboard after Stop shows %s", c.Name)
		}
	}
}

// Upgrade on the live engine: the screen lists the gateway releases of
// the deployed GitLab version from the registry, Upgrade moves the
// running gateway to the chosen one behind its health gate, and the
// history shows it; Roll back brings the old one back; the model server
// is upgraded from a tags file chosen in the file dialog; Logs shows the
// gateway kept aside.
func TestRealEngine_upgradeRollBackAndOfflineTags(t *testing.T) {
	testbed.Engine(t)
	tb := testbed.Start(t)
	for _, tag := range []string{"self-hosted-v18.5.0-ee", "self-hosted-v18.5.1-ee"} {
		tb.Push(t, testbed.Gateway, tag)
	}
	for _, tag := range []string{"v0.18.0", "v0.18.1"} { // vLLM's release tags
		tb.Push(t, testbed.ModelServer, tag)
	}
	b, d := engineBed(t, tb, "self-hosted-v18.5.0-ee", "v0.18.0")
	u := b.open()
	selectTab(u, TabDeploy)
	test.Tap(u.Deploy.Start)
	u.Wait()
	if !strings.HasPrefix(u.Deploy.Result.Text, "✓ Deployed") {
		t.Fatalf("deploy: %q", u.Deploy.Result.Text)
	}

	selectTab(u, TabUpgrade)
	v := u.Upgrade
	if !strings.Contains(v.Current.Text, "self-hosted-v18.5.0-ee") || v.Available.Selected != "self-hosted-v18.5.1-ee" || v.Upgrade.Disabled() {
		t.Fatalf("current %q, offered %q (of %q), Upgrade disabled %v; steps %q", v.Current.Text, v.Available.Selected, v.Available.Options,
			v.Upgrade.Disabled(), v.Steps.Text)
	}
	noCLI(t, "Upgrade", v.Current.Text+v.Steps.Text)
	start := time.Now()
	test.Tap(v.Upgrade)
	u.Wait()
	t.Logf("upgrade took %s", time.Since(start).Round(time.Millisecond))
	if strings.Contains(v.Steps.Text, "Problem:") || strings.Contains(v.Steps.Text, "Rolled back") {
		t.Errorf("upgrade steps: %q", v.Steps.Text)
	}
	noCLI(t, "Upgrade", v.Steps.Text+allText(v.History))
	cur, err := config.Load(b.cfgPath)
	if err != nil || cur.Gateway.Image.Tag != "self-hosted-v18.5.1-ee" {
		t.Errorf("config after the upgrade: gateway %q, %v", cur.Gateway.Image.Tag, err)
	}
	if h := allText(v.History); !strings.Contains(h, "self-hosted-v18.5.1-ee") || !strings.Contains(h, "upgraded") {
		t.Errorf("history %q", h)
	}
	// Roll back by hand: the kept gateway serves again.
	if v.Rollback.Disabled() {
		t.Fatal("Roll back is disabled after an upgrade")
	}
	test.Tap(v.Rollback)
	u.Wait()
	if strings.Contains(v.Steps.Text, "Problem:") {
		t.Errorf("rollback steps: %q", v.Steps.Text)
	}
	noCLI(t, "Roll back", v.Steps.Text+allText(v.History))
	if cur, err := config.Load(b.cfgPath); err != nil || cur.Gateway.Image.Tag != "self-hosted-v18.5.0-ee" {
		t.Errorf("config after the rollback: gateway %q, %v", cur.Gateway.Image.Tag, err)
	}
	if h := allText(v.History); !strings.Contains(h, "rolled back by hand") {
		t.Errorf("history after the rollback %q", h)
	}

	// Offline: the model server's versions from a tags file chosen in the
	// file dialog; Upgrade moves it to the chosen one.
	tags := filepath.Join(t.TempDir(), "tags.txt")
	if err := os.WriteFile(tags, []byte("v0.18.0\nv0.18.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v.Role.SetSelected(roleModelLabel)
	u.Wait()
	u.pickFile = func(_ string, done func(string)) { done(tags) }
	test.Tap(v.TagsFile)
	u.Wait()
	if v.Upgrade.Disabled() || v.Available.Selected != "v0.18.1" {
		t.Fatalf("model server from a tags file: current %q, offered %q of %q; steps %q", v.Current.Text, v.Available.Selected,
			v.Available.Options, v.Steps.Text)
	}
	test.Tap(v.Upgrade)
	u.Wait()
	if strings.Contains(v.Steps.Text, "Problem:") {
		t.Errorf("model server upgrade: %q", v.Steps.Text)
	}
	noCLI(t, "Upgrade (model server)", v.Steps.Text+v.Source.Text)
	if cur, err := config.Load(b.cfgPath); err != nil || cur.ModelServer.Tag != "v0.18.1" {
		t.Errorf("config after the model server upgrade: %q, %v", cur.ModelServer.Tag, err)
	}

	// The gateway set aside is kept (as -gateway-rollback): Logs lets the
	// user choose it and shows its lines.
	u.Logs.tick = 0
	selectTab(u, TabLogs)
	kept := d.Name + "-gateway-rollback"
	if !slices.Contains(u.Logs.Container.Options, kept) {
		t.Fatalf("Logs' containers %v lack %s", u.Logs.Container.Options, kept)
	}
	u.Logs.Container.SetSelected(kept)
	u.Wait()
	for deadline := time.Now().Add(20 * time.Second); len(u.Logs.Other.Lines()) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		u.Logs.PollOnce()
		u.Wait()
	}
	if len(u.Logs.Other.Lines()) == 0 {
		t.Errorf("the kept gateway's pane shows no line: %q", u.Logs.Other.Status.Text)
	}
	noCLI(t, "Logs", u.Logs.Other.Status.Text)

	rep, err := b.svc.Health(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Containers {
		if c.Role == stack.RoleGateway && (!strings.HasSuffix(c.Image, "self-hosted-v18.5.0-ee") || c.State != "running" || !strings.HasPrefix(c.Name, d.Name)) {
			t.Errorf("gateway after the rollback: %s %s %s\nsteps %s", c.Name, c.Image, c.State, v.Steps.Text)
		}
	}
}

// paneHas reports whether a line of p holds s.
func paneHas(p *LogPane, s string) bool {
	for _, l := range p.Lines() {
		if strings.Contains(lineText(l), s) {
			return true
		}
	}
	return false
}

// allHealthy reports whether every container of r is running and healthy.
func allHealthy(r StackReport) bool {
	for _, c := range r.Containers {
		if c.State != "running" || c.Health != "healthy" {
			return false
		}
	}
	return len(r.Containers) > 0
}
