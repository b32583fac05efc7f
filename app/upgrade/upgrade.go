// Package upgrade moves the gateway or the model server to another image
// without losing the one that runs: it pulls while the old container keeps
// serving, creates the new container beside it, stops the old one and keeps
// it (renamed NAME-rollback) as the rollback target, starts the new one and
// waits for health; when the new one is not healthy it keeps its last log
// lines, removes it and brings the old one back. Each step is written to the
// state database before it is taken, so a run cut short by a crash is found
// by Reconcile and finished or undone: exactly one container serves, the
// rollback target is kept, and the history says what happened.
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
)

// Engine is what upgrades need from a container engine: deploy's calls plus
// renaming and stopping a DuoBox container, and loading an image archive.
// Implementations refuse containers without DuoBox's label.
type Engine interface {
	engine.Engine
	Rename(ctx context.Context, id, newName string) error
	Stop(ctx context.Context, id string, grace time.Duration) error
	LoadImageArchive(ctx context.Context, archive io.Reader) error
	// ServeAs adds (on) or takes away alias as a DNS name of the container
	// on network; nothing when it already is as asked (so a cut-short call
	// can be repeated).
	ServeAs(ctx context.Context, id, network, alias string, on bool) error
	// LeaveNetwork disconnects a running container (its published ports are
	// released); JoinNetwork connects it again when it is not (joined: it had to).
	LeaveNetwork(ctx context.Context, id, network string) error
	JoinNetwork(ctx context.Context, id, network string) (joined bool, err error)
}

// Step is one step of an upgrade or rollback, recorded before it is taken.
type Step string

// Upgrade steps (UpgradeSteps gives their order); StepRollingBack follows a failed health wait.
const (
	StepPlanned     Step = "planned"
	StepPulling     Step = "pulling"
	StepCreatingNew Step = "creating_new"           // created as NAME-next while the old one serves
	StepSetAside    Step = "setting_aside_previous" // the older rollback target: NAME-rollback → NAME-previous
	StepRenamingOld Step = "renaming_old"           // NAME → NAME-rollback, still serving
	StepRenamingNew Step = "renaming_new"           // NAME-next → NAME
	StepSwitching   Step = "switching"              // the old container stops, the new one starts: the only downtime
	// StepSwitchingStart is not recorded: it names the point inside
	// StepSwitching where the old one has stopped and the new one not yet
	// started, for BeforeStep (tests cut runs there too).
	StepSwitchingStart Step = "switching/start"
	StepWaitingNew     Step = "waiting_health"
	StepRollingBack    Step = "rolling_back"
	StepFinalizing     Step = "finalizing" // healthy: older target removed, config saved, run closed
)

// Steps of a model server run where two copies fit (memory allowing): the
// new one starts and becomes healthy beside the old one, which serves
// meanwhile; then the name the gateway calls moves to it, and only then does
// the old one stop. No step leaves the name without a healthy server.
const (
	StepStartingBeside Step = "starting_beside" // NAME-next (or NAME-rollback) starts while NAME serves
	StepWaitingBeside  Step = "waiting_beside"  // its health check, the old one still serving
	StepMovingAlias    Step = "moving_alias"    // it answers for NAME too (network alias); both serve
	StepStoppingOld    Step = "stopping_old"    // the old one (renamed, out of DNS) stops and loses the alias
)

// Rollback steps.
const (
	StepRenamingCurrent Step = "renaming_current" // NAME → NAME-swap
	StepRenamingTarget  Step = "renaming_target"  // NAME-rollback → NAME
)

// UpgradeSteps and RollbackSteps list, in order, the points a run can be cut at (tests kill at each).
var (
	UpgradeSteps  = []Step{StepPulling, StepCreatingNew, StepSetAside, StepRenamingOld, StepRenamingNew, StepSwitching, StepSwitchingStart, StepWaitingNew, StepFinalizing}
	RollbackSteps = []Step{StepRenamingCurrent, StepRenamingTarget, StepSwitching, StepSwitchingStart, StepWaitingNew, StepFinalizing}
	// BesideUpgradeSteps and BesideRollbackSteps are the same for a model
	// server that starts beside the old one.
	BesideUpgradeSteps  = []Step{StepPulling, StepCreatingNew, StepSetAside, StepStartingBeside, StepWaitingBeside, StepMovingAlias, StepRenamingOld, StepRenamingNew, StepStoppingOld, StepFinalizing}
	BesideRollbackSteps = []Step{StepStartingBeside, StepWaitingBeside, StepMovingAlias, StepRenamingCurrent, StepRenamingTarget, StepStoppingOld, StepFinalizing}
)

