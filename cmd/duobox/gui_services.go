package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/secrets"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/app/weights"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
	"github.com/duobox/duobox/ui"
)

// guiServices wires the window's services to the same functions the CLI
// commands run. The returned func releases what they keep open.
func guiServices(g *globals) (ui.Services, func()) {
	s := &guiState{g: g}
	path, _ := g.configFile()
	dirs, _ := g.dirs()
	return ui.Services{
		Detect:            s.detect,
		Recommend:         s.recommend,
		RecommendWith:     s.recommendWith,
		StartMemory:       s.startMemory,
		ReadGitLabVersion: s.readGitLabVersion,
		ConfigPath:        path,
		LoadConfig:        func() (config.Deployment, error) { return config.Load(path) },
		SaveConfig:        s.saveConfig,
		WatchConfig: func(ctx context.Context, on func(config.Deployment), onErr func(error)) error {
			return config.Watch(ctx, path, func(d config.Deployment) { s.dropHealthEnv(); on(d) }, onErr)
		},
		Up:             s.up,
		PullWeights:    s.pullWeights,
		BuildDocsIndex: s.buildDocsIndex,
		SearchDocs:     s.searchDocs,
		Down:           s.down,
		Restart:        s.restart,
		Health:         s.health,
		Test:           s.test,
		FollowLogs:     s.followLogs,
		ExportDir:      dirs.Data,
		UpgradeCheck:   s.upgradeCheck,
		Upgrade:        s.upgrade,
		Rollback:       s.rollback,
		UpgradeHistory: s.upgradeHistory,
		Snippet:        s.snippet,
		ApplyGitLab:    s.applyGitLab,
		CreateBundle: func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.CreateResult, error) {
			return createBundle(ctx, g, bundle.CreateOptions{Output: file}, on)
		},
		LoadBundle: func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.LoadResult, error) {
			return loadBundle(ctx, g, file, on)
		},
	}, s.close
}

// guiState keeps the last detection and one health environment (engine
// and state database) between the dashboard's checks.
type guiState struct {
	g       *globals
	mu      sync.Mutex
	machine *hardware.Machine
	henv    *healthEnv
}

func (s *guiState) close() { s.dropHealthEnv() }

func (s *guiState) detect(ctx context.Context) (hardware.Machine, error) {
	var flags machineFlags
	rec := startRecorder(ctx, s.g)
	defer rec.close()
	m, err := flags.detectRecording(ctx, rec)
	if err == nil {
		s.mu.Lock()
		s.machine = &m
		s.mu.Unlock()
	}
	return m, err
}

func (s *guiState) recommend(_ context.Context, m hardware.Machine, gitlabVersion string) (recommend.Result, error) {
	c, err := loadCatalog(s.g)
	if err != nil {
		return recommend.Result{}, err
	}
	v, _, err := resolveGitLabVersion(s.g, gitlabVersion, c)
	if err != nil {
		return recommend.Result{}, err
	}
	return recommend.Recommend(m, c, recommend.Options{GitLab: v})
}

