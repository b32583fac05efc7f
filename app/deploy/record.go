package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/store"
)

// recorder writes what deploy did into the state database; a nil store records nothing.
type recorder struct{ st *store.Store }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (r recorder) begin(ctx context.Context, stackName, action string) int64 {
	if r.st == nil {
		return 0
	}
	r.closeInterrupted(ctx, stackName, action)
	res, err := r.st.DB.ExecContext(ctx, "INSERT INTO deployments(stack, action, started_at, detail) VALUES (?, ?, ?, ?)",
		stackName, action, ts(time.Now()), fmt.Sprintf("pid %d", os.Getpid()))
	if err != nil {
		return 0
	}
	id, _ := res.LastInsertId()
	return id
}

func (r recorder) finish(ctx context.Context, id int64, err error) {
	if r.st == nil || id == 0 {
		return
	}
	outcome, detail := "ok", ""
	if err != nil {
		outcome, detail = "failed", err.Error()
	}
	_, _ = r.st.DB.ExecContext(context.WithoutCancel(ctx), "UPDATE deployments SET finished_at = ?, outcome = ?, detail = ? WHERE id = ?", ts(time.Now()), outcome, detail, id)
}

func (r recorder) put(ctx context.Context, stackName string, o engine.Object, role, hash, image string) {
	if r.st == nil {
		return
	}
	_, _ = r.st.DB.ExecContext(ctx, `INSERT INTO stack_objects(stack, kind, name, engine_id, role, config_hash, image, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(stack, kind, name) DO UPDATE SET engine_id = excluded.engine_id, role = excluded.role,
		config_hash = excluded.config_hash, image = excluded.image, created_at = excluded.created_at`,
		stackName, o.Kind, o.Name, o.ID, role, hash, image, ts(time.Now()))
}

func (r recorder) drop(ctx context.Context, stackName, kind, name string) {
	if r.st == nil {
		return
	}
	_, _ = r.st.DB.ExecContext(context.WithoutCancel(ctx), "DELETE FROM stack_objects WHERE stack = ? AND kind = ? AND name = ?", stackName, kind, name)
}

// Recorded lists the objects the database says DuoBox created for a stack.
func Recorded(ctx context.Context, st *store.Store, stackName string) ([]engine.Object, error) {
	rows, err := st.DB.QueryContext(ctx, "SELECT kind, name, engine_id, role FROM stack_objects WHERE stack = ? ORDER BY kind, name", stackName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []engine.Object
	for rows.Next() {
		var o engine.Object
		var role string
		if err := rows.Scan(&o.Kind, &o.Name, &o.ID, &role); err != nil {
			return nil, err
		}
		o.Labels = map[string]string{"io.duobox.role": role}
		out = append(out, o)
	}
	return out, rows.Err()
}

// closeInterrupted marks the stack's runs that are still "running" but whose
// process is gone (killed, crashed, power lost) as interrupted, so a killed
// `up` does not stay running in the history forever. Stack-changing commands
// hold the stack lock, so an open run found here is not in progress, unless
// its process is still alive (then it is left alone).
func (r recorder) closeInterrupted(ctx context.Context, stackName, by string) {
	rows, err := r.st.DB.QueryContext(ctx, "SELECT id, action, detail FROM deployments WHERE stack = ? AND outcome = 'running'", stackName)
	if err != nil {
		return
	}
	type open struct {
		id             int64
		action, detail string
	}
	var found []open
	for rows.Next() {
		var o open
		if rows.Scan(&o.id, &o.action, &o.detail) == nil {
			found = append(found, o)
		}
	}
	rows.Close()
	for _, o := range found {
		var pid int
		if _, err := fmt.Sscanf(o.detail, "pid %d", &pid); err == nil && pid > 0 && processAlive(pid) {
			continue
		}
		_, _ = r.st.DB.ExecContext(ctx, "UPDATE deployments SET finished_at = ?, outcome = 'interrupted', detail = ? WHERE id = ?", ts(time.Now()),
			fmt.Sprintf("this %s was stopped before it finished (killed or crashed); found by the next %s, which made the engine match the config again", o.action, by), o.id)
	}
}

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Runs lists the stack's recorded up/down/restart runs, newest first.
func Runs(ctx context.Context, st *store.Store, stackName string) ([]RunRecord, error) {
	rows, err := st.DB.QueryContext(ctx, "SELECT id, action, started_at, COALESCE(finished_at, ''), outcome, detail FROM deployments WHERE stack = ? ORDER BY id DESC", stackName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunRecord
	for rows.Next() {
		var r RunRecord
		if err := rows.Scan(&r.ID, &r.Action, &r.StartedAt, &r.FinishedAt, &r.Outcome, &r.Detail); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RunRecord is one recorded up, down or restart.
type RunRecord struct {
	ID         int64  `json:"id"`
	Action     string `json:"action"`
	StartedAt  string `json:"started_at"`
	FinishedAt string `json:"finished_at,omitempty"`
	Outcome    string `json:"outcome"` // running, ok, failed, interrupted
	Detail     string `json:"detail,omitempty"`
}