// Run outcomes.
const (
	OutcomeRunning     = "running"
	OutcomeSucceeded   = "succeeded"
	OutcomeRolledBack  = "rolled_back" // the new image was not healthy; the old one serves again
	OutcomeFailed      = "failed"      // refused or broke before the swap; nothing changed
	OutcomeInterrupted = "interrupted" // DuoBox stopped mid-run; Reconcile restored the old version
)

// Actions.
const (
	ActionUpgrade  = "upgrade"
	ActionRollback = "rollback"
)

// Names the serving container takes during a run.
func nextName(name string) string { return name + "-next" }

// RollbackName is the name of the kept previous version of a container.
func RollbackName(name string) string { return stack.RollbackContainerName(name) }

func swapName(name string) string { return name + "-swap" }

func previousName(name string) string { return name + "-previous" }

// Upgrader runs upgrades and rollbacks of one deployment.
type Upgrader struct {
	Engine     Engine
	Store      *store.Store
	LockDir    string // folder for the per-stack lock file (the state folder)
	ConfigPath string // the deployment config, updated after a swap; "" = not saved
	// Build turns a deployment config into its stack spec (deploy.Prepare's
	// spec for the CLI; stack.Build in tests).
	Build   func(config.Deployment) (stack.Spec, error)
	OnEvent func(deploy.Event) // optional: steps, warnings, pull progress

	HealthTimeout time.Duration // default: 3 minutes for the gateway, 30 for a model server
	StopGrace     time.Duration // how long the old container may take to stop; default 10 s
	// BeforeStep runs after a step is recorded and before it is taken (a test seam).
	BeforeStep func(Step)
	// Beside says whether a second model server fits beside the running one
	// (memory); nil means it never does, and the old one stops first.
	Beside func(ctx context.Context, cfg config.Deployment) (Fit, error)
}

// Fit is whether a second copy of the model server fits beside the running
// one, and why.
type Fit struct {
	Fits bool   `json:"fits"`
	Why  string `json:"why"`
}

// Request is one upgrade.
type Request struct {
	Config  config.Deployment // the deployment as it runs now
	Role    string            // stack.RoleGateway or stack.RoleModel
	To      config.Image      // target repository and tag (Digest is filled from the pulled image)
	Source  Source
	Archive string // a 'docker save' tarball, for SourceArchive
	// StopFirst stops the old model server before the new one starts even
	// when two copies fit (the old behaviour).
	StopFirst bool
}

// Source says where the target image comes from.
type Source string

// Image sources.
const (
	SourceRegistry Source = "registry" // pull (the default)
	SourceLocal    Source = "local"    // already in the engine (air-gapped)
	SourceArchive  Source = "archive"  // loaded from a 'docker save' tarball (air-gapped)
)

func (u *Upgrader) emit(kind, container, format string, args ...any) {
	if u.OnEvent != nil {
		u.OnEvent(deploy.Event{Kind: kind, Container: container, Message: fmt.Sprintf(format, args...)})
	}
}

// target is the container a run replaces.
type target struct {
	name string
	role string
}

func targetOf(cfg config.Deployment, role string) (target, error) {
	switch role {
	case stack.RoleGateway:
		return target{stack.GatewayContainerName(cfg.Name), role}, nil
	case stack.RoleModel:
		if len(cfg.Models) != 1 {
			return target{}, app.BadInput("upgrade the model server image by editing model_server.tag in the config and running 'duobox up'",
				"upgrading the model server of a deployment with %d models is not supported yet", len(cfg.Models))
		}
		return target{stack.ModelContainerName(cfg.Name, 0), role}, nil
	}
	return target{}, app.BadInput("say 'gateway' or 'model'", "cannot upgrade %q", role)
}

