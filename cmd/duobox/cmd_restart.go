package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/deploy"
)

func init() { register(newRestartCommand) }

func newRestartCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:       "restart model|gateway",
		Short:     "Restart the model server or the AI Gateway and wait until it is healthy",
		Long:      "Restart stops and starts one container of the deployment (for example the gateway after fixing GitLab's\nreachability: it caches GitLab's keys for 24 hours) and waits for its health.\n" + exitStatusHelp,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"model", "gateway"},
		RunE: func(cmd *cobra.Command, args []string) error {
			var on func(deploy.Event)
			if !asJSON {
				on = func(ev deploy.Event) { fmt.Fprintln(cmd.ErrOrStderr(), ev.Message) }
			}
			rep, err := g.core().Restart(cmd.Context(), args[0], func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "duobox: "+s) }, on)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			for _, a := range rep.Actions {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", a.Did, a.Name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
