package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
)

// ManagedContainer implements health.Engine: it finds the stack's container
// with the given role by label and inspects it. Exists is false when there is none.
func (e *Engine) ManagedContainer(ctx context.Context, stackName, role string) (engine.ContainerState, error) {
	f := client.Filters{}.Add("label", stack.LabelManaged+"=true", stack.LabelStack+"="+stackName, stack.LabelRole+"="+role)
	list, err := e.API.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return engine.ContainerState{}, e.explain(err, "list containers")
	}
	if len(list.Items) == 0 {
		return engine.ContainerState{Role: role}, nil
	}
	// Prefer the serving container over a kept rollback target: running
	// first, then a name that is not an upgrade's "-rollback".
	best, bestScore := list.Items[0], -1
	for _, c := range list.Items {
		score := 0
		if c.State == container.StateRunning {
			score += 2
		}
		if len(c.Names) > 0 && !stack.IsRollbackName(c.Names[0]) {
			score++
		}
		if score > bestScore {
			best, bestScore = c, score
		}
	}
	return e.ContainerHealthState(ctx, best.ID)
}

// ContainerHealthState inspects one DuoBox container (by name or ID) for
// health; a container without DuoBox's label is refused.
func (e *Engine) ContainerHealthState(ctx context.Context, nameOrID string) (engine.ContainerState, error) {
	r, err := e.API.ContainerInspect(ctx, nameOrID, client.ContainerInspectOptions{})
	if err != nil {
		return engine.ContainerState{}, e.explain(err, fmt.Sprintf("inspect container %q", nameOrID))
	}
	c := r.Container
	if c.Config == nil || c.Config.Labels[stack.LabelManaged] != "true" {
		return engine.ContainerState{}, notManaged(nameOrID)
	}
	return e.withLastExit(ctx, c), nil
}

// containerState maps one inspect: the only place that reads the engine's
// container state, for deploy, upgrade and health alike.
func containerState(c container.InspectResponse) engine.ContainerState {
	s := engine.ContainerState{ID: c.ID, Name: strings.TrimPrefix(c.Name, "/"), Exists: true, Restarts: c.RestartCount, ImageID: c.Image}
	if c.Config != nil {
		s.Role, s.Image, s.TTY = c.Config.Labels[stack.LabelRole], c.Config.Image, c.Config.Tty
	}
	if hc := c.HostConfig; hc != nil {
		s.RestartPolicy = string(hc.RestartPolicy.Name)
		s.MemoryLimit, s.MemorySwap, s.NanoCPUs, s.CPUShares = hc.Memory, hc.MemorySwap, hc.NanoCPUs, hc.CPUShares
		if hc.PidsLimit != nil {
			s.PidsLimit = *hc.PidsLimit
		}
	}
	if st := c.State; st != nil {
		s.Status, s.Running, s.Restarting, s.OOMKilled = string(st.Status), st.Running, st.Restarting, st.OOMKilled
		s.ExitCode, s.Error = st.ExitCode, st.Error
		s.StartedAt = engineTime(st.StartedAt)
		s.FinishedAt = engineTime(st.FinishedAt)
		if h := st.Health; h != nil {
			s.Health = string(h.Status)
			if n := len(h.Log); n > 0 && h.Log[n-1] != nil {
				s.HealthLog = strings.TrimSpace(h.Log[n-1].Output)
			}
		}
	}
	s.IPAddress = containerIP(c)
	return s
}

// withLastExit maps c; a crash-looping container that is running again shows
// exit code 0 in inspect, so its last exit is read from the event log.
func (e *Engine) withLastExit(ctx context.Context, c container.InspectResponse) engine.ContainerState {
	s := containerState(c)
	if s.Running && engine.CrashLooping(s.Restarting, s.Restarts, s.FinishedAt, time.Now()) {
		if code, oom, ok := e.lastExit(ctx, c.ID, s.FinishedAt); ok {
			s.ExitCode, s.OOMKilled = code, s.OOMKilled || oom
		}
	}
	return s
}

// containerIP is the container's address on its stack's network, else on
// any network it has; "" when none.
func containerIP(c container.InspectResponse) string {
	if c.NetworkSettings == nil || c.Config == nil {
		return ""
	}
	if n, ok := c.NetworkSettings.Networks[c.Config.Labels[stack.LabelStack]]; ok && n != nil && n.IPAddress.IsValid() {
		return n.IPAddress.String()
	}
	for _, n := range c.NetworkSettings.Networks {
		if n != nil && n.IPAddress.IsValid() {
			return n.IPAddress.String()
		}
	}
	return ""
}

// engineTime parses the engine's timestamps; its "zero" (0001-01-01…) becomes time.Time{}.
func engineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
