package docker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

func TestRenameAndStopOnlyTouchDuoBoxContainers(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ctx := context.Background()
	ref := bed.Ref(testbed.Gateway, "v1")
	if err := eng.Pull(ctx, ref, "", nil); err != nil {
		t.Fatal(err)
	}
	name := uniqueName(t)
	ours := stack.Container{Name: name, Role: stack.RoleGateway, Image: ref, Restart: "no",
		Labels: map[string]string{stack.LabelManaged: "true", stack.LabelStack: name, stack.LabelRole: stack.RoleGateway}}
	id, err := eng.CreateContainer(ctx, ours, "bridge", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.API.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true}) })
	stranger, err := eng.API.ContainerCreate(ctx, client.ContainerCreateOptions{Name: name + "-stranger", Config: &container.Config{Image: ref,
		Labels: map[string]string{stack.LabelStack: name}}}) // not io.duobox.managed: a stranger
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		eng.API.ContainerRemove(context.Background(), stranger.ID, client.ContainerRemoveOptions{Force: true})
	})

	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := eng.Rename(ctx, id, name+"-rollback"); err != nil {
		t.Fatalf("rename: %v", err)
	}
	if o, err := eng.Lookup(ctx, engine.KindContainer, name+"-rollback"); err != nil || o.ID != id {
		t.Fatalf("lookup after rename: %+v, %v", o, err)
	}
	if err := eng.Stop(ctx, id, time.Second); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if st, _ := eng.Inspect(ctx, id); st.Running {
		t.Errorf("still running after stop")
	}
	if err := eng.Stop(ctx, id, time.Second); err != nil {
		t.Errorf("stopping a stopped container: %v", err)
	}
	// The name is taken: a conflict that says so.
	if err := eng.Rename(ctx, id, name+"-stranger"); app.KindOf(err) != app.KindConflict {
		t.Errorf("rename onto a taken name: %v", err)
	}
	// A container without DuoBox's label is refused, and left as it was.
	for _, err := range []error{eng.Rename(ctx, stranger.ID, name+"-moved"), eng.Stop(ctx, stranger.ID, time.Second)} {
		if !errors.Is(err, app.ErrNotManaged) {
			t.Errorf("stranger touched: %v", err)
		}
	}
	if o, err := eng.Lookup(ctx, engine.KindContainer, name+"-stranger"); err != nil || o.ID != stranger.ID {
		t.Errorf("stranger renamed: %+v, %v", o, err)
	}
}
