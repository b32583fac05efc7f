package store

import (
	"context"
	"time"
)

// stamp writes a time as the database keeps it: RFC 3339, UTC.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// parseStamp reads a time written by stamp (zero when it is not one).
func parseStamp(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Deployment is one recorded up, down or restart.
type Deployment struct {
	ID         int64  `json:"id"`
	Action     string `json:"action"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at,omitempty"`
	Outcome    string `json:"outcome"` // running, ok, failed, interrupted
	Detail     string `json:"detail,omitempty"`
}

// BeginDeployment records a stack's run as "running" and returns its id.
func (s *Store) BeginDeployment(ctx context.Context, stackName, action string, at time.Time, detail string) (int64, error) {
	res, err := s.DB.ExecContext(ctx, "INSERT INTO deployments(stack, action, started_at, detail) VALUES (?, ?, ?, ?)",
		stackName, action, stamp(at), detail)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// FinishDeployment closes a run with its outcome and detail.
func (s *Store) FinishDeployment(ctx context.Context, id int64, at time.Time, outcome, detail string) error {
	_, err := s.DB.ExecContext(ctx, "UPDATE deployments SET finished_at = ?, outcome = ?, detail = ? WHERE id = ?", stamp(at), outcome, detail, id)
	return err
}

// Deployments lists a stack's recorded runs, newest first; running: only
// those still "running".
func (s *Store) Deployments(ctx context.Context, stackName string, running bool) ([]Deployment, error) {
	q := "SELECT id, action, started_at, COALESCE(finished_at, ''), outcome, detail FROM deployments WHERE stack = ?"
	if running {
		q += " AND outcome = 'running'"
	}
	rows, err := s.DB.QueryContext(ctx, q+" ORDER BY id DESC", stackName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Deployment
	for rows.Next() {
		var r Deployment
		if err := rows.Scan(&r.ID, &r.Action, &r.StartedAt, &r.FinishedAt, &r.Outcome, &r.Detail); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// StackObject is an engine object DuoBox created for a stack.
type StackObject struct {
	Stack, Kind, Name, EngineID, Role, ConfigHash, Image string
	CreatedAt                                            time.Time
}

// PutStackObject records (or replaces) an object DuoBox created.
func (s *Store) PutStackObject(ctx context.Context, o StackObject) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO stack_objects(stack, kind, name, engine_id, role, config_hash, image, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(stack, kind, name) DO UPDATE SET engine_id = excluded.engine_id, role = excluded.role,
		config_hash = excluded.config_hash, image = excluded.image, created_at = excluded.created_at`,
		o.Stack, o.Kind, o.Name, o.EngineID, o.Role, o.ConfigHash, o.Image, stamp(o.CreatedAt))
	return err
}

// DropStackObject forgets an object DuoBox removed.
func (s *Store) DropStackObject(ctx context.Context, stackName, kind, name string) error {
	_, err := s.DB.ExecContext(ctx, "DELETE FROM stack_objects WHERE stack = ? AND kind = ? AND name = ?", stackName, kind, name)
	return err
}

// StackObjects lists the objects recorded for a stack, by kind and name
// (Stack, Kind, Name, EngineID and Role filled).
func (s *Store) StackObjects(ctx context.Context, stackName string) ([]StackObject, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT kind, name, engine_id, role FROM stack_objects WHERE stack = ? ORDER BY kind, name", stackName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []StackObject
	for rows.Next() {
		o := StackObject{Stack: stackName}
		if err := rows.Scan(&o.Kind, &o.Name, &o.EngineID, &o.Role); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}
