package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/deploy"
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
			st, err := g.core().Status(cmd.Context())
			if err != nil {
				return err
			}
			agent := st.AgentPlatform
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), st); err != nil {
					return err
				}
			} else {
				w := cmd.OutOrStdout()
				t := newTable("CONTAINER", "ROLE", "STATE", "HEALTH", "NOTE")
				t.under = 1
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
					t.add(c.Name, c.Role, c.State, dash(c.Health), strings.Join(notes, "; "))
				}
				t.print(w, terminalWidth(w))
				fmt.Fprintf(w, "network %s: %s\n", st.NetworkName, st.Network)
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
				printSecurityNotes(w, st.Prepared)
			}
			return actions.StatusError(st)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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
