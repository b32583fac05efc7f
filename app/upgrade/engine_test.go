package upgrade_test

// These tests upgrade and roll back a stack on the real Docker engine, with
// the test bed's stand-in images pulled from an in-process registry on
// 127.0.0.1: v1 and v2 are healthy, v3 never becomes healthy.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/testbed"
)

var seq atomic.Int64

// fixture is one test's stack: unique name, its own ports, folders, database and config file.
type fixture struct {
	t       *testing.T
	eng     *docker.Engine
	bed     *testbed.Bed
	cfg     config.Deployment
	dir     string // secrets, logs, database, config, lock
	logDir  string
	cfgPath string
	st      *store.Store
	up      *upgrade.Upgrader
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	dir := t.TempDir()
	f := &fixture{t: t, eng: eng, bed: bed, dir: dir, logDir: filepath.Join(dir, "logs"), cfgPath: filepath.Join(dir, "duobox.yaml")}
	os.MkdirAll(f.logDir, 0o755)
	ports, err := testbed.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("dbu-%d-%d", os.Getpid()%100000, seq.Add(1))
	f.cfg = config.Deployment{
		Version: config.SchemaVersion,
		Name:    name,
		GitLab:  config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host:    "gpu-box.example.com",
		Mode:    config.ModeCPU,
		Models:  []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: "v1",
			HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "v1",
			HealthCmd: testbed.HealthCmd(testbed.Gateway)}, Port: ports[0], AgentPort: ports[1]},
	}.WithDefaults()
	if err := config.Save(f.cfgPath, f.cfg); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), filepath.Join(dir, "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	t.Cleanup(func() { st.Close() })
	f.up = newUpgrader(eng, st, dir, f.cfgPath, f.logDir)
	dep := &deploy.Deployer{Engine: eng, Store: st, HealthTimeout: 60 * time.Second}
	t.Cleanup(func() {
		ctx := context.Background()
		if _, err := dep.Down(ctx, name, true); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
		if objs, _ := eng.Objects(ctx, name); len(objs) > 0 {
			t.Errorf("left behind: %+v", objs)
		}
	})
	spec, err := f.up.Build(f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stack.EnsureKeys(spec); err != nil {
		t.Fatal(err)
	}
	if _, err := dep.Up(context.Background(), spec); err != nil {
		t.Fatalf("up: %v", err)
	}
	return f
}

// newUpgrader is the upgrader of a fixture's folders (also built by the child process).
func newUpgrader(eng upgrade.Engine, st *store.Store, dir, cfgPath, logDir string) *upgrade.Upgrader {
	return &upgrade.Upgrader{
		Engine: eng, Store: st, LockDir: dir, ConfigPath: cfgPath,
		Build: func(d config.Deployment) (stack.Spec, error) {
			return stack.Build(d, stack.Options{Catalog: catalog.Catalog{}, SecretsDir: dir, LogDir: logDir})
		},
		HealthTimeout: 30 * time.Second,
		StopGrace:     2 * time.Second,
	}
}

// freePort is a port nothing listens on (a registry that is not there).
func freePort(t *testing.T) int {
	ports, err := testbed.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return ports[0]
}

func (f *fixture) gatewayName() string { return stack.GatewayContainerName(f.cfg.Name) }

func (f *fixture) to(tag string) config.Image {
	return config.Image{Repository: f.bed.Repository(testbed.Gateway), Tag: tag}
}

func (f *fixture) upgradeGateway(tag string) (upgrade.Run, error) {
	return f.up.Upgrade(context.Background(), upgrade.Request{Config: f.loadConfig(), Role: stack.RoleGateway, To: f.to(tag)})
}

func (f *fixture) loadConfig() config.Deployment {
	f.t.Helper()
	cfg, err := config.Load(f.cfgPath)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

// containers maps name → object for the stack's containers.
func (f *fixture) containers() map[string]engine.Object {
	f.t.Helper()
	objs, err := f.eng.Objects(context.Background(), f.cfg.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]engine.Object{}
	for _, o := range objs {
		if o.Kind == engine.KindContainer {
			out[o.Name] = o
		}
	}
	return out
}

// serving checks the gateway answers /monitoring/healthz and returns the
// version its log says it runs.
func (f *fixture) serving() string {
	f.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/monitoring/healthz", f.cfg.Gateway.Port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("gateway does not answer %s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return f.versionOf(f.gatewayName())
}

// versionOf reads the stand-in's version from its first log line.
func (f *fixture) versionOf(name string) string {
	f.t.Helper()
	c := f.containers()[name]
	lines, err := f.eng.Logs(context.Background(), c.ID, 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	version := ""
	for _, l := range lines {
		if i := strings.Index(l, "DuoBox test stand-in "); i >= 0 {
			version, _, _ = strings.Cut(l[i+len("DuoBox test stand-in "):], ")")
		}
	}
	return version
}

// assertStable checks the invariant after every run: exactly one gateway
// runs (under its name), the rollback target is the expected container and
// stopped, no leftovers under the run's other names.
func (f *fixture) assertStable(servingID, rollbackID string) {
	f.t.Helper()
	cs := f.containers()
	x := f.gatewayName()
	running := 0
	for name, c := range cs {
		if c.Labels[stack.LabelRole] == stack.RoleGateway && c.State == "running" {
			running++
			if name != x {
				f.t.Errorf("gateway running under %s, want %s", name, x)
			}
		}
		if strings.HasPrefix(name, x+"-") && name != upgrade.RollbackName(x) {
			f.t.Errorf("leftover container %s", name)
		}
	}
	if running != 1 {
		f.t.Errorf("%d gateways running, want exactly 1: %+v", running, cs)
	}
	if servingID != "" && cs[x].ID != servingID {
		f.t.Errorf("serving container = %.12s, want %.12s", cs[x].ID, servingID)
	}
	rb, ok := cs[upgrade.RollbackName(x)]
	switch {
	case rollbackID == "" && ok:
		f.t.Errorf("unexpected rollback target %.12s", rb.ID)
	case rollbackID != "" && (!ok || rb.ID != rollbackID):
		f.t.Errorf("rollback target = %.12s (present %v), want %.12s", rb.ID, ok, rollbackID)
	case ok && rb.State == "running":
		f.t.Errorf("rollback target is running")
	}
}

func TestUpgradeV1ToV2ThenManualRollback(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x := f.gatewayName()
	if v := f.serving(); v != "v1" {
		t.Fatalf("before: serving %q, want v1", v)
	}
	v1ID := f.containers()[x].ID
	marker := filepath.Join(f.logDir, "gateway.log")
	os.WriteFile(marker, []byte("written before the upgrade\n"), 0o644)

	var steps []string
	f.up.OnEvent = func(ev deploy.Event) {
		if ev.Kind == deploy.EventStep {
			steps = append(steps, ev.Message)
		}
	}
	run, err := f.upgradeGateway("v2")
	if err != nil {
		t.Fatalf("upgrade v1→v2: %v", err)
	}
	if run.Outcome != upgrade.OutcomeSucceeded || run.From.Tag != "v1" || run.To.Tag != "v2" {
		t.Fatalf("run = %+v", run)
	}
	if v := f.serving(); v != "v2" {
		t.Fatalf("after upgrade: serving %q, want v2", v)
	}
	v2ID := f.containers()[x].ID
	f.assertStable(v2ID, v1ID)
	wantDigest := f.bed.Digest(t, f.bed.Ref(testbed.Gateway, "v2"))
	if run.ToDigest != wantDigest || run.FromDigest != f.bed.Digest(t, f.bed.Ref(testbed.Gateway, "v1")) {
		t.Errorf("digests from %s to %s, want to %s", run.FromDigest, run.ToDigest, wantDigest)
	}
	if cfg := f.loadConfig(); cfg.Gateway.Image.Tag != "v2" || cfg.Gateway.Image.Digest != wantDigest || len(cfg.Gateway.Image.HealthCmd) == 0 {
		t.Errorf("config after upgrade: %+v", cfg.Gateway.Image)
	}
	if len(steps) != len(upgrade.UpgradeSteps)-1 { // every step but the unrecorded cut point
		t.Errorf("step events: %q", steps)
	}
	// Data survives: the log folder's file, the weights volume, the mount on the new container.
	if b, err := os.ReadFile(marker); err != nil || !strings.Contains(string(b), "before the upgrade") {
		t.Errorf("log file after upgrade: %q, %v", b, err)
	}
	if _, err := f.eng.Lookup(ctx, engine.KindVolume, f.cfg.Name+"-hf-cache"); err != nil {
		t.Errorf("weights volume after upgrade: %v", err)
	}
	// The new gateway has the mounts the old one had (the log folder only
	// when the gateway logs to a file, so none here).
	mounts := func(id string) string {
		return testbed.DockerCLI(t, "inspect", "--format", "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", id)
	}
	if old, cur := mounts(v1ID), mounts(v2ID); old != cur || strings.Contains(cur, f.logDir) {
		t.Errorf("new gateway's mounts %q, the old one's %q (no log folder unless the gateway logs to a file)", cur, old)
	}

	// A later 'duobox up' keeps the rollback target (it is not an orphan).
	spec, err := f.up.Build(f.loadConfig())
	if err != nil {
		t.Fatal(err)
	}
	dep := &deploy.Deployer{Engine: f.eng, Store: f.st, HealthTimeout: 60 * time.Second}
	if _, err := dep.Up(ctx, spec); err != nil {
		t.Fatalf("up after the upgrade: %v", err)
	}
	if _, ok := f.containers()[upgrade.RollbackName(x)]; !ok {
		t.Fatalf("up removed the rollback target %s", upgrade.RollbackName(x))
	}
	if st, err := dep.Status(ctx, spec); err != nil || len(st.Orphans) != 0 {
		t.Fatalf("status lists the rollback target as an orphan: %+v, %v", st.Orphans, err)
	}

	// Manual rollback: v1 serves again and v2 becomes the rollback target.
	run, err = f.up.Rollback(ctx, f.loadConfig(), stack.RoleGateway)
	if err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if run.Outcome != upgrade.OutcomeSucceeded || run.To.Tag != "v1" {
		t.Fatalf("rollback run = %+v", run)
	}
	if run.ToDigest != f.bed.Digest(t, f.bed.Ref(testbed.Gateway, "v1")) || run.FromDigest != wantDigest {
		t.Errorf("rollback digests %s → %s", run.FromDigest, run.ToDigest)
	}
	if v := f.serving(); v != "v1" {
		t.Fatalf("after rollback: serving %q, want v1", v)
	}
	f.assertStable(v1ID, v2ID)
	if cfg := f.loadConfig(); cfg.Gateway.Image.Tag != "v1" || cfg.Gateway.Image.Digest != "" {
		t.Errorf("config after rollback: %+v, want v1 as before (no digest)", cfg.Gateway.Image)
	}
	if b, err := os.ReadFile(marker); err != nil || !strings.Contains(string(b), "before the upgrade") {
		t.Errorf("log file after rollback: %q, %v", b, err)
	}
	// The rolled-back config builds the very container that runs: 'up' keeps it.
	spec, _ = f.up.Build(f.loadConfig())
	c, _ := spec.Container(x)
	if got := f.containers()[x].Labels[stack.LabelConfigHash]; got != c.Labels[stack.LabelConfigHash] {
		t.Errorf("config hash of the serving container %s != the config's %s", got, c.Labels[stack.LabelConfigHash])
	}

	hist, err := f.up.History(ctx, f.cfg.Name, 0)
	if err != nil || len(hist) != 2 || hist[0].Action != upgrade.ActionRollback || hist[1].Action != upgrade.ActionUpgrade {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	if hist[1].FinishedAt == nil || len(hist[1].Steps) < len(upgrade.UpgradeSteps) {
		t.Errorf("history row lacks times or steps: %+v", hist[1])
	}
}

func TestUpgradeToNeverHealthyRollsBackByItself(t *testing.T) {
	f := newFixture(t)
	x := f.gatewayName()
	v1ID := f.containers()[x].ID
	if _, err := f.upgradeGateway("v2"); err != nil {
		t.Fatalf("upgrade v1→v2: %v", err)
	}
	v2ID := f.containers()[x].ID
	cfgBefore, _ := os.ReadFile(f.cfgPath)

	f.up.HealthTimeout = 4 * time.Second
	run, err := f.upgradeGateway("v3")
	if app.KindOf(err) != app.KindNotReady {
		t.Fatalf("upgrade to v3: want not-ready, got %v", err)
	}
	if !strings.Contains(err.Error(), "did not become healthy") || !strings.Contains(err.Error(), "stand-in v3") {
		t.Errorf("error should say why and show v3's log lines: %v", err)
	}
	if run.Outcome != upgrade.OutcomeRolledBack || !strings.Contains(run.Logs, "stand-in v3") {
		t.Errorf("run = %+v; want rolled_back with v3's logs", run)
	}
	if strings.Contains(run.Logs, "/monitoring/healthz") || strings.Contains(err.Error(), "/monitoring/healthz") || strings.Contains(err.Error(), "docker logs") {
		t.Errorf("the kept lines must be the gateway's own, not the health checks', and no 'docker logs' of a removed container: %v\n%s", err, run.Logs)
	}
	if v := f.serving(); v != "v2" {
		t.Fatalf("after failed upgrade: serving %q, want v2", v)
	}
	f.assertStable(v2ID, v1ID) // the v1 rollback target survives a failed upgrade
	if cfgAfter, _ := os.ReadFile(f.cfgPath); string(cfgAfter) != string(cfgBefore) {
		t.Errorf("a failed upgrade changed the config:\n%s\nwas\n%s", cfgAfter, cfgBefore)
	}
	hist, _ := f.up.History(context.Background(), f.cfg.Name, 1)
	if len(hist) != 1 || hist[0].Outcome != upgrade.OutcomeRolledBack || !strings.Contains(hist[0].Logs, "stand-in v3") {
		t.Errorf("history keeps no v3 logs: %+v", hist)
	}
}

// flakyPull is the real engine with a pull that fails the way the engine
// reports a full disk (a fake: this machine's disk cannot be filled safely).
type flakyPull struct {
	upgrade.Engine
	err error
}

func (e flakyPull) Pull(ctx context.Context, ref, platform string, progress func(engine.LayerEvent)) error {
	progress(engine.LayerEvent{Image: ref, Layer: "abc", Status: "Downloading", Current: 1 << 20, Total: 8 << 20})
	return e.err
}

func TestUpgradeBadInputTouchesNothing(t *testing.T) {
	f := newFixture(t)
	x := f.gatewayName()
	v1ID := f.containers()[x].ID
	cfgBefore, _ := os.ReadFile(f.cfgPath)
	unchanged := func(what string) {
		t.Helper()
		f.assertStable(v1ID, "")
		if v := f.serving(); v != "v1" {
			t.Errorf("%s: serving %q, want v1", what, v)
		}
		if b, _ := os.ReadFile(f.cfgPath); string(b) != string(cfgBefore) {
			t.Errorf("%s: config changed", what)
		}
	}

	// A tag the registry does not have.
	_, err := f.upgradeGateway("v99")
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown tag: %v", err)
	}
	unchanged("unknown tag")

	// The registry unreachable (a closed port).
	closed := fmt.Sprintf("127.0.0.1:%d/duobox-test/gateway", freePort(t))
	_, err = f.up.Upgrade(context.Background(), upgrade.Request{Config: f.loadConfig(), Role: stack.RoleGateway,
		To: config.Image{Repository: closed, Tag: "v2"}})
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("registry unreachable: %v", err)
	}
	unchanged("registry unreachable")

	// Disk full during the pull.
	full := *f.up
	full.Engine = flakyPull{Engine: f.eng, err: app.Environment(errors.New("write /var/lib/docker/tmp/x: no space left on device"),
		"free disk space where Docker keeps images ('docker system df', 'docker image prune')", "the engine ran out of disk space while pulling")}
	run, err := full.Upgrade(context.Background(), upgrade.Request{Config: f.loadConfig(), Role: stack.RoleGateway, To: f.to("v2")})
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "docker image prune") || run.Outcome != upgrade.OutcomeFailed {
		t.Errorf("disk full: %v (run %+v)", err, run)
	}
	unchanged("disk full")

	// The same tag again, and a role that does not exist.
	if _, err := f.upgradeGateway("v1"); app.KindOf(err) != app.KindBadInput {
		t.Errorf("same tag: %v", err)
	}
	if _, err := f.up.Upgrade(context.Background(), upgrade.Request{Config: f.loadConfig(), Role: "database", To: f.to("v2")}); app.KindOf(err) != app.KindBadInput {
		t.Errorf("unknown role: %v", err)
	}
	// Nothing to roll back to.
	if _, err := f.up.Rollback(context.Background(), f.loadConfig(), stack.RoleGateway); app.KindOf(err) != app.KindBadInput {
		t.Errorf("rollback without a target: %v", err)
	}
	unchanged("refusals")
	hist, _ := f.up.History(context.Background(), f.cfg.Name, 0)
	for _, h := range hist {
		if h.Outcome != upgrade.OutcomeFailed {
			t.Errorf("history row %+v: want failed", h)
		}
	}
}

func TestUpgradeModelServerKeepsGatewayReachingIt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	model := stack.ModelContainerName(f.cfg.Name, 0)
	oldID := f.containers()[model].ID
	run, err := f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleModel,
		To: config.Image{Repository: f.bed.Repository(testbed.ModelServer), Tag: "v2"}})
	if err != nil || run.Outcome != upgrade.OutcomeSucceeded {
		t.Fatalf("model upgrade: %v (%+v)", err, run)
	}
	cs := f.containers()
	if cs[upgrade.RollbackName(model)].ID != oldID || cs[model].State != "running" {
		t.Fatalf("after model upgrade: %+v", cs)
	}
	if cfg := f.loadConfig(); cfg.ModelServer.Tag != "v2" {
		t.Errorf("config model server = %+v", cfg.ModelServer)
	}
	// The gateway reaches the new model container by its (renamed-into) name.
	key, err := os.ReadFile(filepath.Join(f.dir, stack.SecretAIGWSigningKey))
	if err != nil {
		t.Fatal(err)
	}
	token, _ := deploy.MintCheckToken(key, deploy.Caller{}, time.Minute)
	res, err := deploy.CheckModel(ctx, deploy.ModelCheck{GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", f.cfg.Gateway.Port), Token: token,
		Family: "mistral", Endpoint: stack.ModelEndpoint(f.cfg.Name, 0), Identifier: "custom_openai/mistral-7b"})
	if err != nil || res.Status != 200 {
		t.Fatalf("model check through the gateway after the model upgrade = %+v, %v", res, err)
	}
}