// startMemory reads the last start's measurement of each configured model.
func (s *guiState) startMemory(ctx context.Context) ([]recommend.StartRecord, error) {
	path, err := s.g.configFile()
	if err != nil {
		return nil, err
	}
	d, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	c, err := loadCatalog(s.g)
	if err != nil {
		return nil, err
	}
	dirs, err := s.g.dirs()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dirs.Database())
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []recommend.StartRecord
	for _, m := range d.Models {
		entry, ok := c.Find(m.HFRepo)
		if !ok {
			continue
		}
		row, err := st.LatestFitMeasurement(ctx, entry.ID)
		if err != nil {
			continue
		}
		var r recommend.StartRecord
		if json.Unmarshal(row.Predicted, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}

// recommendWith is recommend under the Choose screen's vLLM settings.
func (s *guiState) recommendWith(_ context.Context, m hardware.Machine, gitlabVersion string, opts recommend.Options) (recommend.Result, error) {
	c, err := loadCatalog(s.g)
	if err != nil {
		return recommend.Result{}, err
	}
	v, _, err := resolveGitLabVersion(s.g, gitlabVersion, c)
	if err != nil {
		return recommend.Result{}, err
	}
	opts.GitLab = v
	if opts.Engine == "" {
		opts.Engine = configuredEngine(s.g)
	}
	return recommend.Recommend(m, c, opts)
}

func (s *guiState) readGitLabVersion(ctx context.Context, raw string) (string, error) {
	u, err := gitlab.ParseURL(raw)
	if err != nil {
		return "", err
	}
	dirs, err := s.g.dirs()
	if err != nil {
		return "", err
	}
	token, err := gitlab.LoadToken(dirs)
	if err != nil {
		return "", err
	}
	inst, err := (&gitlab.Client{URL: u, Token: token}).Version(ctx)
	if err != nil {
		return "", err
	}
	return inst.Version, nil
}

// saveConfig is 'duobox init --force' with the Configure screen's answers.
func (s *guiState) saveConfig(ctx context.Context, in deploy.InitInput, hfToken string) (config.Deployment, []string, error) {
	v, err := version.Parse(in.GitLabVersion)
	if err != nil {
		return config.Deployment{}, nil, app.BadInput("type the version like 17.9 or 18.2.1", "%v", err)
	}
	cat, err := loadCatalog(s.g)
	if err != nil {
		return config.Deployment{}, nil, err
	}
	if err := recommend.CheckGitLabVersion(v, cat); err != nil {
		return config.Deployment{}, nil, err
	}
	s.mu.Lock()
	m := s.machine
	s.mu.Unlock()
	if m == nil {
		detected, err := s.detect(ctx)
		if err != nil {
			return config.Deployment{}, nil, err
		}
		m = &detected
	}
	in.Catalog = cat
	opts := in.VLLM
	opts.GitLab = v
	if in.Recommended, err = recommend.Recommend(*m, cat, opts); err != nil {
		return config.Deployment{}, nil, err
	}
	if !m.Engine.Reachable || len(m.NVIDIA()) == 0 {
		in.Mode = config.ModeCPU
	}
	if tags, err := listGatewayTags(ctx, s.g, config.Relocate(config.DefaultGatewayImage, in.GatewayRegistry)); err == nil {
		in.GatewayTags = tags
	}
	if hfToken = strings.TrimSpace(hfToken); hfToken != "" {
		if err := secrets.CheckHFToken(hfToken); err != nil {
			return config.Deployment{}, nil, app.BadInput("paste the token from https://huggingface.co/settings/tokens", "Hugging Face token: %v", err)
		}
	}
	d, notes, err := deploy.NewDeployment(in)
	if err != nil {
		return d, nil, err
	}
	dirs, err := s.g.dirs()
	if err != nil {
		return d, nil, err
	}
	if hfToken != "" {
		target := filepath.Join(dirs.Secrets(), stack.SecretHFToken)
		if err := config.WriteFileAtomic(target, []byte(hfToken+"\n"), 0o600); err != nil {
			return d, nil, app.Environment(err, "check that the secrets folder is writable", "cannot write %s: %v", target, err)
		}
	}
	prepared, err := deploy.Prepare(d, dirs, cat)
	if err != nil {
		return d, nil, err
	}
	path, err := s.g.configFile()
	if err != nil {
		return d, nil, err
	}
	if err := config.Save(path, d); err != nil {
		return d, nil, app.Environment(err, "check that the config folder is writable", "cannot write %s: %v", path, err)
	}
	return d, append(notes, prepared.Warnings...), nil
}

// withStack runs f on a freshly opened stack (config, spec, engine, store);
// prepare is deploy.Prepare, or deploy.PrepareReadOnly where nothing is created.
func (s *guiState) withStack(ctx context.Context, prepare func(config.Deployment, paths.Dirs, catalog.Catalog) (deploy.Prepared, error), f func(*stackEnv) error) error {
	env, err := openStack(ctx, s.g, prepare)
	if err != nil {
		return err
	}
	defer env.close()
	return f(env)
}

func (s *guiState) up(ctx context.Context, on func(deploy.Event)) error {
	return s.withStack(ctx, deploy.Prepare, func(env *stackEnv) error {
		for _, w := range env.prepared.Warnings {
			on(deploy.Event{Kind: deploy.EventWarning, Message: w})
		}
		env.deployer.OnEvent = on
		_, err := env.lockedUp(ctx, s.g)
		return err
	})
}

// pullWeights puts the configured models' weights into the hub cache the
// model container mounts (GPU mode), as 'duobox up' does before starting it.
func (s *guiState) pullWeights(ctx context.Context, on func(weights.Progress)) error {
	return s.withStack(ctx, deploy.Prepare, func(env *stackEnv) error {
		return deploy.EnsureWeights(ctx, env.prepared, env.cfg, env.catalog, on)
	})
}

// buildDocsIndex is 'duobox docs-index' for the Docs index section.
func (s *guiState) buildDocsIndex(ctx context.Context, req docsindex.Request) (docsindex.Result, error) {
	if req.Output == "" {
		out, err := defaultDocsIndex(s.g)
		if err != nil {
			return docsindex.Result{}, err
		}
		req.Output = out
	}
	return docsindex.Make(ctx, req)
}

// searchDocs is 'duobox docs-search' for the Docs index section.
func (s *guiState) searchDocs(ctx context.Context, index, query string, limit int) ([]docsindex.Hit, error) {
	if index == "" { // as 'duobox docs-search': the deployment's docs_index, else the default file
		out, err := searchIndexPath(s.g)
		if err != nil {
			return nil, err
		}
		index = out
	}
	return docsindex.Search(ctx, index, query, limit)
}

func (s *guiState) down(ctx context.Context) error {
	return s.withStack(ctx, deploy.PrepareReadOnly, func(env *stackEnv) error {
		unlock, err := env.holdStack(ctx, "down", func(string) {})
		if err != nil {
			return err
		}
		defer unlock()
		_, err = env.deployer.Down(ctx, env.prepared.Spec.Stack, false)
		return err
	})
}

func (s *guiState) restart(ctx context.Context, role string) error {
	return s.withStack(ctx, deploy.Prepare, func(env *stackEnv) error {
		unlock, err := env.holdStack(ctx, "restart", func(string) {})
		if err != nil {
			return err
		}
		defer unlock()
		_, err = env.deployer.Restart(ctx, env.prepared.Spec, role)
		return err
	})
}

// healthEnv returns the kept health environment, opening it when needed.
func (s *guiState) healthEnv(ctx context.Context) (*healthEnv, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.henv != nil {
		return s.henv, nil
	}
	env, err := openHealthEnv(ctx, s.g)
	if err != nil {
		return nil, err
	}
	s.henv = env
	return env, nil
}

// dropHealthEnv closes the kept environment (the config changed).
func (s *guiState) dropHealthEnv() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.henv != nil {
		s.henv.close()
		s.henv = nil
	}
}

