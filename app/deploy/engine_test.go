package deploy_test

// These tests run the stack on the real Docker engine with the test bed's
// stand-in images, pulled from an in-process registry on 127.0.0.1.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/testbed"
)

var seq atomic.Int64

// fixture is one test's stack: unique name, its own ports, secrets and log dir.
type fixture struct {
	t       *testing.T
	eng     *docker.Engine
	bed     *testbed.Bed
	cfg     config.Deployment
	secrets string
	logDir  string
	dep     *deploy.Deployer
}

func newFixture(t *testing.T, gitlabVersion string) *fixture {
	t.Helper()
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	f := &fixture{t: t, eng: eng, bed: bed, secrets: t.TempDir(), logDir: t.TempDir()}
	ports, err := testbed.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("dbt-%d-%d", os.Getpid()%100000, seq.Add(1))
	f.cfg = config.Deployment{
		Name:   name,
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: gitlabVersion},
		Host:   "gpu-box.example.com",
		Mode:   config.ModeCPU,
		Models: []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: "v1",
			HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "v1",
			HealthCmd: testbed.HealthCmd(testbed.Gateway)}, Port: ports[0], AgentPort: ports[1]},
	}.WithDefaults()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.dep = &deploy.Deployer{Engine: eng, Store: st, HealthTimeout: 60 * time.Second}
	t.Cleanup(func() {
		if _, err := f.dep.Down(context.Background(), name, true); err != nil {
			t.Errorf("cleanup down: %v", err)
		}
		if objs, _ := eng.Objects(context.Background(), name); len(objs) > 0 {
			t.Errorf("left behind: %+v", objs)
		}
	})
	return f
}

