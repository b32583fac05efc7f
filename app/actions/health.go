package actions

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

// healthEnv is what health and test share: the config, the engine and the state database.
type healthEnv struct {
	cfg    config.Deployment
	dirs   paths.Dirs
	engine Engine
	store  *store.Store
	gpus   health.GPUSampler
}

func (c *Core) openHealthEnv(ctx context.Context) (*healthEnv, error) {
	cfg, dirs, err := c.LoadDeployment()
	if err != nil {
		return nil, err
	}
	eng, err := c.connectLive(ctx)
	if err != nil {
		return nil, err
	}
	st, err := c.openStore(ctx, dirs, true)
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &healthEnv{cfg: cfg, dirs: dirs, engine: eng, store: st, gpus: c.GPUs}, nil
}

func (e *healthEnv) close() {
	e.store.Close()
	e.engine.Close()
}

// keptHealthEnv returns the kept health environment, opening it when needed
// (the window checks every few seconds).
func (c *Core) keptHealthEnv(ctx context.Context) (*healthEnv, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.henv != nil {
		return c.henv, nil
	}
	env, err := c.openHealthEnv(ctx)
	if err != nil {
		return nil, err
	}
	c.henv = env
	return env, nil
}

// ConfigChanged drops what was kept for the old config.
func (c *Core) ConfigChanged() { c.dropHealthEnv() }

func (c *Core) dropHealthEnv() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.henv != nil {
		c.henv.close()
		c.henv = nil
	}
}

// gatewayURL is the gateway as GitLab reaches it.
func (e *healthEnv) gatewayURL() string {
	return "http://" + net.JoinHostPort(strings.Trim(config.HostForURL(e.cfg.Host), "[]"), strconv.Itoa(e.cfg.Gateway.Port))
}

// agentAddr is the Agent Platform's gRPC address as GitLab reaches it, or ""
// when this GitLab version's gateway does not run it.
func (e *healthEnv) agentAddr() string {
	v, err := version.Parse(e.cfg.GitLab.Version)
	if err != nil || !stack.HasAgentPlatform(v) {
		return ""
	}
	return net.JoinHostPort(strings.Trim(config.HostForURL(e.cfg.Host), "[]"), strconv.Itoa(e.cfg.Gateway.AgentPort))
}

func (e *healthEnv) servedName() string {
	if len(e.cfg.Models) == 0 {
		return ""
	}
	return e.cfg.Models[0].Name()
}

// checker builds the health checker; the recognised events of each
// container's newest lines explain failures and are stored (the KV cache
// capacity vLLM printed feeds the dashboard).
func (e *healthEnv) checker(ctx context.Context) *health.Checker {
	src := e.engine.LogSource()
	rec := health.Recorder{Store: e.store}
	return &health.Checker{
		Engine: e.engine,
		GPUs:   e.gpus,
		Target: health.Target{Stack: e.cfg.Name, ServedName: e.servedName(), GatewayURL: e.gatewayURL(), ModelPort: stack.ModelPort,
			AgentAddr: e.agentAddr()},
		Events: func(role string) []logs.Event {
			c, err := e.engine.ManagedContainer(ctx, e.cfg.Name, role)
			if err != nil || !c.Exists {
				return nil
			}
			evs, recs, err := health.ScanLogEvents(ctx, src, c.Name, 2000)
			if err != nil {
				return nil
			}
			for _, r := range recs {
				_ = rec.SaveEvent(ctx, e.cfg.Name, role, c.Name, r.Time, *r.Event)
			}
			return evs
		},
	}
}

// withCapacity adds what vLLM reported about its KV cache at its last start.
func (e *healthEnv) withCapacity(ctx context.Context, r *health.Report) {
	if c, err := (health.Recorder{Store: e.store}).LatestCapacity(ctx, e.cfg.Name); err == nil && !c.ReportedAt.IsZero() {
		r.KVCache = &c
	}
}

// ErrNotDeployed marks health, status, test and logs asked about a stack
// that has no containers: every command exits with the same status for it.
var ErrNotDeployed = errors.New("nothing deployed")

// NotDeployed is the problem every action reports when the stack has no containers.
func NotDeployed(stackName string) error {
	return &app.Problem{Kind: app.KindNotReady, Err: ErrNotDeployed, Remedy: app.RemedyDeploy, Severity: app.SeverityNote,
		What: fmt.Sprintf("nothing is deployed: the stack %q has no containers", stackName)}
}

