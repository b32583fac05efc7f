package actions

import (
	"context"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/app/weights"
)

// UpOptions tune Up; every callback is optional and may be called from any goroutine.
type UpOptions struct {
	// OnPrepared sees the prepared spec before anything runs (its warnings
	// and newly generated keys).
	OnPrepared func(deploy.Prepared)
	// OnWeights reports the weight download (GPU mode).
	OnWeights weights.ProgressFunc
	// OnEvent reports steps, warnings and per-image pull progress.
	OnEvent func(deploy.Event)
	// HealthTimeout bounds the wait for health (0: deploy's default).
	HealthTimeout time.Duration
	// SkipWeights leaves the weights to a separate PullWeights call.
	SkipWeights bool
	// AfterUp runs on the open stack once it is up and healthy.
	AfterUp func(context.Context, *Stack)
}

// UpResult is what Up did and where the stack answers.
type UpResult struct {
	deploy.Report
	Config config.Deployment `json:"-"`
	Spec   stack.Spec        `json:"-"`
}

// Up makes the engine match the config ('duobox up', Deploy): the
// weights first (verified and resumable, so the model starts offline),
// then — holding the upgrade lock, after finishing or undoing an upgrade a
// crash left open — the containers, and waits until healthy.
func (c *Core) Up(ctx context.Context, o UpOptions) (UpResult, error) {
	var res UpResult
	err := c.withStack(ctx, deploy.Prepare, func(s *Stack) error {
		if o.OnPrepared != nil {
			o.OnPrepared(s.Prepared)
		}
		s.Deployer.HealthTimeout = o.HealthTimeout
		if !o.SkipWeights {
			if err := deploy.EnsureWeights(ctx, s.Prepared, s.Config, s.Catalog, o.OnWeights); err != nil {
				return err
			}
		}
		s.Deployer.OnEvent = o.OnEvent
		rep, err := c.LockedUp(ctx, s)
		res = UpResult{Report: rep, Config: s.Config, Spec: s.Prepared.Spec}
		if err == nil && o.AfterUp != nil {
			o.AfterUp(ctx, s)
		}
		return err
	})
	return res, err
}

// LockedUp runs deploy's Up on an open stack while holding the upgrade
// lock, so it never overlaps an upgrade (a conflict while one runs).
func (c *Core) LockedUp(ctx context.Context, s *Stack) (deploy.Report, error) {
	u, err := c.upgraderOn(s, deploy.Prepare, s.Deployer.HealthTimeout)
	if err != nil {
		return deploy.Report{}, err
	}
	unlock, changed, err := u.Exclusive(ctx)
	if err != nil {
		return deploy.Report{}, err
	}
	defer unlock()
	if changed {
		if s.Prepared, err = deploy.Prepare(s.Config, s.Dirs, s.Catalog); err != nil {
			return deploy.Report{}, err
		}
	}
	return s.Deployer.Up(ctx, s.Prepared.Spec)
}

// PullWeights puts the configured models' weights into the hub cache the
// model container mounts (GPU mode), as Up does before starting it.
func (c *Core) PullWeights(ctx context.Context, on weights.ProgressFunc) error {
	return c.withStack(ctx, deploy.Prepare, func(s *Stack) error {
		return deploy.EnsureWeights(ctx, s.Prepared, s.Config, s.Catalog, on)
	})
}

// Down stops and removes the stack's containers and network; the weights
// volume goes too only with volumes. It waits for the stack's lock (the one
// up, upgrade and rollback take); say is told once who holds it.
func (c *Core) Down(ctx context.Context, volumes bool, say func(string), on func(deploy.Event)) (deploy.Report, error) {
	var rep deploy.Report
	err := c.withStack(ctx, deploy.PrepareReadOnly, func(s *Stack) error {
		unlock, err := s.hold(ctx, "down", say)
		if err != nil {
			return err
		}
		defer unlock()
		s.Deployer.OnEvent = on
		rep, err = s.Deployer.Down(ctx, s.Prepared.Spec.Stack, volumes)
		return err
	})
	return rep, err
}

// Restart restarts the containers of a role and waits until healthy,
// holding the stack's lock as Down does.
func (c *Core) Restart(ctx context.Context, role string, say func(string), on func(deploy.Event)) (deploy.Report, error) {
	var rep deploy.Report
	err := c.withStack(ctx, deploy.Prepare, func(s *Stack) error {
		unlock, err := s.hold(ctx, "restart", say)
		if err != nil {
			return err
		}
		defer unlock()
		s.Deployer.OnEvent = on
		rep, err = s.Deployer.Restart(ctx, s.Prepared.Spec, role)
		return err
	})
	return rep, err
}

// hold takes the stack's lock for op (down, restart) — the lock up, upgrade
// and rollback take — waiting while another command holds it; say (may be
// nil) is told once who holds it.
func (s *Stack) hold(ctx context.Context, op string, say func(string)) (func(), error) {
	if say == nil {
		say = func(string) {}
	}
	u := &upgrade.Upgrader{LockDir: s.Dirs.State}
	return u.Hold(ctx, s.Config.Name, op, say)
}
