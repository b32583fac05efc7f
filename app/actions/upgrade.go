package actions

import (
	"context"
	"fmt"
	"time"

	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
)

// Upgrading is an open stack with an upgrader on it that saves the config
// file and records history in the state database.
type Upgrading struct {
	*Stack
	Upgrader *upgrade.Upgrader
	// OnWarning receives what the user should know (an interrupted run found).
	OnWarning func(string)
}

// upgraderOn puts an upgrader on an open stack.
func (c *Core) upgraderOn(s *Stack, prepare PrepareFunc, timeout time.Duration) (*Upgrading, error) {
	path, err := c.ConfigFile()
	if err != nil {
		return nil, err
	}
	u := &upgrade.Upgrader{Engine: s.Engine, Store: s.Store, LockDir: s.Dirs.State, ConfigPath: path,
		Build: func(d config.Deployment) (stack.Spec, error) {
			p, err := prepare(d, s.Dirs, s.Catalog)
			return p.Spec, err
		},
		HealthTimeout: timeout,
		Beside: func(ctx context.Context, d config.Deployment) (upgrade.Fit, error) {
			m, err := hardware.Detector{}.Detect(ctx) // taken now: the running model's memory counts as used
			if err != nil {
				return upgrade.Fit{}, err
			}
			return upgrade.BesideFit(m, d, s.Catalog), nil
		}}
	return &Upgrading{Stack: s, Upgrader: u, OnWarning: c.warn}, nil
}

// OpenUpgrader opens the stack (prepare) with an upgrader on it.
func (c *Core) OpenUpgrader(ctx context.Context, prepare PrepareFunc, timeout time.Duration) (*Upgrading, error) {
	s, err := c.OpenStack(ctx, prepare)
	if err != nil {
		return nil, err
	}
	u, err := c.upgraderOn(s, prepare, timeout)
	if err != nil {
		s.Close()
		return nil, err
	}
	return u, nil
}

// Reconcile finishes or undoes a run an earlier crash left open, and says so.
func (u *Upgrading) Reconcile(ctx context.Context) {
	runs, err := u.Upgrader.Reconcile(ctx, u.Config.Name)
	if err != nil {
		u.warn(err.Error())
	}
	u.reportReconciled(runs)
}

// Exclusive holds the upgrade lock (failing while an upgrade runs), after
// reconciling; it reports whether the config changed.
func (u *Upgrading) Exclusive(ctx context.Context) (unlock func(), changed bool, err error) {
	runs, unlock, err := u.Upgrader.Exclusive(ctx, u.Config.Name)
	if err != nil {
		return nil, false, err
	}
	return unlock, u.reportReconciled(runs), nil
}

func (u *Upgrading) warn(msg string) {
	if u.OnWarning != nil {
		u.OnWarning(msg)
	}
}

// reportReconciled warns about each interrupted run and reloads the config
// when a run was finished or undone (either may have saved it).
func (u *Upgrading) reportReconciled(runs []upgrade.Run) bool {
	for _, r := range runs {
		u.warn(fmt.Sprintf("found an interrupted %s of %s (%s → %s): %s", r.Action, r.Container, r.From.Tag, r.To.Tag, r.Reason))
	}
	if len(runs) > 0 {
		if cfg, err := config.Load(u.Upgrader.ConfigPath); err == nil {
			u.Config = cfg
		}
	}
	return len(runs) > 0
}

// UpgradeCheck lists what the registry (or the tags in in.Tags) offers for
// the role's image and what DuoBox recommends; it reads the config, not the engine.
func (c *Core) UpgradeCheck(ctx context.Context, in upgrade.CheckInput) (upgrade.CheckReport, error) {
	cfg, err := c.LoadConfig()
	if err != nil {
		return upgrade.CheckReport{}, err
	}
	in.Config = cfg
	if dirs, err := c.Dirs(); err == nil && in.Lister.Tags == nil {
		in.Lister.Tags = bundle.TagLister(dirs.Data) // offline: the tags a loaded bundle recorded
	}
	if in.Role == "" {
		in.Role = stack.RoleGateway
	}
	return upgrade.Check(ctx, in)
}

