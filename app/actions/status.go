package actions

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
)

// StatusResult is the engine compared with the config.
type StatusResult struct {
	deploy.Status
	AgentPlatform *health.Probe `json:"agent_platform,omitempty"`
	AuthOff       []string      `json:"auth_off,omitempty"`
	SecretsInEnv  []string      `json:"secrets_in_env,omitempty"`
	Warnings      []string      `json:"warnings,omitempty"`
	// Prepared is the spec compared with the engine.
	Prepared    deploy.Prepared `json:"-"`
	NetworkName string          `json:"-"`
	StackName   string          `json:"-"`
}

// Status compares the engine with the config ('duobox status'): each
// container's state, health and drift, DuoBox objects the config no longer
// has and, when the gateway runs the Agent Platform, its gRPC health. It
// changes nothing. StatusError says which status a command fails with.
func (c *Core) Status(ctx context.Context) (StatusResult, error) {
	var res StatusResult
	err := c.withStack(ctx, deploy.PrepareReadOnly, func(s *Stack) error {
		st, err := s.Deployer.Status(ctx, s.Prepared.Spec)
		if err != nil {
			return err
		}
		res = StatusResult{Status: st, AgentPlatform: agentPlatformProbe(ctx, s.Prepared.Spec, st),
			AuthOff: s.Prepared.AuthOff, SecretsInEnv: s.Prepared.SecretsInEnv, Warnings: s.Prepared.Warnings,
			Prepared: s.Prepared, NetworkName: s.Prepared.Spec.Network.Name, StackName: s.Config.Name}
		return nil
	})
	return res, err
}

// StatusError is the problem a status amounts to (nil when all is up and healthy).
func StatusError(r StatusResult) error {
	if nothingDeployed(r.Status) {
		return NotDeployed(r.StackName)
	}
	if a := r.AgentPlatform; a != nil && !a.OK {
		return &app.Problem{Kind: app.KindNotReady, What: "the gateway runs but its Agent Platform half is down (" + a.URL + "): " + a.Detail,
			Fix: "run 'duobox health' for the reason from the gateway's log"}
	}
	if !r.Healthy {
		return &app.Problem{Kind: app.KindNotReady, What: "the stack is not fully up and healthy", Remedy: app.RemedyDeploy}
	}
	return nil
}

// nothingDeployed reports a stack none of whose containers exist.
func nothingDeployed(st deploy.Status) bool {
	for _, c := range st.Containers {
		if c.State != "missing" {
			return false
		}
	}
	return true
}

// agentPlatformProbe probes the Agent Platform's gRPC health when the
// gateway publishes its port and runs; nil otherwise.
func agentPlatformProbe(ctx context.Context, spec stack.Spec, st deploy.Status) *health.Probe {
	for _, c := range spec.Containers {
		if c.Role != stack.RoleGateway || !stack.HasAgentPlatformPort(c) {
			continue
		}
		for _, sc := range st.Containers {
			if sc.Role == stack.RoleGateway && sc.State != "running" {
				return nil
			}
		}
		for _, p := range c.Ports {
			if p.ContainerPort == stack.AgentPort {
				host := p.HostIP
				if host == "" || host == "0.0.0.0" || host == "::" {
					host = "127.0.0.1"
				}
				pr := health.Prober{}.AgentPlatform(ctx, net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(p.HostPort)))
				return &pr
			}
		}
	}
	return nil
}