// ImageOf returns the config's image for a role.
func ImageOf(cfg config.Deployment, role string) config.Image {
	if role == stack.RoleModel {
		return cfg.ModelServer
	}
	return cfg.Gateway.Image
}

// withImage returns cfg with the role's image reference replaced (its Env and HealthCmd kept).
func withImage(cfg config.Deployment, role string, img ImageRef) config.Deployment {
	set := func(i *config.Image) { i.Repository, i.Tag, i.Digest = img.Repository, img.Tag, img.Digest }
	if role == stack.RoleModel {
		set(&cfg.ModelServer)
	} else {
		set(&cfg.Gateway.Image)
	}
	return cfg
}

// Upgrade replaces the role's container with one running req.To. It holds
// the stack's lock (a second run fails with a conflict) and first reconciles
// any run an earlier crash left open. On a failed health wait it returns an
// app.NotReady problem after restoring the old container.
func (u *Upgrader) Upgrade(ctx context.Context, req Request) (Run, error) {
	cfg := req.Config.WithDefaults()
	tg, err := targetOf(cfg, req.Role)
	if err != nil {
		return Run{}, err
	}
	_, unlock, err := u.ExclusiveAs(ctx, cfg.Name, "upgrade") // after finishing or undoing a crashed run
	if err != nil {
		return Run{}, err
	}
	defer unlock()
	from := refOf(ImageOf(cfg, req.Role))
	to := ImageRef{Repository: req.To.Repository, Tag: req.To.Tag}
	if to.Repository == "" {
		to.Repository = from.Repository
	}
	if to.Tag == "" {
		return Run{}, app.BadInput("name the tag with --to", "no target tag for the %s", req.Role)
	}
	if to.Repository == from.Repository && to.Tag == from.Tag {
		return Run{}, app.BadInput("pick another tag ('duobox upgrade --check' lists them)", "%s already runs %s", tg.name, from.Tag)
	}
	old, oldState, err := u.serving(ctx, cfg.Name, tg, ActionUpgrade)
	if err != nil {
		return Run{}, err
	}
	kept, err := u.managedOrMissing(ctx, cfg.Name, RollbackName(tg.name))
	if err != nil {
		return Run{}, err
	}
	run := Run{Stack: cfg.Name, Role: req.Role, Container: tg.name, Action: ActionUpgrade, From: from, To: to,
		OldID: old.ID, KeptID: kept.ID, FromDigest: u.digestOf(ctx, oldState.ImageID, from.Repository)}
	beside := u.besideOrSay(ctx, cfg, tg, req.StopFirst)
	if err := u.begin(ctx, &run); err != nil {
		return run, err
	}
	r := &runner{u: u, run: &run, beside: beside}
	return r.upgrade(ctx, cfg, req)
}

// runner carries one run through its steps.
type runner struct {
	u      *Upgrader
	run    *Run
	beside bool // the new model server starts beside the old one
}

func (r *runner) step(ctx context.Context, s Step) error {
	if err := r.u.recordStep(ctx, r.run, s); err != nil {
		return err
	}
	if r.u.OnEvent != nil {
		r.u.OnEvent(deploy.Event{Kind: deploy.EventStep, Container: r.run.Container, Step: string(s),
			Message: fmt.Sprintf("%s: %s", r.run.Action, strings.ReplaceAll(string(s), "_", " "))})
	}
	if r.u.BeforeStep != nil {
		r.u.BeforeStep(s)
	}
	return nil
}

// fail closes the run as failed after restoring the old container.
// swap takes outID out of name (renaming it outName while it still serves),
// puts inID under name, moves the published port over and records the wait
// for health that follows; each step is recorded before it is taken.
func (u *Upgrader) swap(ctx context.Context, r *runner, network string, outStep, inStep Step, outID, outName, inID, name string, publishes bool) error {
	return r.doSteps(ctx,
		stepAction{outStep, func() error { return u.Engine.Rename(ctx, outID, outName) }},
		stepAction{inStep, func() error { return u.Engine.Rename(ctx, inID, name) }},
		stepAction{StepSwitching, func() error { return u.switchOver(ctx, network, outID, inID, publishes, u.stopGrace()) }},
		stepAction{StepWaitingNew, func() error { return nil }},
	)
}