func (f *fixture) spec() stack.Spec {
	f.t.Helper()
	s, err := stack.Build(f.cfg, stack.Options{Catalog: catalog.Catalog{}, SecretsDir: f.secrets, LogDir: f.logDir})
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := stack.EnsureKeys(s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) up() (deploy.Report, error) {
	return f.dep.Up(context.Background(), f.spec())
}

func (f *fixture) objects() []engine.Object {
	objs, err := f.eng.Objects(context.Background(), f.cfg.Name)
	if err != nil {
		f.t.Fatal(err)
	}
	return objs
}

func did(rep deploy.Report) map[string]string {
	out := map[string]string{}
	for _, a := range rep.Actions {
		out[a.Name] = a.Did
	}
	return out
}

func TestStackLifecycleOnRealEngine(t *testing.T) {
	f := newFixture(t, "18.5")
	model, gateway := stack.ModelContainerName(f.cfg.Name, 0), stack.GatewayContainerName(f.cfg.Name)
	ctx := context.Background()

	rep, err := f.up()
	if err != nil {
		t.Fatalf("first up: %v", err)
	}
	if got := did(rep); got[model] != "created" || got[gateway] != "created" || got[f.cfg.Network] != "created" {
		t.Fatalf("first up actions = %v", got)
	}
	st, err := f.dep.Status(ctx, f.spec())
	if err != nil || !st.Healthy {
		t.Fatalf("status after up = %+v, %v", st, err)
	}

	// The model, called through the gateway over the container network, with a token the gateway's own key signed.
	key, err := os.ReadFile(filepath.Join(f.secrets, stack.SecretAIGWSigningKey))
	if err != nil {
		t.Fatal(err)
	}
	token, err := deploy.MintCheckToken(key, deploy.Caller{}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	check := deploy.ModelCheck{GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", f.cfg.Gateway.Port), Token: token,
		Family: "mistral", Endpoint: stack.ModelEndpoint(f.cfg.Name, 0), Identifier: "custom_openai/mistral-7b"}
	res, err := deploy.CheckModel(ctx, check)
	if err != nil || res.Status != 200 || !strings.Contains(res.Body, "Hello from mistral-7b") {
		t.Fatalf("model check through gateway = %+v, %v", res, err)
	}
	check.Identifier = "custom_openai/wrong-name"
	if res, _ := deploy.CheckModel(ctx, check); res.Status != 421 || !strings.Contains(res.Body, "404") {
		t.Errorf("wrong identifier: want 421 with the model's 404, got %+v", res)
	}
	check.Token = ""
	if res, _ := deploy.CheckModel(ctx, check); res.Status != 401 {
		t.Errorf("no token: want 401 (auth bypass is off), got %+v", res)
	}

	// Up twice: nothing changes.
	for i := 0; i < 2; i++ {
		rep, err = f.up()
		if err != nil {
			t.Fatalf("repeat up %d: %v", i, err)
		}
		for name, d := range did(rep) {
			if d != "kept" {
				t.Errorf("repeat up %d: %s was %s, want kept", i, name, d)
			}
		}
	}

	// Someone removes the gateway and leaves a stray labelled container: up repairs both.
	gw, err := f.eng.Lookup(ctx, engine.KindContainer, gateway)
	if err != nil {
		t.Fatal(err)
	}
	testbed.DockerCLI(t, "rm", "-f", gw.ID)
	stray := stack.Container{Name: f.cfg.Name + "-stray", Role: stack.RoleModel, Image: f.cfg.ModelServer.Ref(),
		Labels: map[string]string{stack.LabelManaged: "true", stack.LabelStack: f.cfg.Name, stack.LabelRole: stack.RoleModel}}
	if _, err := f.eng.CreateContainer(ctx, stray, f.cfg.Network, nil); err != nil {
		t.Fatal(err)
	}
	rep, err = f.up()
	if err != nil {
		t.Fatalf("reconcile up: %v", err)
	}
	if got := did(rep); got[gateway] != "created" || got[model] != "kept" || got[stray.Name] != "removed" {
		t.Fatalf("reconcile actions = %v", got)
	}

	// Change only the gateway's image: only the gateway is recreated.
	f.cfg.Gateway.Image.Tag = "v2"
	rep, err = f.up()
	if err != nil {
		t.Fatalf("up after config change: %v", err)
	}
	if got := did(rep); got[gateway] != "recreated" || got[model] != "kept" {
		t.Fatalf("after changing the gateway tag: %v", got)
	}

	if _, err := f.dep.Restart(ctx, f.spec(), stack.RoleGateway); err != nil {
		t.Fatalf("restart gateway: %v", err)
	}

	// Down keeps the weights volume; the volume goes only on request.
	if _, err := f.dep.Down(ctx, f.cfg.Name, false); err != nil {
		t.Fatal(err)
	}
	objs := f.objects()
	if len(objs) != 1 || objs[0].Kind != engine.KindVolume {
		t.Fatalf("after down: %+v, want only the HF cache volume", objs)
	}
	recorded, err := deploy.Recorded(ctx, f.dep.Store, f.cfg.Name)
	if err != nil || len(recorded) != 1 {
		t.Fatalf("state database after down: %+v, %v", recorded, err)
	}
}

// assertNothingLeft checks that a failed up removed what it created.
func assertNothingLeft(t *testing.T, f *fixture) {
	t.Helper()
	if objs := f.objects(); len(objs) > 0 {
		t.Fatalf("failed up left objects behind: %+v", objs)
	}
}

func wantProblem(t *testing.T, err error, kind app.Kind, text string) {
	t.Helper()
	var p *app.Problem
	if !errors.As(err, &p) || p.Kind != kind || !strings.Contains(p.Error(), text) {
		t.Fatalf("want a kind-%d problem mentioning %q, got %v", kind, text, err)
	}
	if p.Fix == "" {
		t.Errorf("problem has no fix: %v", err)
	}
}

func TestUpContainerExitsAtOnceShowsExitCodeAndLogs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.cfg.ModelServer.Env = map[string]string{"DUOBOX_FAKE_CRASH_AT_START": "3"}
	_, err := f.up()
	wantProblem(t, err, app.KindNotReady, "exited with code 3")
	if !strings.Contains(err.Error(), "Engine core initialization failed") {
		t.Errorf("error lacks the container's last log lines: %v", err)
	}
	assertNothingLeft(t, f)
}

func TestUpNeverHealthyTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.cfg.Gateway.Image.Tag = "v3" // never healthy
	f.dep.HealthTimeout = 3 * time.Second
	_, err := f.up()
	wantProblem(t, err, app.KindNotReady, "did not become healthy")
	assertNothingLeft(t, f)
}

// TestUpModelNeverHealthyShowsItsOwnLines: the model server answers its
// health checks 503 forever; the message's last log lines are the model's
// own start-up lines, not the access lines of the health checks, and it
// points at no 'docker logs' of the container the failed up removes (issue 16).
func TestUpModelNeverHealthyShowsItsOwnLines(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.cfg.ModelServer.Tag = "v3" // never healthy
	f.dep.HealthTimeout = 6 * time.Second
	_, err := f.up()
	wantProblem(t, err, app.KindNotReady, "did not become healthy")
	msg := err.Error()
	if !strings.Contains(msg, "GPU KV cache size") || strings.Contains(msg, "GET /health") || strings.Contains(msg, "docker logs") ||
		!strings.Contains(msg, "health-check request lines left out") {
		t.Errorf("want the model's own last lines, the health checks left out and said so: %s", msg)
	}
	assertNothingLeft(t, f)
}

