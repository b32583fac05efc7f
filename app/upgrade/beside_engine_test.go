package upgrade_test

// Model server runs where two copies fit: the new one starts beside the old
// one and takes over the name the gateway calls once healthy. These run on
// the real engine; the fit itself (a memory decision, BesideFit, tested in
// beside_test.go) is given.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/runtime/testbed"
)

func fitsTwice(context.Context, config.Deployment) (upgrade.Fit, error) {
	return upgrade.Fit{Fits: true, Why: "given by the test"}, nil
}

func (f *fixture) modelName() string { return stack.ModelContainerName(f.cfg.Name, 0) }

func (f *fixture) modelImage(tag string) config.Image {
	return config.Image{Repository: f.bed.Repository(testbed.ModelServer), Tag: tag}
}

// modelProber calls the model through the gateway (GitLab's "Test
// connection" route) every 50 ms and counts the calls that fail.
type modelProber struct {
	mu       sync.Mutex
	sent     int
	failures []string
	stop     chan struct{}
	done     chan struct{}
}

func (f *fixture) startModelProber() *modelProber {
	f.t.Helper()
	key, err := os.ReadFile(filepath.Join(f.dir, stack.SecretAIGWSigningKey))
	if err != nil {
		f.t.Fatal(err)
	}
	token, err := deploy.MintCheckToken(key, deploy.Caller{}, 10*time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	p := &modelProber{stop: make(chan struct{}), done: make(chan struct{})}
	check := deploy.ModelCheck{GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", f.cfg.Gateway.Port), Token: token,
		Family: "mistral", Endpoint: stack.ModelEndpoint(f.cfg.Name, 0), Identifier: "custom_openai/mistral-7b"}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				res, err := deploy.CheckModel(ctx, check)
				p.mu.Lock()
				defer p.mu.Unlock()
				p.sent++
				if err != nil || res.Status != 200 {
					p.failures = append(p.failures, fmt.Sprintf("%s: %d %s %v", at.Format("15:04:05.000"), res.Status, res.Body, err))
				}
			}(time.Now())
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

func (p *modelProber) finish() (sent int, failures []string) {
	close(p.stop)
	<-p.done
	return p.sent, p.failures
}

// aliases lists a container's DNS aliases on the stack network.
func (f *fixture) aliases(id string) []string {
	f.t.Helper()
	out, err := exec.Command("docker", "inspect", "-f", `{{range .NetworkSettings.Networks}}{{join .Aliases " "}}{{end}}`, id).CombinedOutput()
	if err != nil {
		f.t.Fatalf("docker inspect: %v: %s", err, out)
	}
	return strings.Fields(string(out))
}

// assertModelStable: exactly one model server runs, under its name; the
// rollback target (when given) is stopped and does not answer for the name;
// nothing is left under the run's other names; the gateway reaches the model.
func (f *fixture) assertModelStable(servingID, rollbackID string) {
	f.t.Helper()
	cs := f.containers()
	x := f.modelName()
	running := 0
	for name, c := range cs {
		if c.Labels[stack.LabelRole] == stack.RoleModel && c.State == "running" {
			running++
			if name != x {
				f.t.Errorf("model server running under %s, want %s", name, x)
			}
		}
		if strings.HasPrefix(name, x+"-") && name != upgrade.RollbackName(x) {
			f.t.Errorf("leftover container %s", name)
		}
	}
	if running != 1 {
		f.t.Errorf("%d model servers running, want exactly 1", running)
	}
	if servingID != "" && cs[x].ID != servingID {
		f.t.Errorf("serving model container = %.12s, want %.12s", cs[x].ID, servingID)
	}
	rb, ok := cs[upgrade.RollbackName(x)]
	switch {
	case rollbackID != "" && (!ok || rb.ID != rollbackID):
		f.t.Errorf("model rollback target = %.12s (present %v), want %.12s", rb.ID, ok, rollbackID)
	case ok && rb.State == "running":
		f.t.Errorf("model rollback target is running")
	case ok && slices.Contains(f.aliases(rb.ID), x):
		f.t.Errorf("the stopped rollback target still carries the alias %s: %v", x, f.aliases(rb.ID))
	}
	p := f.startModelProber()
	time.Sleep(120 * time.Millisecond)
	if sent, failures := p.finish(); sent == 0 || len(failures) > 0 {
		f.t.Errorf("the gateway does not reach the model: %d of %d calls failed: %v", len(failures), sent, failures)
	}
}

func hasStep(run upgrade.Run, s upgrade.Step) bool {
	return slices.ContainsFunc(run.Steps, func(st upgrade.StepTime) bool { return st.Step == s })
}

func TestModelUpgradeBesideServesThroughout(t *testing.T) {
	f := newFixture(t)
	f.up.Beside = fitsTwice
	ctx := context.Background()
	x := f.modelName()
	v1ID := f.containers()[x].ID

	p := f.startModelProber()
	run, err := f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleModel, To: f.modelImage("v2")})
	sent, failures := p.finish()
	if err != nil || run.Outcome != upgrade.OutcomeSucceeded {
		t.Fatalf("model upgrade beside: %v (%+v)", err, run)
	}
	if len(failures) > 0 || sent < 5 {
		t.Errorf("calls through the gateway during the upgrade: %d of %d failed: %v", len(failures), sent, failures)
	}
	if !hasStep(run, upgrade.StepWaitingBeside) || !hasStep(run, upgrade.StepMovingAlias) || hasStep(run, upgrade.StepSwitching) {
		t.Errorf("steps = %+v, want the beside path", run.Steps)
	}
	v2ID := f.containers()[x].ID
	f.assertModelStable(v2ID, v1ID)
	if v := f.versionOf(x); v != "v2" {
		t.Errorf("serving model %q, want v2", v)
	}
	if rec, ok := deploy.LastStartTime(ctx, f.st, x); !ok || rec.Took <= 0 {
		t.Errorf("the new model server's start time was not recorded: %+v", rec)
	}

	// Rollback takes the same path.
	p = f.startModelProber()
	run, err = f.up.Rollback(ctx, f.loadConfig(), stack.RoleModel)
	sent, failures = p.finish()
	if err != nil || run.Outcome != upgrade.OutcomeSucceeded || !hasStep(run, upgrade.StepWaitingBeside) {
		t.Fatalf("model rollback beside: %v (%+v)", err, run)
	}
	if len(failures) > 0 {
		t.Errorf("calls during the rollback: %d of %d failed: %v", len(failures), sent, failures)
	}
	f.assertModelStable(v1ID, v2ID)
	if cfg := f.loadConfig(); cfg.ModelServer.Tag != "v1" {
		t.Errorf("config after the rollback: %+v", cfg.ModelServer)
	}

	// A version that never becomes healthy: the old one never stopped.
	f.up.HealthTimeout = 3 * time.Second
	p = f.startModelProber()
	run, err = f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleModel, To: f.modelImage("v3")})
	sent, failures = p.finish()
	if err == nil || run.Outcome != upgrade.OutcomeRolledBack {
		t.Fatalf("upgrade to a never-healthy model server: %v (%+v)", err, run)
	}
	if len(failures) > 0 {
		t.Errorf("calls during the failed upgrade: %d of %d failed: %v", len(failures), sent, failures)
	}
	f.assertModelStable(v1ID, v2ID)

	// Where two copies do not fit, the old one stops first, and the
	// downtime is announced from the start time measured here.
	f.up.HealthTimeout = 30 * time.Second
	f.up.Beside = func(context.Context, config.Deployment) (upgrade.Fit, error) {
		return upgrade.Fit{Why: "GPU 0 has 2.0 GiB free, a second copy needs 21.6 GiB"}, nil
	}
	var said []string
	f.up.OnEvent = func(ev deploy.Event) {
		if ev.Kind == deploy.EventWarning || ev.Kind == deploy.EventStep {
			said = append(said, ev.Message)
		}
	}
	run, err = f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleModel, To: f.modelImage("v2")})
	if err != nil || run.Outcome != upgrade.OutcomeSucceeded || !hasStep(run, upgrade.StepSwitching) || hasStep(run, upgrade.StepWaitingBeside) {
		t.Fatalf("stop-start model upgrade: %v (%+v)", err, run)
	}
	if len(said) == 0 || !strings.Contains(said[0], "two copies do not fit: GPU 0 has 2.0 GiB free") ||
		!strings.Contains(said[0], "unavailable for about") || !strings.Contains(said[0], "its last start on this machine") {
		t.Errorf("first message = %q, want the fit and the measured downtime before anything else", said)
	}
	f.assertModelStable("", v1ID)
}