// stepAction is one step of a run and what it does.
type stepAction struct {
	step Step
	do   func() error
}

// doSteps records each step before doing it and stops at the first error.
func (r *runner) doSteps(ctx context.Context, steps ...stepAction) error {
	for _, s := range steps {
		if err := r.step(ctx, s.step); err != nil {
			return err
		}
		if err := s.do(); err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) fail(ctx context.Context, cause error) (Run, error) {
	ctx = context.WithoutCancel(ctx)
	logs, rerr := r.u.restore(ctx, r.run)
	reason := cause.Error()
	if rerr != nil {
		reason += "; restoring the old container also failed: " + rerr.Error()
	}
	r.u.finish(ctx, r.run, OutcomeFailed, reason, logs)
	return *r.run, cause
}

func (r *runner) upgrade(ctx context.Context, cfg config.Deployment, req Request) (Run, error) {
	u, run := r.u, r.run
	// Pull (or load) while the old container keeps serving.
	if err := r.step(ctx, StepPulling); err != nil {
		return *run, err
	}
	info, err := u.fetch(ctx, run, req)
	if err != nil {
		u.finish(context.WithoutCancel(ctx), run, OutcomeFailed, err.Error(), "")
		return *run, err
	}
	run.To.Digest = repoDigest(info, run.To.Repository)
	run.ToDigest = run.To.Digest
	newCfg := withImage(cfg, req.Role, run.To)
	spec, err := u.Build(newCfg)
	if err != nil {
		u.finish(ctx, run, OutcomeFailed, err.Error(), "")
		return *run, err
	}
	c, ok := spec.Container(run.Container)
	if !ok {
		err := fmt.Errorf("upgrade %s: the spec has no container %s", run.Role, run.Container)
		u.finish(ctx, run, OutcomeFailed, err.Error(), "")
		return *run, err
	}
	secrets, err := stack.ReadSecrets(c)
	if err != nil {
		u.finish(ctx, run, OutcomeFailed, err.Error(), "")
		return *run, err
	}
	if err := u.saveRun(ctx, run); err != nil {
		return *run, err
	}

	if err := r.step(ctx, StepCreatingNew); err != nil {
		return *run, err
	}
	if err := u.removeStranger(ctx, run.Stack, nextName(run.Container)); err != nil {
		return r.fail(ctx, err)
	}
	next := c
	next.Name = nextName(c.Name)
	id, err := u.Engine.CreateContainer(ctx, next, spec.Network.Name, secrets)
	if err != nil {
		return r.fail(ctx, err)
	}
	run.NewID = id
	if err := u.saveRun(ctx, run); err != nil {
		return r.fail(ctx, err)
	}

	if err := r.step(ctx, StepSetAside); err != nil {
		return r.fail(ctx, err)
	}
	if run.KeptID != "" {
		if err := u.Engine.Rename(ctx, run.KeptID, previousName(run.Container)); err != nil {
			return r.fail(ctx, err)
		}
	}
	if r.beside {
		why, err := r.besideSwap(ctx, c, spec.Network.Name, StepRenamingOld, StepRenamingNew, run.OldID, RollbackName(run.Container), run.NewID)
		if err != nil {
			return r.fail(ctx, err)
		}
		if why != "" {
			return r.rollBackUnhealthy(ctx, c, why) // the old one never stopped
		}
		if err := r.step(ctx, StepFinalizing); err != nil {
			return *run, err
		}
		return *run, u.finalize(ctx, run)
	}
	// Renames first, while the old container still serves (a running
	// container can be renamed): the gateway is down only from the stop to
	// the start.
	if err := u.swap(ctx, r, spec.Network.Name, StepRenamingOld, StepRenamingNew, run.OldID, RollbackName(run.Container), run.NewID, run.Container, len(c.Ports) > 0); err != nil {
		return r.fail(ctx, err)
	}
	if why := u.waitHealthy(ctx, c, run.NewID); why != "" {
		oldC := c
		if oldSpec, err := u.Build(cfg); err == nil {
			oldC, _ = oldSpec.Container(run.Container)
		}
		return r.rollBackUnhealthy(ctx, oldC, why)
	}
	if err := r.step(ctx, StepFinalizing); err != nil {
		return *run, err
	}
	return *run, u.finalize(ctx, run)
}

// rollBackUnhealthy keeps the new container's last log lines, removes it and
// restarts the old one.
func (r *runner) rollBackUnhealthy(ctx context.Context, oldC stack.Container, why string) (Run, error) {
	u, run := r.u, r.run
	ctx = context.WithoutCancel(ctx)
	_ = r.step(ctx, StepRollingBack)
	u.emit(deploy.EventWarning, run.Container, "%s:%s is not healthy (%s); rolling back to %s", run.To.Repository, run.To.Tag, why, run.From.Tag)
	// Fast path: the old container serves again first (still named
	// NAME-rollback: a running container can be renamed afterwards); restore
	// then puts the names right and reads and removes the failed one.
	network, _ := u.networkOf(ctx, run.Stack)
	_ = u.switchOver(ctx, network, run.NewID, run.OldID, len(oldC.Ports) > 0, 0) // no grace: the new one serves nothing of use
	logs, err := u.restore(ctx, run)
	if err == nil {
		if why := u.waitHealthy(ctx, oldC, run.OldID); why != "" {
			err = fmt.Errorf("%s is not healthy either: %s", run.From.Tag, why)
		}
	}
	reason := fmt.Sprintf("%s:%s did not become healthy: %s", run.To.Repository, run.To.Tag, why)
	outcome := OutcomeRolledBack
	if err != nil {
		outcome, reason = OutcomeFailed, reason+"; bringing back the old container failed too: "+err.Error()
	} else {
		reason += fmt.Sprintf("; rolled back to %s", run.From.Tag)
	}
	u.finish(ctx, run, outcome, reason, logs)
	lines := "    (no log output)"
	if logs != "" {
		lines = "    " + strings.Join(excerpt(strings.Split(logs, "\n"), 5, 10), "\n    ")
	}
	if err != nil {
		return *run, app.NotReady(err, "run 'duobox up' to recreate the container from the config, then check 'duobox history'",
			"%s; its last log lines:\n%s", reason, lines)
	}
	return *run, app.NotReady(nil, "the previous version serves again; these lines are kept in 'duobox history'. Try another tag, or report the image",
		"%s; its last log lines:\n%s", reason, lines)
}

// excerpt keeps the first head and last tail lines (start-up errors come
// first, the latest state last), marking what it leaves out.
func excerpt(lines []string, head, tail int) []string {
	if len(lines) <= head+tail {
		return lines
	}
	out := append([]string(nil), lines[:head]...)
	out = append(out, fmt.Sprintf("… %d more lines ('duobox history --logs') …", len(lines)-head-tail))
	return append(out, lines[len(lines)-tail:]...)
}

// fetch makes the target image available in the engine.
func (u *Upgrader) fetch(ctx context.Context, run *Run, req Request) (engine.ImageInfo, error) {
	ref := run.To.Repository + ":" + run.To.Tag
	switch req.Source {
	case SourceLocal:
		info, err := u.Engine.Image(ctx, ref)
		if errors.Is(err, app.ErrNotFound) {
			return info, app.BadInput("load it first ('docker load -i FILE', or 'duobox upgrade --archive FILE'), or drop --local to pull it",
				"image %s is not in the engine", ref)
		}
		return info, err
	case SourceArchive:
		if err := u.loadArchive(ctx, req.Archive); err != nil {
			return engine.ImageInfo{}, err
		}
		info, err := u.Engine.Image(ctx, ref)
		if errors.Is(err, app.ErrNotFound) {
			return info, app.BadInput("name a tag the archive holds with --to (see 'tar -xOf FILE manifest.json')",
				"the archive %s does not hold %s", req.Archive, ref)
		}
		return info, err
	}
	agg := engine.NewAggregator(ref, nil)
	var last time.Time
	err := u.Engine.Pull(ctx, ref, "", func(ev engine.LayerEvent) {
		p := agg.Add(ev)
		if u.OnEvent != nil && (time.Since(last) >= 100*time.Millisecond || strings.HasPrefix(ev.Status, "Retrying")) {
			last = time.Now()
			u.OnEvent(deploy.Event{Kind: deploy.EventPull, Container: run.Container, Pull: &p})
		}
	})
	if err != nil {
		// The tag was named by the user (--to): one the registry does not
		// have is bad input (exit 2), not a fault of the environment.
		var pf *engine.PullFailure
		if errors.As(err, &pf) && pf.Class == engine.PullManifestUnknown {
			return engine.ImageInfo{}, &app.Problem{Kind: app.KindBadInput, Err: err,
				What: fmt.Sprintf("image %s does not exist in its registry (manifest unknown: the tag was removed or never pushed); nothing was changed: %s still runs %s", ref, run.Container, run.From.Tag),
				Fix:  "name a tag the registry has ('duobox upgrade --check' lists the available tags), or load an offline bundle that holds this image ('duobox bundle load FILE')"}
		}
		return engine.ImageInfo{}, fmt.Errorf("%w (nothing was changed: %s still runs %s)", err, run.Container, run.From.Tag)
	}
	if u.OnEvent != nil {
		p := agg.Finish()
		u.OnEvent(deploy.Event{Kind: deploy.EventPull, Container: run.Container, Pull: &p})
	}
	return u.Engine.Image(ctx, ref)
}

// serving finds the running container of the target.
func (u *Upgrader) serving(ctx context.Context, stackName string, tg target, action string) (engine.Object, engine.ContainerState, error) {
	o, err := u.Engine.Lookup(ctx, engine.KindContainer, tg.name)
	if errors.Is(err, app.ErrNotFound) {
		return o, engine.ContainerState{}, &app.Problem{Kind: app.KindNotReady, Err: err, Remedy: app.RemedyDeploy,
			What: fmt.Sprintf("%s does not exist, so there is nothing to %s", tg.name, action)}
	}
	if err != nil {
		return o, engine.ContainerState{}, err
	}
	if err := owned(o, stackName); err != nil {
		return o, engine.ContainerState{}, err
	}
	st, err := u.Engine.Inspect(ctx, o.ID)
	if err != nil {
		return o, st, err
	}
	if !st.Running {
		return o, st, app.NotReady(nil, "run 'duobox up' to start it first, then "+action, "%s is not running (%s)", tg.name, st.Status)
	}
	return o, st, nil
}

// managedOrMissing looks a container up by name: a zero Object when there
// is none, an error when it exists but is not this stack's.
func (u *Upgrader) managedOrMissing(ctx context.Context, stackName, name string) (engine.Object, error) {
	o, err := u.Engine.Lookup(ctx, engine.KindContainer, name)
	if errors.Is(err, app.ErrNotFound) {
		return engine.Object{}, nil
	}
	if err != nil {
		return o, err
	}
	return o, owned(o, stackName)
}

// removeStranger removes a leftover container of this stack under name.
func (u *Upgrader) removeStranger(ctx context.Context, stackName, name string) error {
	o, err := u.managedOrMissing(ctx, stackName, name)
	if err != nil || o.ID == "" {
		return err
	}
	return u.Engine.Remove(ctx, o)
}

func owned(o engine.Object, stackName string) error {
	if o.Managed() && o.Labels[stack.LabelStack] == stackName {
		return nil
	}
	return &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
		What: fmt.Sprintf("container %s exists but is not part of the DuoBox stack %q", o.Name, stackName),
		Fix:  "DuoBox leaves it alone: rename or remove it yourself, then retry"}
}

