package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
)

// Status is the stack as the engine has it, compared with the spec.
type Status struct {
	Stack      string            `json:"stack"`
	Healthy    bool              `json:"healthy"` // every container running and healthy, none drifted
	Containers []ContainerStatus `json:"containers"`
	Network    string            `json:"network"` // "present" or "missing"
	Orphans    []engine.Object   `json:"orphans,omitempty"`
}

// ContainerStatus is one container of the spec.
type ContainerStatus struct {
	Name      string       `json:"name"`
	Role      string       `json:"role"`
	Image     string       `json:"image"`
	State     string       `json:"state"`  // missing, created, running, exited, restarting, …
	Health    string       `json:"health"` // healthy, starting, unhealthy, ""
	Drifted   bool         `json:"drifted"`
	ExitCode  int          `json:"exit_code,omitempty"`
	StartedAt time.Time    `json:"started_at,omitzero"`
	Restarts  int          `json:"restarts,omitempty"`
	Ports     []stack.Port `json:"ports,omitempty"`
	Foreign   bool         `json:"foreign,omitempty"` // a container of that name exists without DuoBox's label
	// HealthNote says how health was judged when Docker's own check cannot
	// run (the image lacks the command: probed from outside).
	HealthNote string `json:"health_note,omitempty"`
	// CrashLooping: restarted CrashLoopRestarts times or more, the last exit
	// within CrashLoopWindow; CrashLoop says so with the last exit, LastLines
	// are the container's own last log lines.
	DriftReason  string   `json:"drift_reason,omitempty"` // what differs from the config
	CrashLooping bool     `json:"crash_looping,omitempty"`
	CrashLoop    string   `json:"crash_loop,omitempty"`
	LastLines    []string `json:"last_lines,omitempty"`
}

// Status reports each spec container's state and health, drift against the
// spec, and the stack's orphans. It changes nothing.
func (d *Deployer) Status(ctx context.Context, spec stack.Spec) (Status, error) {
	s := Status{Stack: spec.Stack, Healthy: true, Network: "missing"}
	if err := d.Engine.Ping(ctx); err != nil {
		return s, err
	}
	spec = spec.Clone()
	var eng *hardware.Engine // probed once, when the first local image needs comparing
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if info, err := d.Engine.Image(ctx, c.Image); err == nil {
			if eng == nil {
				p := d.Engine.Probe(ctx)
				eng = &p
			}
			_ = d.applyPlatform(ctx, *eng, c, info, false) // as up would run it; a refusal shows at up
		}
	}
	objs, err := d.Engine.Objects(ctx, spec.Stack)
	if err != nil {
		return s, err
	}
	known := map[string]bool{engine.KindNetwork + "/" + spec.Network.Name: true}
	for _, c := range spec.Containers {
		known[engine.KindContainer+"/"+c.Name] = true
	}
	for _, v := range spec.Volumes {
		known[engine.KindVolume+"/"+v.Name] = true
	}
	for _, o := range objs {
		if o.Kind == engine.KindNetwork && o.Name == spec.Network.Name {
			s.Network = "present"
		}
		if !known[o.Kind+"/"+o.Name] && !(o.Kind == engine.KindContainer && spec.IsRollbackContainer(o.Name)) {
			s.Orphans = append(s.Orphans, o)
		}
	}
	for _, c := range spec.Containers {
		cs := ContainerStatus{Name: c.Name, Role: c.Role, Image: c.Image, State: "missing", Ports: c.Ports}
		o, err := d.Engine.Lookup(ctx, engine.KindContainer, c.Name)
		switch {
		case errors.Is(err, app.ErrNotFound):
		case err != nil:
			return s, err
		case checkOwned(o, spec.Stack) != nil:
			cs.Foreign, cs.State = true, o.State
		default:
			st, err := d.Engine.Inspect(ctx, o.ID)
			if err != nil {
				return s, err
			}
			cs.State, cs.Health, cs.ExitCode, cs.StartedAt, cs.Restarts = st.Status, st.Health, st.ExitCode, st.StartedAt, st.Restarts
			cs.Drifted = o.Labels[stack.LabelConfigHash] != c.Labels[stack.LabelConfigHash]
			if cs.Drifted {
				cs.DriftReason = "configuration changed"
			} else if drift := SettingsDrift(c, st); drift != "" {
				cs.Drifted, cs.DriftReason = true, drift
			}
			if now := time.Now(); engine.CrashLooping(st.Restarting, st.Restarts, st.FinishedAt, now) {
				cs.CrashLooping, cs.CrashLoop = true, engine.CrashLoopSummary(st.Restarts, st.ExitCode, st.OOMKilled, st.FinishedAt, now)
				cs.LastLines, _ = d.Engine.Logs(ctx, o.ID, 10)
			}
			if st.Running && (cs.Health == "starting" || cs.Health == "unhealthy") && len(c.Health.Test) > 0 {
				// Docker checks every interval; ask now so a fresh container is not shown as starting for long.
				// An image without the health command (no python3) stays unhealthy in Docker's eyes:
				// its health URL is read from outside instead.
				ectx, cancel := context.WithTimeout(ctx, max(c.Health.Timeout, time.Second))
				code, err := d.Engine.Exec(ectx, o.ID, c.Health.Test)
				cancel()
				switch {
				case err == nil && code == 0:
					cs.Health = "healthy"
				case CommandMissing(code, err) && c.Health.URL != "":
					if url := OutsideURL(c.Health.URL, st.IPAddress); probeOutside(ctx, url) {
						cs.Health = "healthy"
						cs.HealthNote = fmt.Sprintf("the image has no %q: %s answered from outside", healthCommandName(c.Health.Test), url)
					}
				}
			}
		}
		if cs.State != "running" || (cs.Health != "healthy" && cs.Health != "") || cs.Drifted || cs.Foreign || cs.CrashLooping {
			s.Healthy = false
		}
		s.Containers = append(s.Containers, cs)
	}
	return s, nil
}

// SettingsDrift compares the settings `docker update` can change on a
// running container with what DuoBox created it with (its restart policy,
// and no memory, CPU or process limit: DuoBox sets none), and says what
// differs ("memory limit changed outside DuoBox (1.0 GiB; DuoBox sets
// none)"); "" when nothing does.
func SettingsDrift(c stack.Container, st engine.ContainerState) string {
	var diffs []string
	if st.RestartPolicy != "" && c.Restart != "" && st.RestartPolicy != c.Restart {
		diffs = append(diffs, fmt.Sprintf("restart policy %s (DuoBox sets %s)", st.RestartPolicy, c.Restart))
	}
	if st.MemoryLimit > 0 {
		diffs = append(diffs, fmt.Sprintf("memory limit %.1f GiB (DuoBox sets none)", float64(st.MemoryLimit)/(1<<30)))
	}
	if st.MemorySwap > 0 && st.MemoryLimit == 0 {
		diffs = append(diffs, "memory+swap limit (DuoBox sets none)")
	}
	if st.NanoCPUs > 0 {
		diffs = append(diffs, fmt.Sprintf("CPU limit %.2f CPUs (DuoBox sets none)", float64(st.NanoCPUs)/1e9))
	}
	if st.CPUShares > 0 {
		diffs = append(diffs, fmt.Sprintf("CPU shares %d (DuoBox sets none)", st.CPUShares))
	}
	if st.PidsLimit > 0 {
		diffs = append(diffs, fmt.Sprintf("process limit %d (DuoBox sets none)", st.PidsLimit))
	}
	if len(diffs) == 0 {
		return ""
	}
	return "settings changed outside DuoBox (docker update): " + strings.Join(diffs, ", ")
}