func TestModelBesideKilledAtEachStepIsReconciled(t *testing.T) {
	f := newFixture(t)
	f.up.Beside = fitsTwice
	ctx := context.Background()
	x := f.modelName()
	v1ID := f.containers()[x].ID
	if _, err := f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleModel, To: f.modelImage("v2")}); err != nil {
		t.Fatalf("upgrade v1→v2: %v", err)
	}
	f.bed.Push(t, testbed.ModelServer, "v4")
	serving, kept := f.containers()[x].ID, v1ID
	other := map[string]string{"v2": "v4", "v4": "v2"}
	afterHealth := func(steps []upgrade.Step, s upgrade.Step) bool {
		return slices.Index(steps, s) > slices.Index(steps, upgrade.StepWaitingBeside)
	}
	check := func(t *testing.T, step upgrade.Step, forward bool, wantVersion string, wantServing, wantKept string) {
		runs, err := f.up.Reconcile(ctx, f.cfg.Name)
		if err != nil || len(runs) != 1 {
			t.Fatalf("reconcile: %v, %+v", err, runs)
		}
		want := upgrade.OutcomeInterrupted
		if forward {
			want = upgrade.OutcomeSucceeded
		}
		if runs[0].Outcome != want {
			t.Errorf("killed at %s: outcome %s (%s), want %s", step, runs[0].Outcome, runs[0].Reason, want)
		}
		f.assertModelStable(wantServing, wantKept)
		if v := f.versionOf(x); v != wantVersion {
			t.Errorf("killed at %s: serving %q, want %q", step, v, wantVersion)
		}
		if cfg := f.loadConfig(); cfg.ModelServer.Tag != wantVersion {
			t.Errorf("killed at %s: config says %s, serving %s", step, cfg.ModelServer.Tag, wantVersion)
		}
	}
	current := "v2"
	for _, step := range upgrade.BesideUpgradeSteps {
		t.Run("upgrade/"+string(step), func(t *testing.T) {
			f.t = t
			to := other[current]
			f.killAtAs(childSpec{Action: upgrade.ActionUpgrade, Role: stack.RoleModel, Beside: true, To: f.modelImage(to),
				PauseAt: step, HealthTimeout: 30 * time.Second}, nil)
			if forward := afterHealth(upgrade.BesideUpgradeSteps, step); forward {
				check(t, step, true, to, "", serving)
				serving, kept, current = f.containers()[x].ID, serving, to
			} else {
				check(t, step, false, current, serving, kept)
			}
		})
	}
	for _, step := range upgrade.BesideRollbackSteps {
		t.Run("rollback/"+string(step), func(t *testing.T) {
			f.t = t
			prev := f.versionOf(upgrade.RollbackName(x))
			f.killAtAs(childSpec{Action: upgrade.ActionRollback, Role: stack.RoleModel, Beside: true,
				PauseAt: step, HealthTimeout: 30 * time.Second}, nil)
			if forward := afterHealth(upgrade.BesideRollbackSteps, step); forward {
				check(t, step, true, prev, kept, serving)
				serving, kept, current = kept, serving, prev
			} else {
				check(t, step, false, current, serving, kept)
			}
		})
	}
	f.t = t
}
