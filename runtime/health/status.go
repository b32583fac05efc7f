package health

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/logs"
)

// Status is the overall state of the stack.
type Status string

// Overall states, from best to worst.
const (
	StatusOK          Status = "ok"
	StatusStarting    Status = "starting"
	StatusDegraded    Status = "degraded"
	StatusDown        Status = "down"
	StatusNotDeployed Status = "not_deployed"
)

// Target says what to check.
type Target struct {
	Stack      string // stack name (label io.duobox.stack)
	ServedName string // the model name GitLab uses (custom_openai/<name>)
	GatewayURL string // the gateway as GitLab reaches it, e.g. http://192.168.1.10:5052
	ModelPort  int    // the model server's port inside its network (default 8000)
	// AgentAddr is the Agent Platform's gRPC address as GitLab reaches it
	// (host:port, 50052 by default) when the stack runs it; "" skips its probe.
	AgentAddr string
}

// Report is one health check.
type Report struct {
	Time       time.Time               `json:"time"`
	Stack      string                  `json:"stack"`
	Status     Status                  `json:"status"`
	Reason     string                  `json:"reason"`
	Fix        string                  `json:"fix,omitempty"`
	Containers []engine.ContainerState `json:"containers"`
	Probes     []Probe                 `json:"probes"`
	GPUs       []GPUSample             `json:"gpus,omitempty"`
	GPUError   string                  `json:"gpu_error,omitempty"`
	Events     []RoleEvent             `json:"events,omitempty"`
	KVCache    *Capacity               `json:"kv_cache,omitempty"` // what vLLM reported at its last start (set by the caller from the Recorder)
}

// RoleEvent is a recognised log event of one of the stack's containers.
type RoleEvent struct {
	Role string `json:"role"`
	logs.Event
}

// Checker produces Reports. Events, when set, returns recent recognised log
// events of a role (from the log followers or the store), newest last.
type Checker struct {
	Engine Engine
	Prober Prober
	GPUs   interface {
		Sample(ctx context.Context) ([]GPUSample, error)
	}
	Target     Target
	Events     func(role string) []logs.Event
	StartGrace time.Duration // how long a running container may fail probes as "starting" (default 15 min: weights download)
	Now        func() time.Time
}

// Check inspects both containers, probes them, samples the GPUs and assesses.
func (c *Checker) Check(ctx context.Context) (Report, error) {
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	r := Report{Time: now().UTC(), Stack: c.Target.Stack}
	states := map[string]engine.ContainerState{}
	for _, role := range []string{stack.RoleModel, stack.RoleGateway} {
		s, err := c.Engine.ManagedContainer(ctx, c.Target.Stack, role)
		if err != nil {
			return r, err
		}
		s.Role = role
		states[role] = s
		r.Containers = append(r.Containers, s)
	}
	if m := states[stack.RoleModel]; m.Running {
		if m.IPAddress != "" {
			port := c.Target.ModelPort
			if port == 0 {
				port = 8000
			}
			base := "http://" + net.JoinHostPort(m.IPAddress, strconv.Itoa(port))
			r.Probes = append(r.Probes, c.Prober.Model(ctx, base, c.Target.ServedName)...)
		}
	}
	if g := states[stack.RoleGateway]; g.Running && c.Target.GatewayURL != "" {
		r.Probes = append(r.Probes, c.Prober.Gateway(ctx, c.Target.GatewayURL))
	}
	if g := states[stack.RoleGateway]; g.Running && c.Target.AgentAddr != "" {
		r.Probes = append(r.Probes, c.Prober.AgentPlatform(ctx, c.Target.AgentAddr))
	}
	if c.GPUs != nil {
		if s, err := c.GPUs.Sample(ctx); err != nil {
			r.GPUError = err.Error()
		} else {
			r.GPUs = s
		}
	}
	events := map[string][]logs.Event{}
	if c.Events != nil {
		for _, role := range []string{stack.RoleModel, stack.RoleGateway} {
			events[role] = c.Events(role)
			for _, e := range events[role] {
				r.Events = append(r.Events, RoleEvent{Role: role, Event: e})
			}
		}
	}
	grace := c.StartGrace
	if grace == 0 {
		grace = 15 * time.Minute
	}
	r.Status, r.Reason, r.Fix = Assess(states, r.Probes, events, now(), grace)
	return r, nil
}

