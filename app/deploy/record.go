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

func (r recorder) begin(ctx context.Context, stackName, action string) int64 {
	if r.st == nil {
		return 0
	}
	r.closeInterrupted(ctx, stackName, action)
	id, err := r.st.BeginDeployment(ctx, stackName, action, time.Now(), fmt.Sprintf("pid %d", os.Getpid()))
	if err != nil {
		return 0
	}
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
	_ = r.st.FinishDeployment(context.WithoutCancel(ctx), id, time.Now(), outcome, detail)
}

func (r recorder) put(ctx context.Context, stackName string, o engine.Object, role, hash, image string) {
	if r.st == nil {
		return
	}
	_ = r.st.PutStackObject(ctx, store.StackObject{Stack: stackName, Kind: o.Kind, Name: o.Name, EngineID: o.ID, Role: role, ConfigHash: hash, Image: image, CreatedAt: time.Now()})
}

func (r recorder) drop(ctx context.Context, stackName, kind, name string) {
	if r.st == nil {
		return
	}
	_ = r.st.DropStackObject(context.WithoutCancel(ctx), stackName, kind, name)
}

// Recorded lists the objects the database says DuoBox created for a stack.
func Recorded(ctx context.Context, st *store.Store, stackName string) ([]engine.Object, error) {
	recs, err := st.StackObjects(ctx, stackName)
	if err != nil {
		return nil, err
	}
	var out []engine.Object
	for _, rec := range recs {
		out = append(out, engine.Object{Kind: rec.Kind, Name: rec.Name, ID: rec.EngineID, Labels: map[string]string{"io.duobox.role": rec.Role}})
	}
	return out, nil
}

// closeInterrupted marks the stack's runs that are still "running" but whose
// process is gone (killed, crashed, power lost) as interrupted, so a killed
// `up` does not stay running in the history forever. Stack-changing commands
// hold the stack lock, so an open run found here is not in progress, unless
// its process is still alive (then it is left alone).
func (r recorder) closeInterrupted(ctx context.Context, stackName, by string) {
	found, err := r.st.Deployments(ctx, stackName, true)
	if err != nil {
		return
	}
	for i := len(found) - 1; i >= 0; i-- { // oldest first
		o := found[i]
		var pid int
		if _, err := fmt.Sscanf(o.Detail, "pid %d", &pid); err == nil && pid > 0 && processAlive(pid) {
			continue
		}
		_ = r.st.FinishDeployment(ctx, o.ID, time.Now(), "interrupted",
			fmt.Sprintf("this %s was stopped before it finished (killed or crashed); found by the next %s, which made the engine match the config again", o.Action, by))
	}
}

// processAlive reports whether a process with that pid exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