// switchOver stops one container and starts the other, with nothing
// recorded in between: the gateway's downtime is just this. When the new
// container publishes ports (the gateway), the old one first leaves the
// stack network, which releases its published ports at once, and the new one
// starts right away; the old one's stop and teardown (seconds on a busy
// engine) come after, while the new one boots, so the two never serve at
// once and the downtime is the new one's own start. The old one then joins
// the network again, stopped, so that it starts with its ports as a
// rollback target. A container without ports (a model server, which may need
// the whole GPU) starts only after the old one has stopped.
func (u *Upgrader) switchOver(ctx context.Context, network, stopID, startID string, publishes bool, grace time.Duration) error {
	if !publishes || network == "" {
		if err := u.Engine.Stop(ctx, stopID, grace); err != nil {
			return err
		}
		if u.BeforeStep != nil {
			u.BeforeStep(StepSwitchingStart)
		}
		return u.Engine.Start(ctx, startID)
	}
	if err := u.Engine.LeaveNetwork(ctx, stopID, network); err != nil {
		return err
	}
	if u.BeforeStep != nil {
		u.BeforeStep(StepSwitchingStart)
	}
	startErr := u.Engine.Start(ctx, startID)
	if startErr != nil && portTaken(startErr) { // held elsewhere in the old one: wait for its stop
		if err := u.Engine.Stop(ctx, stopID, grace); err != nil {
			return err
		}
		startErr = u.Engine.Start(ctx, startID)
	}
	if err := u.Engine.Stop(ctx, stopID, grace); err != nil {
		return err
	}
	if _, err := u.Engine.JoinNetwork(ctx, stopID, network); err != nil {
		return err
	}
	return startErr
}