// ---- Killing DuoBox at each step -------------------------------------------

// childSpec tells a re-executed test binary which run to start and where to stop.
type childSpec struct {
	Dir, CfgPath, LogDir string
	Action               string
	To                   config.Image
	PauseAt              upgrade.Step
	Marker               string
	HealthTimeout        time.Duration
	Role                 string // "" = the gateway
	Beside               bool   // the model server fits twice (BesideFit's decision, given)
}

const childEnv = "DUOBOX_UPGRADE_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

// runChild runs one upgrade or rollback and freezes right after recording
// PauseAt (before doing it), signalling the parent through Marker.
func runChild(specJSON string) int {
	var s childSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	eng, err := docker.Connect()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(s.Dir, "duobox.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	u := newUpgrader(eng, st, s.Dir, s.CfgPath, s.LogDir)
	u.HealthTimeout = s.HealthTimeout
	if s.Beside {
		u.Beside = fitsTwice
	}
	role := stack.RoleGateway
	if s.Role != "" {
		role = s.Role
	}
	u.BeforeStep = func(step upgrade.Step) {
		if step == s.PauseAt {
			os.WriteFile(s.Marker, []byte(step), 0o644)
			time.Sleep(time.Hour) // wait for SIGKILL
		}
	}
	cfg, err := config.Load(s.CfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if s.Action == upgrade.ActionRollback {
		_, err = u.Rollback(ctx, cfg, role)
	} else {
		_, err = u.Upgrade(ctx, upgrade.Request{Config: cfg, Role: role, To: s.To})
	}
	fmt.Fprintf(os.Stderr, "child finished without pausing: %v\n", err)
	return 3
}

// killAt runs the action in a child process, waits until it is frozen at
// step, and kills it with SIGKILL.
func (f *fixture) killAt(action string, to config.Image, step upgrade.Step, healthTimeout time.Duration, whileFrozen func()) {
	f.t.Helper()
	f.killAtAs(childSpec{Action: action, To: to, PauseAt: step, HealthTimeout: healthTimeout}, whileFrozen)
}

// killAtAs is killAt for any child run (role, beside).
func (f *fixture) killAtAs(s childSpec, whileFrozen func()) {
	f.t.Helper()
	action, to, step, healthTimeout := s.Action, s.To, s.PauseAt, s.HealthTimeout
	marker := filepath.Join(f.dir, "paused-"+strings.ReplaceAll(string(step), "/", "_"))
	os.Remove(marker)
	spec, _ := json.Marshal(childSpec{Dir: f.dir, CfgPath: f.cfgPath, LogDir: f.logDir, Action: action, To: to,
		PauseAt: step, Marker: marker, HealthTimeout: healthTimeout, Role: s.Role, Beside: s.Beside})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(90 * time.Second)
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		select {
		case err := <-done:
			f.t.Fatalf("child exited before reaching %s: %v\n%s", step, err, stderr.String())
		case <-deadline:
			cmd.Process.Kill()
			f.t.Fatalf("child did not reach %s\n%s", step, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if whileFrozen != nil {
		whileFrozen()
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	<-done
}

func TestUpgradeKilledAtEachStepIsReconciled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x := f.gatewayName()
	v1ID := f.containers()[x].ID
	if _, err := f.upgradeGateway("v2"); err != nil {
		t.Fatalf("upgrade v1→v2: %v", err)
	}
	v2ID := f.containers()[x].ID
	f.bed.Push(t, testbed.Gateway, "v4")
	cfgBefore, _ := os.ReadFile(f.cfgPath)

	for i, step := range upgrade.UpgradeSteps {
		if step == upgrade.StepFinalizing {
			continue // below: it finishes instead of undoing
		}
		t.Run(string(step), func(t *testing.T) {
			f.t = t
			var frozen func()
			if i == 0 {
				frozen = func() { // while a run holds the lock, a second one is refused and reconcile waits
					_, err := f.upgradeGateway("v4")
					if app.KindOf(err) != app.KindConflict || app.KindConflict.ExitCode() != 5 {
						t.Errorf("second upgrade while one runs: %v", err)
					}
					if runs, err := f.up.Reconcile(ctx, f.cfg.Name); err != nil || len(runs) != 0 {
						t.Errorf("reconcile while a run holds the lock: %v, %v", runs, err)
					}
				}
			}
			f.killAt(upgrade.ActionUpgrade, f.to("v4"), step, 30*time.Second, frozen)
			runs, err := f.up.Reconcile(ctx, f.cfg.Name)
			if err != nil || len(runs) != 1 {
				t.Fatalf("reconcile: %v, %+v", err, runs)
			}
			recorded, _, _ := strings.Cut(string(step), "/") // a cut point inside a step is recorded as the step
			if runs[0].Outcome != upgrade.OutcomeInterrupted || !strings.Contains(runs[0].Reason, recorded) {
				t.Errorf("reconciled run = %+v", runs[0])
			}
			f.assertStable(v2ID, v1ID)
			if v := f.serving(); v != "v2" {
				t.Errorf("serving %q after reconcile, want v2", v)
			}
			if b, _ := os.ReadFile(f.cfgPath); string(b) != string(cfgBefore) {
				t.Errorf("config changed by an interrupted upgrade")
			}
		})
	}
	f.t = t

	t.Run("rolling_back", func(t *testing.T) {
		f.t = t
		f.killAt(upgrade.ActionUpgrade, f.to("v3"), upgrade.StepRollingBack, 3*time.Second, nil)
		runs, err := f.up.Reconcile(ctx, f.cfg.Name)
		if err != nil || len(runs) != 1 || runs[0].Outcome != upgrade.OutcomeInterrupted {
			t.Fatalf("reconcile: %v, %+v", err, runs)
		}
		if !strings.Contains(runs[0].Logs, "stand-in v3") {
			t.Errorf("v3's log lines not kept: %q", runs[0].Logs)
		}
		f.assertStable(v2ID, v1ID)
		f.serving()
	})

	t.Run("finalizing", func(t *testing.T) {
		f.t = t
		f.killAt(upgrade.ActionUpgrade, f.to("v4"), upgrade.StepFinalizing, 30*time.Second, nil)
		runs, err := f.up.Reconcile(ctx, f.cfg.Name)
		if err != nil || len(runs) != 1 || runs[0].Outcome != upgrade.OutcomeSucceeded {
			t.Fatalf("reconcile after the health check passed: %v, %+v", err, runs)
		}
		if v := f.serving(); v != "v4" {
			t.Errorf("serving %q, want v4 (the run had passed its health check)", v)
		}
		f.assertStable("", v2ID)
		if cfg := f.loadConfig(); cfg.Gateway.Image.Tag != "v4" {
			t.Errorf("config after a finished run: %+v", cfg.Gateway.Image)
		}
	})
	f.t = t
	hist, _ := f.up.History(ctx, f.cfg.Name, 0)
	interrupted := 0
	for _, h := range hist {
		if h.Outcome == upgrade.OutcomeInterrupted {
			interrupted++
		}
	}
	if want := len(upgrade.UpgradeSteps); interrupted != want { // every step but finalizing, plus rolling_back
		t.Errorf("history marks %d interrupted runs, want %d", interrupted, want)
	}
}

func TestRollbackKilledAtEachStepIsReconciled(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	x := f.gatewayName()
	v1ID := f.containers()[x].ID
	if _, err := f.upgradeGateway("v2"); err != nil {
		t.Fatalf("upgrade v1→v2: %v", err)
	}
	v2ID := f.containers()[x].ID
	for _, step := range upgrade.RollbackSteps {
		if step == upgrade.StepFinalizing {
			continue
		}
		t.Run(string(step), func(t *testing.T) {
			f.t = t
			f.killAt(upgrade.ActionRollback, config.Image{}, step, 30*time.Second, nil)
			runs, err := f.up.Reconcile(ctx, f.cfg.Name)
			if err != nil || len(runs) != 1 || runs[0].Outcome != upgrade.OutcomeInterrupted {
				t.Fatalf("reconcile: %v, %+v", err, runs)
			}
			f.assertStable(v2ID, v1ID)
			if v := f.serving(); v != "v2" {
				t.Errorf("serving %q, want v2", v)
			}
		})
	}
	t.Run("finalizing", func(t *testing.T) {
		f.t = t
		f.killAt(upgrade.ActionRollback, config.Image{}, upgrade.StepFinalizing, 30*time.Second, nil)
		runs, err := f.up.Reconcile(ctx, f.cfg.Name)
		if err != nil || len(runs) != 1 || runs[0].Outcome != upgrade.OutcomeSucceeded {
			t.Fatalf("reconcile: %v, %+v", err, runs)
		}
		f.assertStable(v1ID, v2ID)
		if v := f.serving(); v != "v1" {
			t.Errorf("serving %q, want v1", v)
		}
		if cfg := f.loadConfig(); cfg.Gateway.Image.Tag != "v1" {
			t.Errorf("config after the finished rollback: %+v", cfg.Gateway.Image)
		}
	})
}

func TestUpgradeFromDockerSaveArchive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const tag = "self-hosted-v18.5.7-ee"
	// A 'docker save' tarball of the v2 image under a release tag, written by go-containerregistry.
	srcRef, err := name.ParseReference(f.bed.Ref(testbed.Gateway, "v2"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := remote.Image(srcRef)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(f.dir, "gateway.tar")
	ref := f.bed.Repository(testbed.Gateway) + ":" + tag
	tagRef, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := tarball.WriteToFile(archive, tagRef, src); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // the loaded image is not the bed's: untag it once no container uses it
		objs, _ := f.eng.Objects(context.Background(), f.cfg.Name)
		for _, o := range objs {
			if o.Kind == engine.KindContainer {
				f.eng.Remove(context.Background(), o)
			}
		}
		if err := f.eng.RemoveImagesByRepository(context.Background(), f.bed.Registry+"/duobox-test/", []string{ref}); err != nil {
			t.Errorf("untag %s: %v", ref, err)
		}
	})

	// --local with an image the engine does not have: refused, nothing touched.
	if _, err := f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleGateway, To: f.to(tag), Source: upgrade.SourceLocal}); app.KindOf(err) != app.KindBadInput {
		t.Errorf("--local without the image: %v", err)
	}
	// The recommendation comes from the archive's own tags.
	img, _, err := upgrade.Target(ctx, upgrade.TargetInput{Config: f.loadConfig(), Role: stack.RoleGateway, Source: upgrade.SourceArchive, Archive: archive})
	if err != nil || img.Tag != tag {
		t.Fatalf("target from archive = %+v, %v", img, err)
	}
	run, err := f.up.Upgrade(ctx, upgrade.Request{Config: f.loadConfig(), Role: stack.RoleGateway, To: img, Source: upgrade.SourceArchive, Archive: archive})
	if err != nil || run.Outcome != upgrade.OutcomeSucceeded {
		t.Fatalf("upgrade from archive: %v (%+v)", err, run)
	}
	if v := f.serving(); v != "v2" {
		t.Errorf("serving %q, want the archive's v2 build", v)
	}
	if cfg := f.loadConfig(); cfg.Gateway.Image.Tag != tag {
		t.Errorf("config = %+v", cfg.Gateway.Image)
	}
}

func TestCheckAndTargetAgainstTestBedRegistry(t *testing.T) {
	bed := testbed.Start(t)
	ctx := context.Background()
	for _, tag := range []string{"self-hosted-v18.5.0-ee", "self-hosted-v18.5.1-ee", "self-hosted-v18.5.10-ee", "self-hosted-v18.6.0-ee", "latest"} {
		bed.Push(t, testbed.Gateway, tag)
	}
	cfg := config.Deployment{Name: "dbu-check", GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5.2"},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "self-hosted-v18.5.0-ee"}}}.WithDefaults()

	rep, err := upgrade.Check(ctx, upgrade.CheckInput{Config: cfg, Role: stack.RoleGateway})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recommended == nil || *rep.Recommended != "self-hosted-v18.5.10-ee" || len(rep.Available) != 3 || rep.UpToDate || rep.Source != "registry" {
		t.Fatalf("check = %+v", rep)
	}
	if rep.Digests["self-hosted-v18.5.10-ee"] != bed.Digest(t, bed.Ref(testbed.Gateway, "self-hosted-v18.5.10-ee")) || rep.Digests[rep.Current] == "" {
		t.Errorf("digests = %v", rep.Digests)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "self-hosted-v18.6.0-ee") {
		t.Errorf("no warning about the 18.6 tag: %q", rep.Warnings)
	}
	js, _ := json.Marshal(rep)
	for _, k := range []string{`"current":"self-hosted-v18.5.0-ee"`, `"recommended":"self-hosted-v18.5.10-ee"`, `"available":[`} {
		if !strings.Contains(string(js), k) {
			t.Errorf("JSON %s lacks %s", js, k)
		}
	}
	// A GitLab minor with no gateway yet: recommended is null.
	rep, err = upgrade.Check(ctx, upgrade.CheckInput{Config: cfg, Role: stack.RoleGateway, GitLabVersion: "18.7"})
	if js, _ := json.Marshal(rep); err != nil || !strings.Contains(string(js), `"recommended":null`) {
		t.Errorf("18.7: %s, %v", js, err)
	}

	target := func(to string, force bool) (config.Image, error) {
		img, _, err := upgrade.Target(ctx, upgrade.TargetInput{Config: cfg, Role: stack.RoleGateway, To: to, Force: force})
		return img, err
	}
	if img, err := target("", false); err != nil || img.Tag != "self-hosted-v18.5.10-ee" {
		t.Errorf("recommended target = %+v, %v", img, err)
	}
	if _, err := target("self-hosted-v18.5.99-ee", false); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown tag: %v", err)
	}
	if _, err := target("self-hosted-v18.6.0-ee", false); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--force") {
		t.Errorf("another minor: %v", err)
	}
	if img, err := target("self-hosted-v18.6.0-ee", true); err != nil || img.Tag != "self-hosted-v18.6.0-ee" {
		t.Errorf("another minor with --force: %+v, %v", img, err)
	}
	if _, err := target("latest", false); app.KindOf(err) != app.KindBadInput {
		t.Errorf("latest: %v", err)
	}
	upToDate := cfg
	upToDate.Gateway.Image.Tag = "self-hosted-v18.5.10-ee"
	if _, _, err := upgrade.Target(ctx, upgrade.TargetInput{Config: upToDate, Role: stack.RoleGateway}); !errors.Is(err, upgrade.ErrUpToDate) {
		t.Errorf("up to date: %v", err)
	}
	// The registry unreachable: an environment problem that names the offline way.
	gone := cfg
	gone.Gateway.Image.Repository = fmt.Sprintf("127.0.0.1:%d/duobox-test/gateway", freePort(t))
	if _, err := upgrade.Check(ctx, upgrade.CheckInput{Config: gone, Role: stack.RoleGateway}); app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "--tags-from") {
		t.Errorf("unreachable registry: %v", err)
	}
	// --tags-from instead of the registry.
	rep, err = upgrade.Check(ctx, upgrade.CheckInput{Config: gone, Role: stack.RoleGateway, Tags: []string{"self-hosted-v18.5.3-ee", "nightly"}})
	if err != nil || rep.Source != "file" || rep.Recommended == nil || *rep.Recommended != "self-hosted-v18.5.3-ee" {
		t.Errorf("tags from file: %+v, %v", rep, err)
	}
}
