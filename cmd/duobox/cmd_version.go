package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildVersion is DuoBox's release; the build sets it with
// -ldflags "-X main.buildVersion=1.2.3", else the module's version is used.
var buildVersion = ""

func init() { register(newVersionCommand) }

// duoboxVersion is the version this binary reports.
func duoboxVersion() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

func newVersionCommand(*globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print DuoBox's version (the same as duobox --version)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Version string `json:"version"`
				}{duoboxVersion()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "duobox %s\n", duoboxVersion())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
