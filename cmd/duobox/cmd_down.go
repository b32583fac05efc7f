package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/deploy"
)

func init() { register(newDownCommand) }

func newDownCommand(g *globals) *cobra.Command {
	var asJSON, volumes bool
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop and remove the containers and network DuoBox created (volumes stay unless --volumes)",
		Long: `Down removes the containers and the network labelled as this deployment's. The
Hugging Face cache volume (downloaded weights) stays unless --volumes; the log
directory and the keys always stay. Objects without DuoBox's label are never touched.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var on func(deploy.Event)
			if !asJSON {
				on = func(ev deploy.Event) { fmt.Fprintln(cmd.ErrOrStderr(), ev.Message) }
			}
			rep, err := g.core().Down(cmd.Context(), volumes, func(s string) { fmt.Fprintln(cmd.ErrOrStderr(), "duobox: "+s) }, on)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			for _, a := range rep.Actions {
				fmt.Fprintf(cmd.OutOrStdout(), "%-8s %-9s %s %s\n", a.Did, a.Kind, a.Name, a.Why)
			}
			if len(rep.Actions) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing to remove")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was removed as JSON")
	cmd.Flags().BoolVar(&volumes, "volumes", false, "also remove the Hugging Face cache volume (the weights are downloaded again next time)")
	return cmd
}