// health runs the same check as 'duobox health', records it, and turns it
// into the dashboard's cards with the GPU memory of the last 30 minutes.
func (s *guiState) health(ctx context.Context) (ui.StackReport, error) {
	env, err := s.healthEnv(ctx)
	if err != nil {
		return ui.StackReport{}, err
	}
	r, err := env.checker(ctx).Check(ctx)
	if err != nil {
		s.dropHealthEnv() // the engine may have gone; reconnect next time
		return ui.StackReport{}, err
	}
	rec := health.Recorder{Store: env.store}
	_ = rec.SaveReport(ctx, r)
	cpu := env.cfg.Mode == config.ModeCPU
	out := ui.StackReport{Status: string(r.Status), Reason: r.Reason, Fix: r.Fix}
	if !cpu {
		out.GPUError = r.GPUError
	}
	notes := map[string][]string{}
	for _, e := range r.Events {
		if e.Severity >= logs.LevelWarning || e.Fix != "" {
			out.Banners = append(out.Banners, ui.Banner{Role: e.Role, Summary: e.Summary, Fix: e.Fix})
		} else {
			notes[e.Role] = append(notes[e.Role], e.Summary)
		}
	}
	for _, c := range r.Containers {
		card := ui.ContainerCard{Role: c.Role, Name: c.Name, Exists: c.Exists, State: c.Status, Health: c.Health,
			StartedAt: c.StartedAt, Restarts: c.RestartCount, Notes: notes[c.Role], NoGPU: cpu}
		img := upgrade.ImageOf(env.cfg, c.Role)
		card.Image, card.Digest = img.Repository+":"+img.Tag, img.Digest
		if card.Digest == "" && c.Exists {
			if info, err := env.engine.Image(ctx, img.Ref()); err == nil && len(info.RepoDigests) > 0 {
				_, card.Digest, _ = strings.Cut(info.RepoDigests[0], "@")
			}
		}
		if i := strings.LastIndex(img.Repository, "/"); i >= 0 {
			card.Image = img.Repository[i+1:] + ":" + img.Tag
		}
		for _, p := range r.Probes {
			if strings.HasPrefix(p.Name, c.Role) {
				card.Latency = p.Latency
				if !p.OK {
					card.HealthReason = p.Detail
				}
			}
		}
		if c.OOMKilled {
			card.HealthReason = "killed for lack of memory (OOM); " + card.HealthReason
		}
		if c.Role == stack.RoleModel {
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

// test runs 'duobox test --json' in process and reads its answer back.
func (s *guiState) test(ctx context.Context) (ui.TestResult, error) {
	var buf bytes.Buffer
	err := runSmokeTest(ctx, s.g, &buf, true)
	if buf.Len() == 0 {
		return ui.TestResult{}, err
	}
	var res struct {
		health.SmokeResult
		Note string `json:"note"`
	}
	if jerr := json.Unmarshal(buf.Bytes(), &res); jerr != nil {
		return ui.TestResult{}, fmt.Errorf("read the smoke test result: %w", jerr)
	}
	out := ui.TestResult{OK: res.OK, Note: res.Note}
	for _, st := range res.Steps {
		out.Steps = append(out.Steps, ui.TestStep{Name: st.Name, OK: st.OK, Skipped: st.Skipped, Latency: st.Latency,
			FirstTokens: st.FirstTokens, Diagnosis: st.Diagnosis, Fix: st.Fix})
	}
	return out, nil
}

// followLogs follows a role's container through the log pipeline (the
// same as 'duobox logs -f'): parsed lines in a ring of 100,000, re-attached
// after restarts, recognised failures stored for the dashboard.
func (s *guiState) followLogs(ctx context.Context, role string) (ui.LogStream, error) {
	t, err := resolveLogsTarget(ctx, s.g, "", role)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := logs.NewPipeline(logs.Options{Ring: logs.RingOptions{Preallocate: true}})
	if st := openStore(ctx, s.g); st != nil {
		p.OnRecord(health.EventRecorder(ctx, health.Recorder{Store: st}, t.stackName, t.role, t.container.Name))
		context.AfterFunc(ctx, func() { st.Close() })
	}
	f := &logs.Follower{Source: docker.LogSource{Engine: t.engine}, Container: t.container.Name, Pipeline: p, Tail: -1}
	go func() {
		_ = f.Run(ctx)
		t.engine.Close()
	}()
	return &logStream{ring: p.Ring(), cancel: cancel}, nil
}

// logStream adapts a pipeline's ring to the Logs screen.
type logStream struct {
	ring   *logs.Ring
	cancel context.CancelFunc
}

func (l *logStream) query(f ui.LogFilter, after uint64) (logs.Query, error) {
	q, err := logs.CompileQuery(f.Pattern, f.Level, f.Stream)
	if err != nil {
		return q, app.BadInput("fix the search", "%v", err)
	}
	q.AfterSeq = after
	return q, nil
}

func (l *logStream) Lines(f ui.LogFilter, after uint64) ([]ui.LogLine, error) {
	q, err := l.query(f, after)
	if err != nil {
		return nil, err
	}
	recs := l.ring.Search(q)
	out := make([]ui.LogLine, len(recs))
	for i := range recs {
		out[i] = uiLogLine(&recs[i])
	}
	return out, nil
}

func (l *logStream) Line(seq uint64) (ui.LogLine, bool) {
	r, ok := l.ring.BySeq(seq)
	if !ok {
		return ui.LogLine{}, false
	}
	return uiLogLine(&r), true
}

func uiLogLine(r *logs.Record) ui.LogLine {
	l := ui.LogLine{Seq: r.Seq, Time: r.Time, Stream: r.Stream.String(), Level: r.Level.String(), Text: r.Text}
	if r.Event != nil {
		l.Summary, l.Fix = r.Event.Summary, r.Event.Fix
	}
	return l
}

func (l *logStream) Export(path string, f ui.LogFilter) error {
	q, err := l.query(f, 0)
	if err != nil {
		return err
	}
	return logs.ExportFile(path, l.ring.Search(q), false)
}

func (l *logStream) Close() { l.cancel() }

func (s *guiState) upgradeCheck(ctx context.Context) (ui.UpgradeInfo, error) {
	path, err := s.g.configFile()
	if err != nil {
		return ui.UpgradeInfo{}, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return ui.UpgradeInfo{}, err
	}
	rep, err := upgrade.Check(ctx, upgrade.CheckInput{Config: cfg, Role: stack.RoleGateway, Lister: upgrade.Lister{Tags: gatewayTagsFor(s.g)}})
	if err != nil {
		return ui.UpgradeInfo{}, err
	}
	info := ui.UpgradeInfo{Current: rep.Current, Notes: rep.Warnings}
	for _, t := range rep.Available {
		if t != rep.Current {
			info.Available = append(info.Available, t)
		}
	}
	if rep.Recommended != nil && !rep.UpToDate {
		info.Notes = append(info.Notes, "Recommended: "+*rep.Recommended)
	}
	return info, nil
}

// withUpgrader runs f with the CLI's upgrader, reporting its events as steps.
func (s *guiState) withUpgrader(ctx context.Context, onStep func(ui.UpgradeStep), f func(*upgradeEnv) (upgrade.Run, error)) error {
	env, err := openUpgrader(ctx, s.g, 0, true)
	if err != nil {
		return err
	}
	defer env.close()
	env.warn = func(format string, args ...any) { onStep(ui.UpgradeStep{Message: fmt.Sprintf(format, args...)}) }
	env.upgrader.OnEvent = func(ev deploy.Event) {
		st := ui.UpgradeStep{Message: ev.Message, Pull: ev.Pull}
		st.RollingBack = strings.Contains(strings.ToLower(ev.Message), "rolling back") || strings.Contains(ev.Message, string(upgrade.StepRollingBack))
		onStep(st)
	}
	env.reconcile(ctx)
	run, err := f(env)
	if run.Outcome == upgrade.OutcomeRolledBack {
		onStep(ui.UpgradeStep{Message: "Rolled back to " + run.From.Tag + ": " + run.Reason, RollingBack: true, Done: true})
	}
	return err
}

func (s *guiState) upgrade(ctx context.Context, to string, onStep func(ui.UpgradeStep)) error {
	return s.withUpgrader(ctx, onStep, func(env *upgradeEnv) (upgrade.Run, error) {
		target, warnings, err := upgrade.Target(ctx, upgrade.TargetInput{Config: env.cfg, Role: stack.RoleGateway, To: to, Source: upgrade.SourceRegistry})
		for _, w := range warnings {
			onStep(ui.UpgradeStep{Message: w})
		}
		if err != nil {
			return upgrade.Run{}, err
		}
		return env.upgrader.Upgrade(ctx, upgrade.Request{Config: env.cfg, Role: stack.RoleGateway, To: target, Source: upgrade.SourceRegistry})
	})
}

func (s *guiState) rollback(ctx context.Context, onStep func(ui.UpgradeStep)) error {
	return s.withUpgrader(ctx, onStep, func(env *upgradeEnv) (upgrade.Run, error) {
		return env.upgrader.Rollback(ctx, env.cfg, stack.RoleGateway)
	})
}

func (s *guiState) upgradeHistory(ctx context.Context) ([]ui.UpgradeRecord, error) {
	env, err := openUpgraderWith(ctx, s.g, deploy.PrepareReadOnly, 0, true)
	if err != nil {
		return nil, err
	}
	defer env.close()
	runs, err := env.upgrader.History(ctx, env.cfg.Name, 20)
	if err != nil {
		return nil, err
	}
	out := make([]ui.UpgradeRecord, len(runs))
	for i, r := range runs {
		outcome := r.Outcome
		if outcome == upgrade.OutcomeSucceeded {
			outcome = "upgraded"
		}
		if r.Action == upgrade.ActionRollback && r.Outcome == upgrade.OutcomeSucceeded {
			outcome = "rolled back by hand"
		}
		out[i] = ui.UpgradeRecord{Time: r.StartedAt, From: r.From.Tag, To: r.To.Tag, Outcome: outcome, Reason: r.Reason}
	}
	return out, nil
}

func (s *guiState) snippet(_ context.Context, f gitlab.Format) (*gitlab.Snippet, []string, error) {
	in, notes, err := resolveGitLabInput(s.g, gitlab.Given{})
	if err != nil {
		return nil, nil, err
	}
	sn, err := gitlab.Build(in, f)
	return sn, notes, err
}

// applyGitLab is 'duobox gitlab apply --yes'.
func (s *guiState) applyGitLab(ctx context.Context) (string, error) {
	in, _, err := resolveGitLabInput(s.g, gitlab.Given{VersionFromGitLab: true})
	if err != nil {
		return "", err
	}
	c, err := connectedClient(s.g, in)
	if err != nil {
		return "", err
	}
	plan, err := gitlab.PlanApply(ctx, c, in)
	if err != nil {
		return "", err
	}
	if len(plan.Changes) == 0 {
		return "GitLab already matches; nothing to change.", nil
	}
	n, err := plan.Apply(ctx, c)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("Applied %d change(s). Test it: Admin → GitLab Duo → self-hosted models → Test connection.", n)
	if len(plan.Manual) > 0 {
		msg += "\nStill to do by hand: " + strings.Join(plan.Manual, "; ")
	}
	return msg, nil
}
