package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/stack"
)

func init() { register(newExportCommand) }

func newExportCommand(g *globals) *cobra.Command {
	var asJSON, includeSecrets bool
	var outDir, weightsClaim string
	cmd := &cobra.Command{
		Use:   "export compose|docker-run|helm",
		Short: "Write the deployment as a compose file, a docker run script, or Helm values plus a vLLM manifest",
		Long: `Export renders the same containers DuoBox runs for other tools: a compose file, a
shell script in the seed's 'docker run' style, or Helm values for GitLab's AI Gateway
chart plus a vLLM Deployment and Service (for moving onto a Kubernetes cluster).
Secrets (HF token, JWT keys) are referenced — read from their 0600 files at run time,
or expected as Kubernetes Secrets — unless --include-secrets.
` + exitStatusHelp,
		Args:      cobra.ExactArgs(1),
		ValidArgs: stack.Formats,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := g.core().Export(args[0], stack.ExportOptions{IncludeSecrets: includeSecrets, WeightsClaim: weightsClaim}) // the window's Export… too
			if err != nil {
				return err
			}
			if includeSecrets {
				fmt.Fprintln(cmd.ErrOrStderr(), "duobox: warning: the export contains secrets (keys, tokens); keep it private")
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), files)
			}
			if outDir == "" {
				for i, f := range files {
					if len(files) > 1 {
						if i > 0 {
							fmt.Fprintln(cmd.OutOrStdout())
						}
						fmt.Fprintf(cmd.OutOrStdout(), "# ===== %s =====\n", f.Name)
					}
					fmt.Fprint(cmd.OutOrStdout(), f.Content)
				}
				return nil
			}
			written, err := actions.WriteExport(outDir, files, includeSecrets) // the window's Export… too
			for _, target := range written {
				fmt.Fprintln(cmd.OutOrStdout(), target)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the files as JSON [{name, content}]")
	cmd.Flags().BoolVar(&includeSecrets, "include-secrets", false, "inline the secret values (keys, HF token) instead of referencing their files")
	cmd.Flags().StringVar(&outDir, "out", "", "write the files into this folder instead of printing them")
	cmd.Flags().StringVar(&weightsClaim, "weights-claim", "", "helm: an existing PersistentVolumeClaim already holding the Hugging Face cache (air-gapped clusters; the model server then starts offline). Default: the export creates a claim and downloads into it")
	return cmd
}
