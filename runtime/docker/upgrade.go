package docker

import (
	"context"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
)

// The engine must satisfy the upgrade's contract.
var _ upgrade.Engine = (*Engine)(nil)

// Rename gives a DuoBox container a new name (its DNS name on the stack's
// network follows). Containers without DuoBox's label are refused.
func (e *Engine) Rename(ctx context.Context, id, newName string) error {
	if err := e.checkManaged(ctx, id); err != nil {
		return err
	}
	if _, err := e.API.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: newName}); err != nil {
		if strings.Contains(err.Error(), "already in use") || cerrdefs.IsConflict(err) {
			return app.Conflict(err, "remove or rename the other container, then retry", "cannot rename a container to %s: the name is taken", newName)
		}
		return e.explain(err, "rename container "+id+" to "+newName)
	}
	return nil
}

// Stop stops a DuoBox container, giving it grace to exit before it is
// killed; a container already stopped is not an error. Containers without
// DuoBox's label are refused.
func (e *Engine) Stop(ctx context.Context, id string, grace time.Duration) error {
	if err := e.checkManaged(ctx, id); err != nil {
		return err
	}
	secs := max(int(grace.Seconds()), 0)
	_, err := e.API.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotModified(err) {
		return e.explain(err, "stop container "+id)
	}
	return nil
}

func (e *Engine) checkManaged(ctx context.Context, id string) error {
	r, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return e.explain(err, "inspect container "+id)
	}
	if r.Container.Config == nil || r.Container.Config.Labels[stack.LabelManaged] != "true" {
		return &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
			What: "container " + strings.TrimPrefix(r.Container.Name, "/") + " was not created by DuoBox (no " + stack.LabelManaged + " label)",
			Fix:  "DuoBox leaves it alone"}
	}
	return nil
}

// ServeAs makes alias one of a DuoBox container's DNS names on networkName
// (on), or takes it away (!on), by reconnecting the container to the network
// with the new alias list; the engine's DNS then answers alias with every
// container that carries it. It changes nothing when the alias is already as
// asked, and connects a container that a cut-short earlier call left off the
// network. It works on running and stopped containers.
func (e *Engine) ServeAs(ctx context.Context, id, networkName, alias string, on bool) error {
	r, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return e.explain(err, "inspect container "+id)
	}
	if r.Container.Config == nil || r.Container.Config.Labels[stack.LabelManaged] != "true" {
		return &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
			What: "container " + strings.TrimPrefix(r.Container.Name, "/") + " was not created by DuoBox (no " + stack.LabelManaged + " label)",
			Fix:  "DuoBox leaves it alone"}
	}
	var aliases []string
	connected := false
	if ns := r.Container.NetworkSettings; ns != nil {
		if ep, ok := ns.Networks[networkName]; ok && ep != nil {
			connected = true
			short := r.Container.ID[:min(12, len(r.Container.ID))]
			has := false
			for _, a := range ep.Aliases {
				switch a {
				case alias:
					has = true
				case short: // the engine adds it by itself
				default:
					aliases = append(aliases, a)
				}
			}
			if has == on {
				return nil
			}
		}
	}
	if on {
		aliases = append(aliases, alias)
	}
	what := "network alias " + alias + " of container " + id
	if connected {
		if _, err := e.API.NetworkDisconnect(ctx, networkName, client.NetworkDisconnectOptions{Container: id, Force: true}); err != nil {
			return e.explain(err, "move "+what)
		}
	}
	if _, err := e.API.NetworkConnect(ctx, networkName, client.NetworkConnectOptions{Container: id,
		EndpointConfig: &network.EndpointSettings{Aliases: aliases}}); err != nil {
		return e.explain(err, "move "+what)
	}
	return nil
}

// LeaveNetwork disconnects a running DuoBox container from a network: its
// published ports are released at once, while the process still runs (a
// switch then starts the successor without waiting for the old one's stop
// and teardown). Not connected is not an error.
func (e *Engine) LeaveNetwork(ctx context.Context, id, networkName string) error {
	if err := e.checkManaged(ctx, id); err != nil {
		return err
	}
	_, err := e.API.NetworkDisconnect(ctx, networkName, client.NetworkDisconnectOptions{Container: id, Force: true})
	if err != nil && !strings.Contains(err.Error(), "is not connected") {
		return e.explain(err, "disconnect container "+id+" from "+networkName)
	}
	return nil
}

// JoinNetwork connects a DuoBox container to a network when it is not
// (joined reports that it had to); its aliases are the engine's defaults.
func (e *Engine) JoinNetwork(ctx context.Context, id, networkName string) (joined bool, err error) {
	r, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return false, e.explain(err, "inspect container "+id)
	}
	if r.Container.Config == nil || r.Container.Config.Labels[stack.LabelManaged] != "true" {
		return false, &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
			What: "container " + strings.TrimPrefix(r.Container.Name, "/") + " was not created by DuoBox", Fix: "DuoBox leaves it alone"}
	}
	if ns := r.Container.NetworkSettings; ns != nil {
		if _, ok := ns.Networks[networkName]; ok {
			return false, nil
		}
	}
	if _, err := e.API.NetworkConnect(ctx, networkName, client.NetworkConnectOptions{Container: id, EndpointConfig: &network.EndpointSettings{}}); err != nil {
		return false, e.explain(err, "connect container "+id+" to "+networkName)
	}
	return true, nil
}
