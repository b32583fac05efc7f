package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
)

func init() { register(newStatusCommand) }

func newStatusCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the containers' state and health, and whether they match the config",
		Long: `Status compares the engine with the deployment config: each container's state,
health, exit code and whether its config drifted, plus DuoBox objects the config no
longer has; when the gateway runs the Agent Platform, its gRPC health on the agent
port too. It changes nothing. Exit status 4 when the stack is not fully healthy.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := openStack(cmd.Context(), g, deploy.PrepareReadOnly)
			if err != nil {
				return err
			}
			defer env.close()
			st, err := env.deployer.Status(cmd.Context(), env.prepared.Spec)
			if err != nil {
				return err
			}
			agent := agentPlatformProbe(cmd.Context(), env.prepared.Spec, st)
			if asJSON {
				out := struct {
					deploy.Status
					AgentPlatform *health.Probe `json:"agent_platform,omitempty"`
					AuthOff       []string      `json:"auth_off,omitempty"`
					SecretsInEnv  []string      `json:"secrets_in_env,omitempty"`
					Warnings      []string      `json:"warnings,omitempty"`
				}{st, agent, env.prepared.AuthOff, env.prepared.SecretsInEnv, env.prepared.Warnings}
				if err := writeJSON(cmd.OutOrStdout(), out); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				fmt.Fprintf(w, "%-28s %-8s %-11s %-10s %s\n", "CONTAINER", "ROLE", "STATE", "HEALTH", "NOTE")
				for _, c := range st.Containers {
					var notes []string
					if c.Drifted {
						why := "config changed"
						if c.DriftReason != "" {
							why = c.DriftReason
						}
						notes = append(notes, why+": run 'duobox up' to recreate")
					}
					if c.Foreign {
						notes = append(notes, "not created by DuoBox")
					}
					if c.State == "exited" {
						notes = append(notes, fmt.Sprintf("exit code %d", c.ExitCode))
					}
					if c.HealthNote != "" {
						notes = append(notes, c.HealthNote)
					}
					if c.CrashLooping {
						notes = append(notes, c.CrashLoop)
					} else if c.Restarts > 0 {
						notes = append(notes, fmt.Sprintf("%d restarts", c.Restarts))
					}
					fmt.Fprintf(w, "%-28s %-8s %-11s %-10s %s\n", c.Name, c.Role, c.State, dash(c.Health), strings.Join(notes, "; "))
				}
				fmt.Fprintf(w, "network %s: %s\n", env.prepared.Spec.Network.Name, st.Network)
				for _, o := range st.Orphans {
					fmt.Fprintf(w, "leftover %s %s (removed by the next 'duobox up')\n", o.Kind, o.Name)
				}
				if agent != nil && agent.OK {
					fmt.Fprintf(w, "agent platform %s: %s\n", agent.URL, agent.Detail)
				}
				for _, c := range st.Containers {
					if c.CrashLooping && len(c.LastLines) > 0 {
						fmt.Fprintf(w, "%s is %s; its last log lines:\n    %s\n", c.Name, c.CrashLoop, strings.Join(c.LastLines, "\n    "))
					}
				}
				printSecurityNotes(w, env.prepared)
			}
			if agent != nil && !agent.OK {
				return &app.Problem{Kind: app.KindNotReady, What: "the gateway runs but its Agent Platform half is down (" + agent.URL + "): " + agent.Detail,
					Fix: "run 'duobox health' for the reason from the gateway's log"}
			}
			if !st.Healthy {
				return &app.Problem{Kind: app.KindNotReady, What: "the stack is not fully up and healthy", Fix: "run 'duobox up'"}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printSecurityNotes says what weakens the deployment: authentication turned
// off (by auth_bypass or a gateway env), other warnings, and the secrets the
// containers get as environment variables (readable with `docker inspect`).
func printSecurityNotes(w io.Writer, p deploy.Prepared) {
	for _, warn := range p.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if len(p.SecretsInEnv) > 0 {
		fmt.Fprintf(w, "note: these secrets are passed as environment variables, readable by anyone who may run 'docker inspect' "+
			"(the gateway image reads its JWT keys and vLLM its HF_TOKEN only from the environment): %s\n", strings.Join(p.SecretsInEnv, ", "))
	}
}
