package upgrade

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
)

// Reconcile finishes or undoes the runs of a stack that a crash left open
// (call it when DuoBox starts). A run that had passed its health check is
// finished; any other is undone: the old container serves again under its
// name, the rollback target that existed before stays, containers the run
// created are removed (their last log lines kept), and the history marks the
// run interrupted. While another process holds the lock it does nothing.
func (u *Upgrader) Reconcile(ctx context.Context, stackName string) ([]Run, error) {
	runs, unlock, err := u.ExclusiveAs(ctx, stackName, "reconcile")
	if app.KindOf(err) == app.KindConflict {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	unlock()
	return runs, nil
}

// Exclusive holds the stack's upgrade lock for an operation that must not
// overlap an upgrade or rollback (duobox up), after finishing or undoing what
// a crash left open (the runs returned). While another process holds the
// lock it fails with a conflict. Call unlock when done.
func (u *Upgrader) Exclusive(ctx context.Context, stackName string) (runs []Run, unlock func(), err error) {
	return u.ExclusiveAs(ctx, stackName, "up")
}

// ExclusiveAs is Exclusive for the command op ("up", "upgrade", "rollback"),
// the name a refused command is told.
func (u *Upgrader) ExclusiveAs(ctx context.Context, stackName, op string) (runs []Run, unlock func(), err error) {
	unlock, err = u.lock(stackName, op)
	if err != nil {
		return nil, nil, err
	}
	runs, err = u.reconcileLocked(ctx, stackName)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return runs, unlock, nil
}

func (u *Upgrader) reconcileLocked(ctx context.Context, stackName string) ([]Run, error) {
	open, err := u.query(ctx, store.UpgradeQuery{Stack: stackName, Outcome: OutcomeRunning})
	if err != nil {
		return nil, err
	}
	for i := range open {
		run := &open[i]
		if besideHealthy(run) && run.Step != StepFinalizing && u.running(ctx, winner(run)) {
			// The new one had passed its health check beside the old one:
			// finish moving the name over (no downtime) instead of undoing.
			if err := u.completeBeside(ctx, run); err == nil {
				if err := u.finalize(ctx, run); err != nil {
					return open, err
				}
				run.Reason = strings.TrimPrefix(run.Reason+"; ", "; ") + "finished by reconcile: DuoBox had stopped after the new version passed its health check beside the old one"
				u.finish(ctx, run, OutcomeSucceeded, run.Reason, run.Logs)
				continue
			}
		}
		if run.Step == StepFinalizing && u.winnerServing(ctx, run) {
			if err := u.finalize(ctx, run); err != nil {
				return open, err
			}
			run.Reason = strings.TrimPrefix(run.Reason+"; ", "; ") + "finished by reconcile: DuoBox had stopped after the health check passed"
			u.finish(ctx, run, OutcomeSucceeded, run.Reason, run.Logs)
			continue
		}
		logs, rerr := u.restore(ctx, run)
		reason := fmt.Sprintf("DuoBox stopped during step %q; reconcile restored %s", run.Step, run.From.Tag)
		if rerr != nil {
			reason = fmt.Sprintf("DuoBox stopped during step %q; restoring %s failed: %v", run.Step, run.From.Tag, rerr)
		}
		u.finish(ctx, run, OutcomeInterrupted, reason, logs)
		if rerr != nil {
			return open, app.Environment(rerr, "run 'duobox up' to recreate the containers from the config", "an interrupted %s of %s could not be undone", run.Action, run.Container)
		}
	}
	return open, nil
}

// winner is the container meant to serve after the run.
func winner(run *Run) string {
	if run.Action == ActionRollback {
		return run.KeptID
	}
	return run.NewID
}

// winnerServing reports whether the run's new container runs under the serving name.
func (u *Upgrader) winnerServing(ctx context.Context, run *Run) bool {
	id := winner(run)
	if id == "" {
		return false
	}
	o, err := u.Engine.Lookup(ctx, engine.KindContainer, run.Container)
	if err != nil || o.ID != id {
		return false
	}
	st, err := u.Engine.Inspect(ctx, id)
	return err == nil && st.Running
}

// finalize keeps the replaced container as the rollback target (an
// upgrade's older target, set aside, goes now), saves the new image in the
// config and closes the run as succeeded.
func (u *Upgrader) finalize(ctx context.Context, run *Run) error {
	ctx = context.WithoutCancel(ctx)
	if o, err := u.Engine.Lookup(ctx, engine.KindContainer, swapName(run.Container)); err == nil && o.ID == run.OldID {
		if err := u.Engine.Rename(ctx, run.OldID, RollbackName(run.Container)); err != nil {
			return err
		}
	}
	if network, err := u.networkOf(ctx, run.Stack); err == nil {
		// The replaced one, stopped, is on the network (a switch may have
		// cut short after it left) and, once started again, does not answer
		// for the model's name before it is healthy.
		if _, err := u.Engine.JoinNetwork(ctx, run.OldID, network); err != nil {
			return err
		}
		if run.Role == stack.RoleModel {
			if err := u.Engine.ServeAs(ctx, run.OldID, network, run.Container, false); err != nil {
				return err
			}
		}
	}
	if run.Action == ActionUpgrade && run.KeptID != "" {
		if o, err := u.Engine.Lookup(ctx, engine.KindContainer, previousName(run.Container)); err == nil && o.ID == run.KeptID {
			if err := u.Engine.Remove(ctx, o); err != nil {
				return err
			}
		}
	}
	reason := ""
	if err := u.saveImage(run.Role, run.To); err != nil {
		reason = "the config could not be updated (" + err.Error() + "): set the image tag there by hand, or 'duobox up' goes back"
	}
	u.finish(ctx, run, OutcomeSucceeded, reason, "")
	return nil
}

// saveImage writes the role's image into the deployment config.
func (u *Upgrader) saveImage(role string, ref ImageRef) error {
	if u.ConfigPath == "" {
		return nil
	}
	cfg, err := config.Load(u.ConfigPath)
	if err != nil {
		return err
	}
	return config.Save(u.ConfigPath, withImage(cfg, role, ref))
}

// restore brings the state from before the run back: containers under the
// run's names that the run did not find are removed (the first one's last
// log lines are returned), the rollback target that existed is stopped under
// NAME-rollback, and the old container runs under NAME.
func (u *Upgrader) restore(ctx context.Context, run *Run) (logs string, err error) {
	x, rb := run.Container, RollbackName(run.Container)
	found := map[string]engine.Object{}
	for _, n := range []string{x, nextName(x), rb, swapName(x), previousName(x)} {
		o, err := u.Engine.Lookup(ctx, engine.KindContainer, n)
		if errors.Is(err, app.ErrNotFound) {
			continue
		}
		if err != nil {
			return logs, err
		}
		if owned(o, run.Stack) != nil || o.Labels[stack.LabelRole] != run.Role {
			continue // not ours: left alone
		}
		found[o.ID] = o
	}
	for _, id := range []string{run.OldID, run.KeptID} { // parked under another name by an earlier restore
		if _, ok := found[id]; ok || id == "" {
			continue
		}
		if o, err := u.Engine.Lookup(ctx, engine.KindContainer, id); err == nil && owned(o, run.Stack) == nil {
			found[o.ID] = o
		}
	}
	ids := make([]string, 0, len(found))
	if _, ok := found[run.NewID]; ok && run.NewID != run.OldID && run.NewID != run.KeptID {
		ids = append(ids, run.NewID) // its logs first
	}
	for id := range found {
		if id != run.NewID {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if id == run.OldID || id == run.KeptID {
			continue
		}
		if logs == "" {
			if lines, err := u.Engine.Logs(ctx, id, 5000); err == nil {
				own, probes := deploy.OwnLines(lines) // not the health checks' access lines
				if probes > 0 {
					own = append(own, fmt.Sprintf("(%d health-check request lines left out)", probes))
				}
				logs = strings.Join(excerpt(own, 20, 80), "\n") // its start and its end
			}
		}
		if err := u.Engine.Remove(ctx, found[id]); err != nil {
			return logs, err
		}
		delete(found, id)
	}
	old, hasOld := found[run.OldID]
	kept, hasKept := found[run.KeptID]
	hasKept = hasKept && run.KeptID != ""
	// Move whatever is not at its place to a name of its own first, so no
	// two renames collide, then put each where it was before the run.
	park := func(o *engine.Object, final string) error {
		if o.Name == final {
			return nil
		}
		tmp := x + "-restore-" + o.ID[:min(12, len(o.ID))]
		if err := u.Engine.Rename(ctx, o.ID, tmp); err != nil {
			return err
		}
		o.Name = tmp
		return nil
	}
	if hasKept {
		if err := park(&kept, rb); err != nil {
			return logs, err
		}
	}
	if hasOld {
		if err := park(&old, x); err != nil {
			return logs, err
		}
	}
	if hasKept {
		if err := u.Engine.Stop(ctx, kept.ID, u.stopGrace()); err != nil {
			return logs, err
		}
		if kept.Name != rb {
			if err := u.Engine.Rename(ctx, kept.ID, rb); err != nil {
				return logs, err
			}
		}
	}
	if !hasOld {
		return logs, fmt.Errorf("the container that served before (%s) is gone", run.From.Tag)
	}
	if old.Name != x {
		if err := u.Engine.Rename(ctx, old.ID, x); err != nil {
			return logs, err
		}
	}
	if network, err := u.networkOf(ctx, run.Stack); err == nil {
		joined, err := u.Engine.JoinNetwork(ctx, old.ID, network)
		if err != nil {
			return logs, err
		}
		if joined { // it had left the network mid-switch: a fresh start publishes its ports again
			if err := u.Engine.Stop(ctx, old.ID, 0); err != nil {
				return logs, err
			}
		}
	}
	if err := u.Engine.Start(ctx, old.ID); err != nil {
		return logs, err
	}
	return logs, nil
}
