package upgrade

import (
	"context"
	"fmt"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/store"
)

// Rollback returns the role to the version kept by the last successful
// upgrade: the current container stops and becomes the new rollback target
// (so rolling back twice returns to where one started), the kept one starts
// under the serving name, and the config gets its image back. When the kept
// one is not healthy, everything is put back as it was.
//
// A model server whose two copies fit starts beside the current one, as in
// an upgrade; stopFirst (optional) forces the stop-start.
func (u *Upgrader) Rollback(ctx context.Context, cfg config.Deployment, role string, stopFirst ...bool) (Run, error) {
	cfg = cfg.WithDefaults()
	tg, err := targetOf(cfg, role)
	if err != nil {
		return Run{}, err
	}
	_, unlock, err := u.ExclusiveAs(ctx, cfg.Name, "rollback") // after finishing or undoing a crashed run
	if err != nil {
		return Run{}, err
	}
	defer unlock()
	current, curState, err := u.serving(ctx, cfg.Name, tg, "roll back")
	if err != nil {
		return Run{}, err
	}
	kept, err := u.managedOrMissing(ctx, cfg.Name, RollbackName(tg.name))
	if err != nil {
		return Run{}, err
	}
	if kept.ID == "" {
		return Run{}, app.BadInput("upgrade first; to go to a given version, run 'duobox upgrade "+role+" --to TAG'",
			"there is no previous version of %s to roll back to (no %s container)", tg.name, RollbackName(tg.name))
	}
	keptBy, err := u.keptBy(ctx, cfg.Name, role, kept.ID)
	if err != nil {
		return Run{}, err
	}
	prev := keptBy.From
	run := Run{Stack: cfg.Name, Role: role, Container: tg.name, Action: ActionRollback,
		From: refOf(ImageOf(cfg, role)), To: prev, OldID: current.ID, KeptID: kept.ID,
		FromDigest: u.digestOf(ctx, curState.ImageID, ImageOf(cfg, role).Repository), ToDigest: keptBy.FromDigest}
	beside := u.besideOrSay(ctx, cfg, tg, len(stopFirst) > 0 && stopFirst[0])
	if err := u.begin(ctx, &run); err != nil {
		return run, err
	}
	r := &runner{u: u, run: &run, beside: beside}
	spec, err := u.Build(withImage(cfg, role, prev))
	if err != nil {
		u.finish(ctx, &run, OutcomeFailed, err.Error(), "")
		return run, err
	}
	c, ok := spec.Container(tg.name)
	if !ok {
		err := fmt.Errorf("rollback %s: the spec has no container %s", role, tg.name)
		u.finish(ctx, &run, OutcomeFailed, err.Error(), "")
		return run, err
	}
	if beside {
		why, err := r.besideSwap(ctx, c, spec.Network.Name, StepRenamingCurrent, StepRenamingTarget, run.OldID, swapName(tg.name), run.KeptID)
		if err != nil {
			return r.fail(ctx, err)
		}
		if why != "" {
			_, err := r.fail(ctx, fmt.Errorf("the previous version %s is not healthy: %s; %s kept serving", prev.Tag, why, run.From.Tag))
			return run, app.NotReady(err, "look at 'duobox history' for its log lines; 'duobox up' keeps the current version", "rollback of %s failed", tg.name)
		}
		if err := r.step(ctx, StepFinalizing); err != nil {
			return run, err
		}
		return run, u.finalize(ctx, &run)
	}
	if err := u.swap(ctx, r, spec.Network.Name, StepRenamingCurrent, StepRenamingTarget, run.OldID, swapName(tg.name), run.KeptID, tg.name, len(c.Ports) > 0); err != nil {
		return r.fail(ctx, err)
	}
	if why := u.waitHealthy(ctx, c, run.KeptID); why != "" {
		_, err := r.fail(ctx, fmt.Errorf("the previous version %s is not healthy: %s; %s runs again", prev.Tag, why, run.From.Tag))
		return run, app.NotReady(err, "look at 'duobox history' for its log lines; 'duobox up' keeps the current version", "rollback of %s failed", tg.name)
	}
	if err := r.step(ctx, StepFinalizing); err != nil {
		return run, err
	}
	return run, u.finalize(ctx, &run)
}

// keptBy finds the run that kept the rollback target: the last successful
// run that replaced it. Its From is the target's image.
func (u *Upgrader) keptBy(ctx context.Context, stackName, role, keptID string) (Run, error) {
	runs, err := u.query(ctx, store.UpgradeQuery{Stack: stackName, Role: role, Outcome: OutcomeSucceeded, OldID: keptID, Newest: true, Limit: 1})
	if err != nil {
		return Run{}, err
	}
	if len(runs) == 0 {
		return Run{}, app.BadInput("run 'duobox upgrade "+role+" --to TAG' to choose the version yourself",
			"the history does not say which version the kept container runs")
	}
	return runs[0], nil
}