// UpgradeRequest is one upgrade as the user asks for it.
type UpgradeRequest struct {
	Role          string // stack.RoleGateway (default) or stack.RoleModel
	To            string // "" = the recommended tag
	GitLabVersion string
	Tags          []string // offline: the tags read from a file; nil = the registry
	Source        upgrade.Source
	Archive       string // offline: a 'docker save' archive (Source upgrade.SourceArchive)
	Force         bool
	FIPS          bool
	Timeout       time.Duration // the new container's health wait (0: the role's default)
	// StopFirst stops the old model server before the new one starts, even
	// when two copies fit.
	StopFirst bool
}

// Upgrade moves a role's container to another image, health-gated, rolling
// back by itself when the new one is not healthy ('duobox upgrade', the
// Upgrade screen). Events: steps (Event.Step names the upgrade step;
// upgrade.StepRollingBack when the automatic rollback starts), warnings and
// pull progress. It returns upgrade.ErrUpToDate when the recommended tag runs already.
func (c *Core) Upgrade(ctx context.Context, req UpgradeRequest, on func(deploy.Event)) (upgrade.Run, error) {
	return c.upgrading(ctx, req.Timeout, on, func(u *Upgrading) (upgrade.Run, error) {
		role := req.Role
		if role == "" {
			role = stack.RoleGateway
		}
		source := req.Source
		if source == "" {
			source = upgrade.SourceRegistry
		}
		target, warnings, err := upgrade.Target(ctx, upgrade.TargetInput{Config: u.Config, Role: role, To: req.To,
			GitLabVersion: req.GitLabVersion, Tags: req.Tags, Source: source, Archive: req.Archive, Force: req.Force, FIPS: req.FIPS})
		for _, w := range warnings {
			u.warn(w)
		}
		if err != nil {
			cur := upgrade.ImageOf(u.Config, role)
			return upgrade.Run{Action: upgrade.ActionUpgrade, Role: role,
				From: upgrade.ImageRef{Repository: cur.Repository, Tag: cur.Tag, Digest: cur.Digest}}, err
		}
		return u.Upgrader.Upgrade(ctx, upgrade.Request{Config: u.Config, Role: role, To: target, Source: source, Archive: req.Archive, StopFirst: req.StopFirst})
	})
}

// Rollback returns a role to the version the last upgrade kept; stopFirst
// stops the current model server first even when two copies fit.
func (c *Core) Rollback(ctx context.Context, role string, timeout time.Duration, stopFirst bool, on func(deploy.Event)) (upgrade.Run, error) {
	if role == "" {
		role = stack.RoleGateway
	}
	return c.upgrading(ctx, timeout, on, func(u *Upgrading) (upgrade.Run, error) {
		return u.Upgrader.Rollback(ctx, u.Config, role, stopFirst)
	})
}

// upgrading opens an upgrader reporting to on, reconciles, and runs f.
func (c *Core) upgrading(ctx context.Context, timeout time.Duration, on func(deploy.Event), f func(*Upgrading) (upgrade.Run, error)) (upgrade.Run, error) {
	u, err := c.OpenUpgrader(ctx, deploy.Prepare, timeout)
	if err != nil {
		return upgrade.Run{}, err
	}
	defer u.Close()
	defer c.dropHealthEnv() // the config names the new image: the next health check reads it
	if on != nil {
		u.Upgrader.OnEvent = on
		u.OnWarning = func(msg string) { on(deploy.Event{Kind: deploy.EventWarning, Message: msg}) }
	}
	u.Reconcile(ctx)
	if err := u.deployedAtAll(ctx); err != nil {
		return upgrade.Run{}, err
	}
	return f(u)
}

// deployedAtAll is NotDeployed when the stack has no container at all
// (serving or kept by an upgrade): an upgrade or rollback then has nothing
// to act on, and says so as status, health, test and logs do.
func (u *Upgrading) deployedAtAll(ctx context.Context) error {
	objs, err := u.Engine.Objects(ctx, u.Config.Name)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if o.Kind == engine.KindContainer {
			return nil
		}
	}
	return NotDeployed(u.Config.Name)
}

// UpgradeHistory is the stack's newest upgrades and rollbacks, newest
// first (limit 0: all). A run DuoBox was stopped in the middle of is
// reconciled first when the engine answers.
func (c *Core) UpgradeHistory(ctx context.Context, limit int) ([]upgrade.Run, error) {
	u, err := c.OpenUpgrader(ctx, deploy.PrepareReadOnly, 0)
	if err != nil {
		return nil, err
	}
	defer u.Close()
	if u.Engine.Ping(ctx) == nil {
		u.Reconcile(ctx)
	}
	return u.Upgrader.History(ctx, u.Config.Name, limit)
}