func TestUpPortTaken(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f.cfg.Gateway.Port = l.Addr().(*net.TCPAddr).Port
	_, err = f.up()
	wantProblem(t, err, app.KindEnvironment, fmt.Sprintf("port %d", f.cfg.Gateway.Port))
	assertNothingLeft(t, f)
}

func TestUpNonexistentTag(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.cfg.Gateway.Image.Tag = "self-hosted-v17.9.99-ee"
	_, err := f.up()
	wantProblem(t, err, app.KindEnvironment, "does not exist")
	assertNothingLeft(t, f)
}

func TestUpTooLittleDisk(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.bed.PushUnique(t, testbed.Gateway, "fresh", 64<<10)
	f.cfg.Gateway.Image.Tag = "fresh"
	f.dep.FreeDisk = func(string) (uint64, error) { return 1 << 20, nil }
	_, err := f.up()
	wantProblem(t, err, app.KindEnvironment, "too little disk")
	assertNothingLeft(t, f)
}

func TestUpRegistryDropsConnectionMidPull(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.eng.PullRetryLimit = 1
	f.bed.PushUnique(t, testbed.Gateway, "dropping", 1<<20)
	f.cfg.Gateway.Image.Tag = "dropping"
	f.bed.DropBlobs(true)
	var sawProgress bool
	f.dep.OnEvent = func(ev deploy.Event) {
		if ev.Kind == deploy.EventPull {
			sawProgress = true
		}
	}
	_, err := f.up()
	wantProblem(t, err, app.KindEnvironment, "registry")
	if !sawProgress {
		t.Error("no pull progress event")
	}
	assertNothingLeft(t, f)
}

func TestUpGPUModeWithoutNvidiaRuntimeSaysSoFirst(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	if ok, _ := f.eng.Probe(context.Background()).GPUAccess(); ok {
		t.Skip("this engine has GPU access")
	}
	f.cfg.Mode = config.ModeGPU
	_, err := f.up()
	wantProblem(t, err, app.KindEnvironment, "NVIDIA")
	if !strings.Contains(err.Error(), "nvidia-ctk runtime configure") {
		t.Errorf("fix does not name the toolkit step: %v", err)
	}
	assertNothingLeft(t, f)
}

func TestUpEngineUnreachable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no-engine.sock"))
	eng, err := docker.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	cfg := config.Deployment{Name: "dbt-unreachable", GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "17.9"},
		Host: "gpu-box.example.com", Mode: config.ModeCPU, Models: []config.Model{{HFRepo: "a/b"}}}.WithDefaults()
	s, err := stack.Build(cfg, stack.Options{SecretsDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&deploy.Deployer{Engine: eng}).Up(context.Background(), s)
	if !errors.Is(err, app.ErrEngineUnreachable) || app.KindOf(err) != app.KindEnvironment {
		t.Fatalf("want engine-unreachable environment problem, got %v", err)
	}
}

func TestUpRefusesForeignContainerWithItsName(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	ctx := context.Background()
	if _, err := f.up(); err != nil {
		t.Fatal(err)
	}
	// Replace the gateway with a same-named container that lacks DuoBox's label.
	name := stack.GatewayContainerName(f.cfg.Name)
	gw, _ := f.eng.Lookup(ctx, engine.KindContainer, name)
	testbed.DockerCLI(t, "rm", "-f", gw.ID)
	foreign := stack.Container{Name: name, Image: f.cfg.ModelServer.Ref(), Labels: map[string]string{"owner": "someone"}}
	id, err := f.eng.CreateContainer(ctx, foreign, f.cfg.Network, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
	_, err = f.up()
	wantProblem(t, err, app.KindConflict, "was not created by DuoBox")
	if _, err := f.eng.Inspect(ctx, id); err != nil {
		t.Fatalf("the foreign container was touched: %v", err)
	}
	testbed.DockerCLI(t, "rm", "-f", id)
}

func TestLogDirNotWritable(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	err := deploy.LogDirWritable(filepath.Join(file, "logs"))
	wantProblem(t, err, app.KindEnvironment, "log directory")
}

func TestUpForeignPlatformImageWithoutEmulationIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	if f.eng.CanEmulate(context.Background(), "linux/arm64") {
		t.Skip("this host emulates arm64")
	}
	f.bed.PushForeignPlatform(t, testbed.Gateway, "arm64-only", "arm64")
	f.cfg.Gateway.Image.Tag = "arm64-only"
	_, err := f.up()
	if !errors.Is(err, engine.ErrPlatform) {
		t.Fatalf("want ErrPlatform, got %v", err)
	}
	wantProblem(t, err, app.KindEnvironment, "no variant for")
	assertNothingLeft(t, f)
}

