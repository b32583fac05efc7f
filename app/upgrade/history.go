package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/store"
)

// ImageRef is an image as the config names it.
type ImageRef struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Digest     string `json:"digest,omitempty"`
}

func refOf(i config.Image) ImageRef {
	return ImageRef{Repository: i.Repository, Tag: i.Tag, Digest: i.Digest}
}

// StepTime is when a step was entered.
type StepTime struct {
	Step Step      `json:"step"`
	At   time.Time `json:"at"`
}

// Run is one upgrade or rollback as the history keeps it.
type Run struct {
	ID         int64      `json:"id"`
	Stack      string     `json:"stack"`
	Role       string     `json:"role"`
	Container  string     `json:"container"`
	Action     string     `json:"action"` // upgrade, rollback
	Step       Step       `json:"step"`   // the last step entered
	From       ImageRef   `json:"from"`
	FromDigest string     `json:"from_digest,omitempty"` // what the old container really ran
	To         ImageRef   `json:"to"`
	ToDigest   string     `json:"to_digest,omitempty"`
	OldID      string     `json:"-"`
	NewID      string     `json:"-"`
	KeptID     string     `json:"-"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Outcome    string     `json:"outcome"`
	Reason     string     `json:"reason,omitempty"`
	Logs       string     `json:"logs,omitempty"` // the failed container's last log lines
	Steps      []StepTime `json:"steps,omitempty"`
}

func now() time.Time { return time.Now().UTC() }

func imageJSON(r ImageRef) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// begin inserts the run (step "planned") before anything is done.
func (u *Upgrader) begin(ctx context.Context, run *Run) error {
	run.StartedAt, run.Outcome, run.Step = now(), OutcomeRunning, StepPlanned
	id, err := u.Store.BeginUpgrade(ctx, store.UpgradeRun{Stack: run.Stack, Role: run.Role, Container: run.Container, Action: run.Action,
		Step: string(run.Step), FromImage: imageJSON(run.From), FromDigest: run.FromDigest, ToImage: imageJSON(run.To), ToDigest: run.ToDigest,
		OldID: run.OldID, NewID: run.NewID, KeptID: run.KeptID, StartedAt: run.StartedAt, Outcome: run.Outcome})
	if err != nil {
		return fmt.Errorf("record %s: %w", run.Action, err)
	}
	run.ID = id
	return u.addStep(ctx, run, StepPlanned)
}

// recordStep writes the step the run is about to take.
func (u *Upgrader) recordStep(ctx context.Context, run *Run, s Step) error {
	run.Step = s
	if err := u.Store.SetUpgradeStep(ctx, run.ID, string(s)); err != nil {
		return fmt.Errorf("record step %s: %w", s, err)
	}
	return u.addStep(ctx, run, s)
}

func (u *Upgrader) addStep(ctx context.Context, run *Run, s Step) error {
	at := now()
	run.Steps = append(run.Steps, StepTime{Step: s, At: at})
	if err := u.Store.AddUpgradeStep(ctx, run.ID, string(s), at); err != nil {
		return fmt.Errorf("record step %s: %w", s, err)
	}
	return nil
}

// saveRun writes what the run learnt on the way (target digest, new container).
func (u *Upgrader) saveRun(ctx context.Context, run *Run) error {
	if err := u.Store.SaveUpgradeTarget(ctx, run.ID, imageJSON(run.To), run.ToDigest, run.NewID); err != nil {
		return fmt.Errorf("record %s: %w", run.Action, err)
	}
	return nil
}

// finish closes the run with its outcome.
func (u *Upgrader) finish(ctx context.Context, run *Run, outcome, reason, logs string) {
	t := now()
	run.Outcome, run.Reason, run.Logs, run.FinishedAt = outcome, reason, logs, &t
	// A failed write here leaves the run "running"; the next start reconciles it.
	_ = u.Store.FinishUpgrade(ctx, run.ID, outcome, reason, logs, t)
}

// query reads the runs q selects from the history.
func (u *Upgrader) query(ctx context.Context, q store.UpgradeQuery) ([]Run, error) {
	stored, err := u.Store.Upgrades(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Run
	for _, s := range stored {
		r := Run{ID: s.ID, Stack: s.Stack, Role: s.Role, Container: s.Container, Action: s.Action, Step: Step(s.Step),
			FromDigest: s.FromDigest, ToDigest: s.ToDigest, OldID: s.OldID, NewID: s.NewID, KeptID: s.KeptID,
			StartedAt: s.StartedAt, FinishedAt: s.FinishedAt, Outcome: s.Outcome, Reason: s.Reason, Logs: s.Logs}
		_ = json.Unmarshal([]byte(s.FromImage), &r.From)
		_ = json.Unmarshal([]byte(s.ToImage), &r.To)
		for _, st := range s.Steps {
			r.Steps = append(r.Steps, StepTime{Step: Step(st.Step), At: st.At})
		}
		out = append(out, r)
	}
	return out, nil
}

// History lists a stack's upgrades and rollbacks, newest first (limit <= 0: all).
func (u *Upgrader) History(ctx context.Context, stackName string, limit int) ([]Run, error) {
	return u.query(ctx, store.UpgradeQuery{Stack: stackName, Newest: true, Limit: limit})
}