// Health checks the stack once ('duobox health'), records the report, and
// returns it. A stack that is not ok is not an error here; CheckError says
// which status a command should fail with.
func (c *Core) Health(ctx context.Context) (health.Report, error) {
	env, err := c.openHealthEnv(ctx)
	if err != nil {
		return health.Report{}, err
	}
	defer env.close()
	return env.check(ctx, c)
}

func (e *healthEnv) check(ctx context.Context, c *Core) (health.Report, error) {
	r, err := e.checker(ctx).Check(ctx)
	if err != nil {
		return r, err
	}
	e.withCapacity(ctx, &r)
	if e.store.ReadOnly {
		return r, nil // said when it was opened
	}
	if err := (health.Recorder{Store: e.store}).SaveReport(ctx, r); err != nil {
		c.warn(err.Error())
	}
	return r, nil
}

// HealthError is the problem a health report amounts to (nil when ok).
func HealthError(r health.Report) error {
	switch r.Status {
	case health.StatusOK:
		return nil
	case health.StatusNotDeployed:
		return NotDeployed(r.Stack)
	}
	return &app.Problem{Kind: app.KindNotReady, What: fmt.Sprintf("the stack is %s: %s", r.Status, r.Reason), Fix: r.Fix}
}

// WatchHealth re-checks on every engine event about the containers and
// every interval, until ctx ends.
func (c *Core) WatchHealth(ctx context.Context, interval time.Duration, on func(health.Report), onErr func(error)) error {
	env, err := c.openHealthEnv(ctx)
	if err != nil {
		return err
	}
	defer env.close()
	m := &health.Monitor{Checker: env.checker(ctx), Recorder: &health.Recorder{Store: env.store}, Interval: interval}
	err = m.Run(ctx, func(r health.Report) {
		env.withCapacity(ctx, &r)
		on(r)
	}, onErr)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// StackReport is one health check as the Dashboard shows it.
type StackReport struct {
	Status     string // ok, starting, degraded, down, not_deployed
	Reason     string
	Fix        string
	Containers []ContainerCard
	Banners    []Banner
	GPUError   string
}

// ContainerCard is one container's card on the Dashboard.
type ContainerCard struct {
	Role         string // model or gateway
	Name         string
	Exists       bool
	State        string // running, exited, restarting, …
	Health       string // healthy, starting, unhealthy, ""
	HealthReason string // the probe's detail, or why it is not healthy
	StartedAt    time.Time
	Restarts     int
	Image        string // repository:tag
	Digest       string
	// GPUMemory is the history of the GPU memory in use, as fractions of
	// the card's total, oldest first (model container only).
	GPUMemory []float64
	Latency   time.Duration // the last probe's latency; 0 when unknown
	Notes     []string      // what the log said that is worth knowing (e.g. KV cache size)
	// NoGPU: the container runs without a GPU (CPU mode), so there is no sparkline.
	NoGPU bool
}

// Banner is a recognised failure with its fix.
type Banner struct {
	Role    string
	Summary string
	Fix     string
}

// Dashboard runs the same check as Health, keeping the engine and the
// database open between calls, and turns it into the Dashboard's cards with
// the GPU memory of the last 30 minutes.
func (c *Core) Dashboard(ctx context.Context) (StackReport, error) {
	env, err := c.keptHealthEnv(ctx)
	if err != nil {
		return StackReport{}, err
	}
	r, err := env.check(ctx, c)
	if err != nil {
		c.dropHealthEnv() // the engine may have gone; reconnect next time
		return StackReport{}, err
	}
	cpu := env.cfg.Mode == config.ModeCPU
	out := StackReport{Status: string(r.Status), Reason: r.Reason, Fix: r.Fix}
	if !cpu {
		out.GPUError = r.GPUError
	}
	notes := map[string][]string{}
	for _, e := range r.Events {
		if e.Severity >= logs.LevelWarning || e.Fix != "" {
			out.Banners = append(out.Banners, Banner{Role: e.Role, Summary: e.Summary, Fix: e.Fix})
		} else {
			notes[e.Role] = append(notes[e.Role], e.Summary)
		}
	}
	rec := health.Recorder{Store: env.store}
	for _, ct := range r.Containers {
		card := ContainerCard{Role: ct.Role, Name: ct.Name, Exists: ct.Exists, State: ct.Status, Health: ct.Health,
			StartedAt: ct.StartedAt, Restarts: ct.Restarts, Notes: notes[ct.Role], NoGPU: cpu}
		img := upgrade.ImageOf(env.cfg, ct.Role)
		card.Image, card.Digest = img.Repository+":"+img.Tag, img.Digest
		if card.Digest == "" && ct.Exists {
			if info, err := env.engine.Image(ctx, img.Ref()); err == nil && len(info.RepoDigests) > 0 {
				_, card.Digest, _ = strings.Cut(info.RepoDigests[0], "@")
			}
		}
		if i := strings.LastIndex(img.Repository, "/"); i >= 0 {
			card.Image = img.Repository[i+1:] + ":" + img.Tag
		}
		for _, p := range r.Probes {
			if strings.HasPrefix(p.Name, ct.Role) {
				card.Latency = p.Latency
				if !p.OK {
					card.HealthReason = p.Detail
				}
			}
		}
		if ct.OOMKilled {
			card.HealthReason = "killed for lack of memory (OOM); " + card.HealthReason
		}
		if ct.Role == stack.RoleModel {
			card.GPUMemory = gpuHistory(ctx, rec, env.cfg)
		}
		out.Containers = append(out.Containers, card)
	}
	return out, nil
}

// gpuHistory is the model's GPU memory use over the last 30 minutes, as
// fractions of the card.
func gpuHistory(ctx context.Context, rec health.Recorder, cfg config.Deployment) []float64 {
	index := 0
	if len(cfg.Models) > 0 && len(cfg.Models[0].GPUs) > 0 {
		index = cfg.Models[0].GPUs[0]
	}
	samples, err := rec.GPUHistory(ctx, index, time.Now().Add(-30*time.Minute))
	if err != nil {
		return nil
	}
	var out []float64
	for _, s := range samples {
		if s.MemoryTotal > 0 {
			out = append(out, float64(s.MemoryUsed)/float64(s.MemoryTotal))
		}
	}
	return out
}

// TestResult is the smoke test: a real completion to the model, then
// GitLab's Test connection call through the gateway.
type TestResult struct {
	health.SmokeResult
	Note string `json:"note,omitempty"`
}

// Test runs the smoke test ('duobox test', the Test button). A failed step
// is in the result; TestError turns it into the problem a command fails with.
func (c *Core) Test(ctx context.Context) (TestResult, error) {
	env, err := c.openHealthEnv(ctx)
	if err != nil {
		return TestResult{}, err
	}
	defer env.close()
	if len(env.cfg.Models) == 0 {
		return TestResult{}, &app.Problem{Kind: app.KindBadInput, What: "the deployment config has no model", Remedy: app.RemedyConfigure}
	}
	model, err := env.engine.ManagedContainer(ctx, env.cfg.Name, stack.RoleModel)
	if err != nil {
		return TestResult{}, err
	}
	gw, err := env.engine.ManagedContainer(ctx, env.cfg.Name, stack.RoleGateway)
	if err != nil {
		return TestResult{}, err
	}
	if !model.Exists && !gw.Exists {
		return TestResult{}, NotDeployed(env.cfg.Name)
	}
	target := health.SmokeTarget{ServedName: env.servedName(), GatewayURL: env.gatewayURL(),
		ModelEndpoint: stack.ModelEndpoint(env.cfg.Name, 0)}
	if model.Running && model.IPAddress != "" {
		target.ModelURL = "http://" + net.JoinHostPort(model.IPAddress, strconv.Itoa(stack.ModelPort))
	}
	if cat, err := c.Catalog(); err == nil {
		if m, ok := cat.Find(env.cfg.Models[0].HFRepo); ok {
			target.Family = m.Family
		}
	}
	var res TestResult
	if !env.cfg.Gateway.AuthBypass {
		key, err := os.ReadFile(filepath.Join(env.dirs.Secrets(), stack.SecretAIGWSigningKey))
		switch {
		case errors.Is(err, os.ErrNotExist):
			res.Note = "DuoBox has no self-signed key pair for this gateway version, so the check call goes without a token; a 401 is expected there: use GitLab's Test connection button"
		case err != nil:
			return res, fmt.Errorf("read the gateway signing key: %w", err)
		default:
			if target.Token, err = deploy.MintCheckToken(key, deploy.DefaultCaller, 5*time.Minute); err != nil {
				return res, err
			}
		}
	}
	res.SmokeResult = health.Smoke(ctx, nil, target)
	return res, nil
}

// TestError is the problem a failed smoke test amounts to (nil when it passed).
func TestError(r TestResult) error {
	if r.OK {
		return nil
	}
	for _, s := range r.Steps {
		if !s.OK && !s.Skipped {
			return &app.Problem{Kind: app.KindNotReady, What: fmt.Sprintf("%s failed: %s", s.Name, s.Diagnosis), Fix: s.Fix}
		}
	}
	return &app.Problem{Kind: app.KindNotReady, What: "the smoke test did not pass"}
}
