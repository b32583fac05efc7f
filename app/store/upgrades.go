package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// UpgradeRun is one upgrade or rollback as the history keeps it; images are
// the config's image as JSON (repository, tag, digest).
type UpgradeRun struct {
	ID                             int64
	Stack, Role, Container, Action string
	Step                           string // the last step entered
	FromImage, FromDigest          string
	ToImage, ToDigest              string
	OldID, NewID, KeptID           string
	StartedAt                      time.Time
	FinishedAt                     *time.Time
	Outcome, Reason, Logs          string
	Steps                          []UpgradeStep
}

// UpgradeStep is when a run entered a step.
type UpgradeStep struct {
	Step string
	At   time.Time
}

// BeginUpgrade inserts a run and returns its id.
func (s *Store) BeginUpgrade(ctx context.Context, r UpgradeRun) (int64, error) {
	res, err := s.DB.ExecContext(ctx, `INSERT INTO upgrades
		(stack, role, container, action, step, from_image, from_digest, to_image, to_digest, old_id, new_id, kept_id, started_at, outcome)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Stack, r.Role, r.Container, r.Action, r.Step, r.FromImage, r.FromDigest,
		r.ToImage, r.ToDigest, r.OldID, r.NewID, r.KeptID, stamp(r.StartedAt), r.Outcome)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// SetUpgradeStep records the step a run is about to take.
func (s *Store) SetUpgradeStep(ctx context.Context, id int64, step string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE upgrades SET step = ? WHERE id = ?`, step, id)
	return err
}

// AddUpgradeStep appends a step and its time to a run's steps.
func (s *Store) AddUpgradeStep(ctx context.Context, id int64, step string, at time.Time) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO upgrade_steps (upgrade_id, step, at) VALUES (?, ?, ?)`, id, step, stamp(at))
	return err
}

// SaveUpgradeTarget records what a run learnt on the way (target image and
// digest, the new container).
func (s *Store) SaveUpgradeTarget(ctx context.Context, id int64, toImage, toDigest, newID string) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE upgrades SET to_image = ?, to_digest = ?, new_id = ? WHERE id = ?`, toImage, toDigest, newID, id)
	return err
}

// FinishUpgrade closes a run with its outcome.
func (s *Store) FinishUpgrade(ctx context.Context, id int64, outcome, reason, logs string, at time.Time) error {
	_, err := s.DB.ExecContext(ctx, `UPDATE upgrades SET outcome = ?, reason = ?, logs = ?, finished_at = ? WHERE id = ?`,
		outcome, reason, logs, stamp(at), id)
	return err
}

// UpgradeQuery selects runs: Stack always, Role, Outcome and OldID when set;
// oldest first unless Newest; Limit > 0 keeps that many.
type UpgradeQuery struct {
	Stack, Role, Outcome, OldID string
	Newest                      bool
	Limit                       int
}

const upgradeColumns = `id, stack, role, container, action, step, from_image, from_digest, to_image, to_digest,
	old_id, new_id, kept_id, started_at, finished_at, outcome, reason, logs`

// Upgrades lists the runs q selects, each with its steps.
func (s *Store) Upgrades(ctx context.Context, q UpgradeQuery) ([]UpgradeRun, error) {
	where, args := []string{"stack = ?"}, []any{q.Stack}
	for _, c := range []struct{ col, val string }{{"role", q.Role}, {"outcome", q.Outcome}, {"old_id", q.OldID}} {
		if c.val != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.val)
		}
	}
	order := " ORDER BY id"
	if q.Newest {
		order += " DESC"
	}
	limit := -1
	if q.Limit > 0 {
		limit = q.Limit
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+upgradeColumns+` FROM upgrades WHERE `+strings.Join(where, " AND ")+order+` LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("read upgrade history: %w", err)
	}
	defer rows.Close()
	var out []UpgradeRun
	for rows.Next() {
		var r UpgradeRun
		var started string
		var finished sql.NullString
		if err := rows.Scan(&r.ID, &r.Stack, &r.Role, &r.Container, &r.Action, &r.Step, &r.FromImage, &r.FromDigest, &r.ToImage, &r.ToDigest,
			&r.OldID, &r.NewID, &r.KeptID, &started, &finished, &r.Outcome, &r.Reason, &r.Logs); err != nil {
			return nil, fmt.Errorf("read upgrade history: %w", err)
		}
		r.StartedAt = parseStamp(started)
		if finished.Valid {
			t := parseStamp(finished.String)
			r.FinishedAt = &t
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read upgrade history: %w", err)
	}
	rows.Close()
	for i := range out {
		if out[i].Steps, err = s.upgradeSteps(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) upgradeSteps(ctx context.Context, id int64) ([]UpgradeStep, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT step, at FROM upgrade_steps WHERE upgrade_id = ? ORDER BY rowid`, id)
	if err != nil {
		return nil, fmt.Errorf("read upgrade steps: %w", err)
	}
	defer rows.Close()
	var out []UpgradeStep
	for rows.Next() {
		var st UpgradeStep
		var at string
		if err := rows.Scan(&st.Step, &at); err != nil {
			return nil, fmt.Errorf("read upgrade steps: %w", err)
		}
		st.At = parseStamp(at)
		out = append(out, st)
	}
	return out, rows.Err()
}