// Assess decides the overall status from the containers (by role), the
// probes and the recognised log events, and says why in one sentence with
// a fix. The worst finding wins.
func Assess(states map[string]engine.ContainerState, probes []Probe, events map[string][]logs.Event, now time.Time, grace time.Duration) (Status, string, string) {
	roles := []string{stack.RoleModel, stack.RoleGateway}
	exists := false
	for _, role := range roles {
		exists = exists || states[role].Exists
	}
	if !exists {
		return StatusNotDeployed, "no DuoBox containers exist for this stack", "run 'duobox up'"
	}
	// A container that is not running is the worst finding; its last
	// recognised error usually says why.
	for _, role := range roles {
		s := states[role]
		if !s.Exists {
			return StatusDown, fmt.Sprintf("the %s container does not exist", role), "run 'duobox up' to create it"
		}
		if s.Running && !s.Restarting {
			if engine.CrashLooping(s.Restarting, s.Restarts, s.FinishedAt, now) {
				why := fmt.Sprintf("the %s container (%s) is %s", role, s.Name, engine.CrashLoopSummary(s.Restarts, s.ExitCode, s.OOMKilled, s.FinishedAt, now))
				fix := fmt.Sprintf("read its log: 'duobox logs %s --level warning'", role)
				if s.OOMKilled {
					fix = "give the container more memory, or choose a smaller or quantized model"
				}
				if e := lastProblem(events[role]); e != nil {
					why += ": " + e.Summary
					fix = e.Fix
				}
				return StatusDown, why, fix
			}
			continue
		}
		why := fmt.Sprintf("the %s container (%s) is %s", role, s.Name, s.Status)
		if s.Restarting || s.Status == "exited" || s.Status == "dead" {
			why = fmt.Sprintf("the %s container (%s) exited with code %d", role, s.Name, s.ExitCode)
			if s.Restarts > 0 {
				why += fmt.Sprintf(" and was restarted %d times", s.Restarts)
			}
		}
		fix := fmt.Sprintf("read its log: 'duobox logs %s --level warning'", role)
		if s.OOMKilled {
			why = fmt.Sprintf("the %s container (%s) was killed for using more memory than it may (OOM, exit 137)", role, s.Name)
			fix = "give the container more memory, or choose a smaller or quantized model"
		}
		if e := lastProblem(events[role]); e != nil {
			why += ": " + e.Summary
			fix = e.Fix
		}
		return StatusDown, why, fix
	}
	var failing *Probe
	for i := range probes {
		if !probes[i].OK {
			failing = &probes[i]
			break
		}
	}
	for _, role := range roles {
		// An image without the health command (no python3 in a user's
		// image) leaves Docker's check unhealthy for good; DuoBox's own
		// probes, from outside, passed, and they are the check then.
		if s := states[role]; s.Health == "unhealthy" && failing == nil && !strings.Contains(s.HealthLog, "executable file not found") {
			why := fmt.Sprintf("Docker reports the %s container unhealthy", role)
			if s.HealthLog != "" {
				why += ": " + s.HealthLog
			}
			return StatusDegraded, why, fmt.Sprintf("read its log: 'duobox logs %s --level warning'", role)
		}
	}
	if failing != nil && failing.Name == AgentProbeName {
		return assessAgentPlatform(*failing, states[stack.RoleGateway], events[stack.RoleGateway], now)
	}
	if failing != nil {
		role := probeRole(failing.Name)
		s := states[role]
		if failing.Name == "gateway_healthz" {
			for _, p := range probes {
				if p.Name == AgentProbeName && p.OK {
					failing.Detail += " (the Agent Platform's gRPC side answers)"
				}
			}
		}
		if e := lastProblem(events[role]); e != nil {
			return StatusDegraded, fmt.Sprintf("%s: %s", failing.Name, e.Summary), e.Fix
		}
		if (s.Health == "starting" || !failing.Connected || failing.Status == 503) && now.Sub(s.StartedAt) < grace {
			return StatusStarting, fmt.Sprintf("the %s is starting (%s: %s)", role, failing.Name, failing.Detail),
				"wait; the first start downloads the model's weights"
		}
		return StatusDegraded, fmt.Sprintf("%s failed: %s", failing.Name, failing.Detail), failing.Fix
	}
	// Docker's own check may not have run yet (its interval); DuoBox's
	// probes passing is the stronger signal, so "starting" only counts for a
	// role DuoBox could not probe.
	probed := map[string]bool{}
	for _, p := range probes {
		probed[probeRole(p.Name)] = true
	}
	for _, role := range roles {
		if s := states[role]; s.Health == "starting" && !probed[role] {
			return StatusStarting, fmt.Sprintf("the %s container's health check has not passed yet", role), "wait"
		}
	}
	return StatusOK, "both containers run and answer their health checks", ""
}

// assessAgentPlatform: the gateway's HTTP side answers but the Agent
// Platform's gRPC health does not. The gateway container's log says why
// (agent_platform_* events, e.g. "Could not prefetch keys").
func assessAgentPlatform(p Probe, gw engine.ContainerState, evs []logs.Event, now time.Time) (Status, string, string) {
	where := strings.TrimPrefix(strings.TrimSuffix(p.URL, "/grpc.health.v1.Health/Check"), "grpc://")
	why := fmt.Sprintf("the Agent Platform (Duo Workflow Service, gRPC health on %s) is down while the gateway's HTTP side answers: %s", where, p.Detail)
	for i := len(evs) - 1; i >= 0; i-- {
		if strings.HasPrefix(evs[i].Kind, "agent_platform_") {
			return StatusDegraded, why + "; its log says: " + evs[i].Summary, evs[i].Fix
		}
	}
	if !p.Connected && (gw.Health == "starting" || now.Sub(gw.StartedAt) < agentStartGrace) {
		return StatusStarting, fmt.Sprintf("the Agent Platform is starting (%s: %s)", p.Name, p.Detail), "wait"
	}
	return StatusDegraded, why, p.Fix
}

// agentStartGrace is how long after the gateway container started a silent
// Agent Platform port counts as starting.
const agentStartGrace = 2 * time.Minute

// probeRole is the role a probe checks.
func probeRole(name string) string {
	if name == "gateway_healthz" || name == AgentProbeName {
		return stack.RoleGateway
	}
	return stack.RoleModel
}

// lastProblem is the newest warning-or-worse event.
func lastProblem(evs []logs.Event) *logs.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Severity >= logs.LevelWarning && evs[i].Kind != "gateway_docs_index_missing" {
			return &evs[i]
		}
	}
	return nil
}
