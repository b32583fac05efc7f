package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/stack"
)

func init() { register(newRollbackCommand) }

func newRollbackCommand(g *globals) *cobra.Command {
	var asJSON, stopFirst bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback [gateway|model]",
		Short: "Return the AI Gateway (or the model server) to the version the last upgrade kept",
		Long: `Rollback stops the current container and keeps it as NAME-rollback, starts the kept
previous version under the serving name and waits for its health; the config gets the
previous image back. Rolling back twice returns to where you started. If the previous
version is not healthy, the current one serves again. Volumes (weights, logs, keys,
docs.db) are untouched.

For the model server, when two copies fit the memory (GPU memory in GPU mode, RAM in CPU
mode), the kept version starts beside the current one and takes over the name the gateway
calls once healthy: no downtime. Otherwise DuoBox says first how long the model will be
unavailable (its start time measured on this machine). --stop-first forces the stop-start.
` + exitStatusHelp,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{stack.RoleGateway, stack.RoleModel},
		RunE: func(cmd *cobra.Command, args []string) error {
			role := stack.RoleGateway
			if len(args) == 1 {
				role = args[0]
			}
			bar := newProgressPrinter(cmd.ErrOrStderr(), !asJSON)
			run, err := g.core().Rollback(cmd.Context(), role, timeout, stopFirst, cliEvents(g, bar))
			bar.done()
			if err != nil {
				return err
			}
			return printRun(cmd.OutOrStdout(), run, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	cmd.Flags().BoolVar(&stopFirst, "stop-first", false, "model server: stop the current one before the kept one starts, even when two copies fit")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "how long the previous version may take to become healthy (default 3m for the gateway, 30m for the model server)")
	return cmd
}
