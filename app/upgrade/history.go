package upgrade

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/duobox/duobox/app/config"
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

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func imageJSON(r ImageRef) string {
	b, _ := json.Marshal(r)
	return string(b)
}

// begin inserts the run (step "planned") before anything is done.
func (u *Upgrader) begin(ctx context.Context, run *Run) error {
	run.StartedAt, run.Outcome, run.Step = now(), OutcomeRunning, StepPlanned
	res, err := u.Store.DB.ExecContext(ctx, `INSERT INTO upgrades
		(stack, role, container, action, step, from_image, from_digest, to_image, to_digest, old_id, new_id, kept_id, started_at, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run.Stack, run.Role, run.Container, run.Action, string(run.Step), imageJSON(run.From), run.FromDigest,
		imageJSON(run.To), run.ToDigest, run.OldID, run.NewID, run.KeptID, stamp(run.StartedAt), run.Outcome)
	if err != nil {
		return fmt.Errorf("record %s: %w", run.Action, err)
	}
	if run.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("record %s: %w", run.Action, err)
	}
	return u.addStep(ctx, run, StepPlanned)
}

// recordStep writes the step the run is about to take.
func (u *Upgrader) recordStep(ctx context.Context, run *Run, s Step) error {
	run.Step = s
	if _, err := u.Store.DB.ExecContext(ctx, `UPDATE upgrades SET step = ? WHERE id = ?`, string(s), run.ID); err != nil {
		return fmt.Errorf("record step %s: %w", s, err)
	}
	return u.addStep(ctx, run, s)
}

func (u *Upgrader) addStep(ctx context.Context, run *Run, s Step) error {
	at := now()
	run.Steps = append(run.Steps, StepTime{Step: s, At: at})
	if _, err := u.Store.DB.ExecContext(ctx, `INSERT INTO upgrade_steps (upgrade_id, step, at) VALUES (?, ?, ?)`, run.ID, string(s), stamp(at)); err != nil {
		return fmt.Errorf("record step %s: %w", s, err)
	}
	return nil
}

// saveRun writes what the run learnt on the way (target digest, new container).
func (u *Upgrader) saveRun(ctx context.Context, run *Run) error {
	_, err := u.Store.DB.ExecContext(ctx, `UPDATE upgrades SET to_image = ?, to_digest = ?, new_id = ? WHERE id = ?`,
		imageJSON(run.To), run.ToDigest, run.NewID, run.ID)
	if err != nil {
		return fmt.Errorf("record %s: %w", run.Action, err)
	}
	return nil
}

// finish closes the run with its outcome.
func (u *Upgrader) finish(ctx context.Context, run *Run, outcome, reason, logs string) {
	t := now()
	run.Outcome, run.Reason, run.Logs, run.FinishedAt = outcome, reason, logs, &t
	// A failed write here leaves the run "running"; the next start reconciles it.
	_, _ = u.Store.DB.ExecContext(ctx, `UPDATE upgrades SET outcome = ?, reason = ?, logs = ?, finished_at = ? WHERE id = ?`,
		outcome, reason, logs, stamp(t), run.ID)
}

const runColumns = `id, stack, role, container, action, step, from_image, from_digest, to_image, to_digest,
	old_id, new_id, kept_id, started_at, finished_at, outcome, reason, logs`

func scanRun(rows *sql.Rows) (Run, error) {
	var r Run
	var step, from, to, started string
	var finished sql.NullString
	if err := rows.Scan(&r.ID, &r.Stack, &r.Role, &r.Container, &r.Action, &step, &from, &r.FromDigest, &to, &r.ToDigest,
		&r.OldID, &r.NewID, &r.KeptID, &started, &finished, &r.Outcome, &r.Reason, &r.Logs); err != nil {
		return r, err
	}
	r.Step = Step(step)
	_ = json.Unmarshal([]byte(from), &r.From)
	_ = json.Unmarshal([]byte(to), &r.To)
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, started)
	if finished.Valid {
		t, _ := time.Parse(time.RFC3339Nano, finished.String)
		r.FinishedAt = &t
	}
	return r, nil
}

func (u *Upgrader) query(ctx context.Context, where string, args ...any) ([]Run, error) {
	rows, err := u.Store.DB.QueryContext(ctx, `SELECT `+runColumns+` FROM upgrades WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read upgrade history: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("read upgrade history: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read upgrade history: %w", err)
	}
	for i := range out {
		if out[i].Steps, err = u.steps(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (u *Upgrader) steps(ctx context.Context, id int64) ([]StepTime, error) {
	rows, err := u.Store.DB.QueryContext(ctx, `SELECT step, at FROM upgrade_steps WHERE upgrade_id = ? ORDER BY rowid`, id)
	if err != nil {
		return nil, fmt.Errorf("read upgrade steps: %w", err)
	}
	defer rows.Close()
	var out []StepTime
	for rows.Next() {
		var s, at string
		if err := rows.Scan(&s, &at); err != nil {
			return nil, fmt.Errorf("read upgrade steps: %w", err)
		}
		t, _ := time.Parse(time.RFC3339Nano, at)
		out = append(out, StepTime{Step: Step(s), At: t})
	}
	return out, rows.Err()
}

// History lists a stack's upgrades and rollbacks, newest first (limit <= 0: all).
func (u *Upgrader) History(ctx context.Context, stackName string, limit int) ([]Run, error) {
	if limit <= 0 {
		limit = -1
	}
	return u.query(ctx, `stack = ? ORDER BY id DESC LIMIT ?`, stackName, limit)
}
