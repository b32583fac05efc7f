package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func init() { register(newHistoryCommand) }

func newHistoryCommand(g *globals) *cobra.Command {
	var asJSON, logs bool
	var limit int
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List upgrades and rollbacks: from, to, digests, times, outcome, reason",
		Long: `History lists the deployment's upgrades and rollbacks, newest first, from the state
database. A run that DuoBox was stopped in the middle of is reconciled first (finished or
undone) and shown as interrupted. --logs adds the last log lines of containers that
failed their health check.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			runs, err := g.core().UpgradeHistory(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), runs)
			}
			w := cmd.OutOrStdout()
			if len(runs) == 0 {
				fmt.Fprintln(w, "no upgrades or rollbacks yet")
			}
			t := newTable("RUN", "STARTED", "ACTION", "ROLE", "FROM → TO", "OUTCOME", "TOOK")
			for _, r := range runs {
				took := "running"
				if r.FinishedAt != nil {
					took = r.FinishedAt.Sub(r.StartedAt).Round(100 * time.Millisecond).String()
				}
				t.add(fmt.Sprintf("#%d", r.ID), r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.Action, r.Role,
					tagDigest(r.From.Tag, r.FromDigest)+" → "+tagDigest(r.To.Tag, r.ToDigest), r.Outcome, took)
				if r.Reason != "" {
					t.note("    ", r.Reason)
				}
				if logs && r.Logs != "" {
					t.note("    | ", r.Logs)
				}
			}
			if len(runs) > 0 {
				t.print(w, terminalWidth(w))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON (with their steps, times and kept log lines)")
	cmd.Flags().BoolVar(&logs, "logs", false, "show the kept log lines of failed runs")
	cmd.Flags().IntVar(&limit, "limit", 20, "how many runs to list (0 = all)")
	return cmd
}