// portTaken reports the engine's refusal to start a container whose host port is in use.
func portTaken(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use")
}

func (u *Upgrader) stopGrace() time.Duration {
	if u.StopGrace > 0 {
		return u.StopGrace
	}
	return 10 * time.Second
}

func (u *Upgrader) healthTimeout(role string) time.Duration {
	if u.HealthTimeout > 0 {
		return u.HealthTimeout
	}
	if role == stack.RoleModel {
		return 30 * time.Minute
	}
	return 3 * time.Minute
}

// digestOf is the registry digest of a local image (by ID or reference) in repository, "" when unknown.
func (u *Upgrader) digestOf(ctx context.Context, image, repository string) string {
	info, err := u.Engine.Image(ctx, image)
	if err != nil {
		return ""
	}
	return repoDigest(info, repository)
}

// repoDigest picks the digest an image has in repository.
func repoDigest(info engine.ImageInfo, repository string) string {
	short := strings.TrimPrefix(strings.TrimPrefix(repository, "docker.io/"), "library/")
	for _, rd := range info.RepoDigests {
		repo, digest, ok := strings.Cut(rd, "@")
		if ok && (repo == repository || repo == short || strings.TrimPrefix(repo, "docker.io/") == short) {
			return digest
		}
	}
	return ""
}