// armHostWithEmulation is the real engine, except that it reports an arm64
// host with amd64 emulation: this machine has no arm64 engine to test on.
type armHostWithEmulation struct{ *docker.Engine }

func (e armHostWithEmulation) Probe(ctx context.Context) hardware.Engine {
	p := e.Engine.Probe(ctx)
	p.Arch = "aarch64"
	return p
}

// ServerArch is the cheap answer deploy asks first; it must tell the same.
func (e armHostWithEmulation) ServerArch(context.Context) (string, error) { return "arm64", nil }

func (e armHostWithEmulation) CanEmulate(context.Context, string) bool { return true }

func TestUpPlatformMismatch_FakeArmHostReport_RunsAmd64ImageWithPlatformAndSaysSo(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "17.9")
	f.dep.Engine = armHostWithEmulation{f.eng}
	var warnings []string
	f.dep.OnEvent = func(ev deploy.Event) {
		if ev.Kind == deploy.EventWarning {
			warnings = append(warnings, ev.Message)
		}
	}
	if _, err := f.up(); err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 2 || !strings.Contains(warnings[0], "does not match the detected host platform (linux/arm64)") {
		t.Fatalf("warnings = %q", warnings)
	}
	// Status agrees the stack matches (the platform is part of the hash), and a second up changes nothing.
	if st, err := f.dep.Status(context.Background(), f.spec()); err != nil || !st.Healthy {
		t.Fatalf("status = %+v, %v", st, err)
	}
	rep, err := f.up()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range did(rep) {
		if d != "kept" {
			t.Errorf("second up: %s %s", name, d)
		}
	}
}

// TestUpImageWithoutPython3ProbesHealthFromOutside: the stand-in images are
// scratch images with no python3, as a user's CPU build or patched image may
// be. With DuoBox's default health command (python3) the check cannot run in
// them, so up probes the health URL from outside, at the container's
// address, and says so; "none" does the same without trying.
func TestUpImageWithoutPython3ProbesHealthFromOutside(t *testing.T) {
	f := newFixture(t, "18.5")
	f.cfg.ModelServer.HealthCmd = nil
	f.cfg.Gateway.Image.HealthCmd = []string{"NONE"}
	var steps []string
	f.dep.OnEvent = func(e deploy.Event) {
		if e.Kind == deploy.EventStep {
			steps = append(steps, e.Message)
		}
	}
	if _, err := f.up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	all := strings.Join(steps, "\n")
	if !strings.Contains(all, `the image has no "python3" for its health check, so DuoBox probes http://`) ||
		!strings.Contains(all, ":8000/health from outside") || !strings.Contains(all, "its health check is off (NONE), so DuoBox probes http://") ||
		!strings.Contains(all, ":5052/monitoring/healthz from outside") {
		t.Errorf("steps:\n%s", all)
	}
	st, err := f.dep.Status(context.Background(), f.spec())
	if err != nil || !st.Healthy {
		t.Fatalf("status: %+v %v", st, err)
	}
	for _, c := range st.Containers {
		if c.Role == stack.RoleModel && (c.Health != "healthy" || !strings.Contains(c.HealthNote, `the image has no "python3"`)) {
			t.Errorf("model status %+v", c)
		}
	}
}

func TestCommandMissingAndOutsideURL(t *testing.T) {
	for _, c := range []struct {
		code int
		err  error
		want bool
	}{{127, nil, true}, {126, nil, true}, {1, nil, false}, {0, nil, false},
		{-1, errors.New(`OCI runtime exec failed: exec failed: unable to start container process: exec: "python3": executable file not found in $PATH: unknown`), true},
		{-1, errors.New("context deadline exceeded"), false}} {
		if got := deploy.CommandMissing(c.code, c.err); got != c.want {
			t.Errorf("CommandMissing(%d, %v) = %v", c.code, c.err, got)
		}
	}
	if got := deploy.OutsideURL("http://127.0.0.1:5052/monitoring/healthz", "172.18.0.3"); got != "http://172.18.0.3:5052/monitoring/healthz" {
		t.Errorf("OutsideURL = %q", got)
	}
	if got := deploy.OutsideURL("http://127.0.0.1:5052/monitoring/healthz", ""); got != "" {
		t.Errorf("no address: %q", got)
	}
}
