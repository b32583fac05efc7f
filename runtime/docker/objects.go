package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
)

// The engine must satisfy deploy's contract.
var _ engine.Engine = (*Engine)(nil)

// Objects lists the stack's labelled containers, networks and volumes.
func (e *Engine) Objects(ctx context.Context, stackName string) ([]engine.Object, error) {
	f := client.Filters{}.Add("label", stack.LabelManaged+"=true", stack.LabelStack+"="+stackName)
	var cs client.ContainerListResult
	var ns client.NetworkListResult
	var vs client.VolumeListResult
	var errs [3]error
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		cs, errs[0] = e.API.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	}()
	go func() { defer wg.Done(); ns, errs[1] = e.API.NetworkList(ctx, client.NetworkListOptions{Filters: f}) }()
	go func() { defer wg.Done(); vs, errs[2] = e.API.VolumeList(ctx, client.VolumeListOptions{Filters: f}) }()
	wg.Wait()
	for i, what := range []string{"list containers", "list networks", "list volumes"} {
		if errs[i] != nil {
			return nil, e.explain(errs[i], what)
		}
	}
	var out []engine.Object
	for _, c := range cs.Items {
		out = append(out, engine.Object{Kind: engine.KindContainer, ID: c.ID, Name: containerName(c.Names), Labels: c.Labels, State: string(c.State)})
	}
	for _, n := range ns.Items {
		out = append(out, engine.Object{Kind: engine.KindNetwork, ID: n.ID, Name: n.Name, Labels: n.Labels})
	}
	for _, v := range vs.Items {
		out = append(out, engine.Object{Kind: engine.KindVolume, ID: v.Name, Name: v.Name, Labels: v.Labels})
	}
	return out, nil
}

// Lookup finds an object by exact name, labelled or not.
func (e *Engine) Lookup(ctx context.Context, kind, name string) (engine.Object, error) {
	switch kind {
	case engine.KindContainer:
		r, err := e.API.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
		if err != nil {
			return engine.Object{}, e.explain(err, "inspect container "+name)
		}
		c := r.Container
		return engine.Object{Kind: kind, ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Labels: c.Config.Labels, State: string(c.State.Status)}, nil
	case engine.KindNetwork:
		r, err := e.API.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
		if err != nil {
			return engine.Object{}, e.explain(err, "inspect network "+name)
		}
		if r.Network.Name != name { // inspect also matches ID prefixes
			return engine.Object{}, app.ErrNotFound
		}
		return engine.Object{Kind: kind, ID: r.Network.ID, Name: r.Network.Name, Labels: r.Network.Labels}, nil
	case engine.KindVolume:
		vs, err := e.API.VolumeList(ctx, client.VolumeListOptions{Filters: client.Filters{}.Add("name", name)})
		if err != nil {
			return engine.Object{}, e.explain(err, "list volumes")
		}
		for _, v := range vs.Items {
			if v.Name == name {
				return engine.Object{Kind: kind, ID: v.Name, Name: v.Name, Labels: v.Labels}, nil
			}
		}
		return engine.Object{}, app.ErrNotFound
	}
	return engine.Object{}, fmt.Errorf("lookup: unknown kind %q", kind)
}

// CreateNetwork creates a user-defined bridge network.
func (e *Engine) CreateNetwork(ctx context.Context, n stack.Network) error {
	_, err := e.API.NetworkCreate(ctx, n.Name, client.NetworkCreateOptions{Driver: "bridge", Labels: n.Labels})
	return e.explain(err, "create network "+n.Name)
}

// CreateVolume creates a named local volume.
func (e *Engine) CreateVolume(ctx context.Context, v stack.Volume) error {
	_, err := e.API.VolumeCreate(ctx, client.VolumeCreateOptions{Name: v.Name, Driver: "local", Labels: v.Labels})
	return e.explain(err, "create volume "+v.Name)
}

// Remove stops and removes a managed object. Objects without DuoBox's label are refused.
func (e *Engine) Remove(ctx context.Context, o engine.Object) error {
	if !o.Managed() {
		return &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
			What: fmt.Sprintf("%s %q was not created by DuoBox (no %s label)", o.Kind, o.Name, stack.LabelManaged),
			Fix:  "DuoBox leaves it alone; rename or remove it yourself if it is in the way"}
	}
	var err error
	switch o.Kind {
	case engine.KindContainer:
		timeout := 10
		_, err = e.API.ContainerStop(ctx, o.ID, client.ContainerStopOptions{Timeout: &timeout})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsNotModified(err) {
			return e.explain(err, "stop container "+o.Name)
		}
		_, err = e.API.ContainerRemove(ctx, o.ID, client.ContainerRemoveOptions{Force: true})
		if err == nil {
			err = e.waitGone(ctx, o.ID)
		}
	case engine.KindNetwork:
		_, err = e.API.NetworkRemove(ctx, o.ID, client.NetworkRemoveOptions{})
	case engine.KindVolume:
		_, err = e.API.VolumeRemove(ctx, o.Name, client.VolumeRemoveOptions{})
	default:
		return fmt.Errorf("remove: unknown kind %q", o.Kind)
	}
	if cerrdefs.IsNotFound(err) {
		return nil
	}
	return e.explain(err, "remove "+o.Kind+" "+o.Name)
}

// waitGone waits until a removed container's name is free again.
func (e *Engine) waitGone(ctx context.Context, id string) error {
	for i := 0; i < 100; i++ {
		if _, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); cerrdefs.IsNotFound(err) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// explain maps an engine error to an app problem; nil stays nil and "not
// found" becomes app.ErrNotFound (wrapped).
func (e *Engine) explain(err error, doing string) error {
	if err == nil {
		return nil
	}
	if cerrdefs.IsNotFound(err) {
		return fmt.Errorf("%s: %w (%v)", doing, app.ErrNotFound, err)
	}
	if client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) && !strings.Contains(doing, "pull") {
		return explainConnectError(err, e.Endpoint)
	}
	var p *app.Problem
	if errors.As(err, &p) {
		return err
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func containerName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return strings.TrimPrefix(names[0], "/")
}