// waitHealthy waits for the container's health: Docker's status, or the
// same health command run by DuoBox (seen at once, not after an interval).
// It returns why the container is not healthy, or "" once it is.
func (u *Upgrader) waitHealthy(ctx context.Context, c stack.Container, id string) string {
	timeout := u.healthTimeout(c.Role)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		st, err := u.Engine.Inspect(ctx, id)
		switch {
		case err != nil && ctx.Err() == nil:
			return "cannot inspect it: " + err.Error()
		case err == nil && (st.Restarts > 0 || st.Restarting || !st.Running):
			oom := ""
			if st.OOMKilled {
				oom = " (out of memory)"
			}
			return fmt.Sprintf("it exited with code %d%s", st.ExitCode, oom)
		case err == nil && st.Health == "healthy":
			return ""
		case err == nil && (len(c.Health.Test) == 0 || c.Health.Test[0] == "NONE"):
			return ""
		case err == nil:
			ectx, ecancel := context.WithTimeout(ctx, max(c.Health.Timeout, time.Second))
			code, err := u.Engine.Exec(ectx, id, c.Health.Test)
			ecancel()
			if err == nil && code == 0 {
				return ""
			}
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Sprintf("its health check did not pass within %s", timeout)
			}
			return "the wait was cancelled"
		case <-time.After(100 * time.Millisecond):
		}
	}
}
