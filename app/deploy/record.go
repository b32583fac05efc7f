package deploy

import (
	"context"
	"time"

	"github.com/duobox/duobox/app/store"
)

// recorder writes what deploy did into the state database; a nil store records nothing.
type recorder struct{ st *store.Store }

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (r recorder) begin(ctx context.Context, stackName, action string) int64 {
	if r.st == nil {
		return 0
	}
	res, err := r.st.DB.ExecContext(ctx, "INSERT INTO deployments(stack, action, started_at) VALUES (?, ?, ?)", stackName, action, ts(time.Now()))
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

func (r recorder) put(ctx context.Context, stackName string, o Object, role, hash, image string) {
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
func Recorded(ctx context.Context, st *store.Store, stackName string) ([]Object, error) {
	rows, err := st.DB.QueryContext(ctx, "SELECT kind, name, engine_id, role FROM stack_objects WHERE stack = ? ORDER BY kind, name", stackName)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		var o Object
		var role string
		if err := rows.Scan(&o.Kind, &o.Name, &o.ID, &role); err != nil {
			return nil, err
		}
		o.Labels = map[string]string{"io.duobox.role": role}
		out = append(out, o)
	}
	return out, rows.Err()
}
