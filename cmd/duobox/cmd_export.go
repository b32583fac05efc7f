package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
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
			path, err := g.configFile()
			if err != nil {
				return err
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			dirs, err := g.dirs()
			if err != nil {
				return err
			}
			cat, err := g.core().Catalog()
			if err != nil {
				return err
			}
			prepared, err := deploy.PrepareReadOnly(cfg, dirs, cat)
			if err != nil {
				return err
			}
			files, err := stack.Export(prepared.Spec, args[0], stack.ExportOptions{IncludeSecrets: includeSecrets, WeightsClaim: weightsClaim})
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
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return app.Environment(err, "choose a folder you can write to", "cannot create %s: %v", outDir, err)
			}
			for _, f := range files {
				mode := os.FileMode(0o644)
				if strings.HasSuffix(f.Name, ".sh") {
					mode = 0o755
				}
				if includeSecrets {
					mode &= 0o700
				}
				target := filepath.Join(outDir, f.Name)
				if err := config.WriteFileAtomic(target, []byte(f.Content), mode); err != nil {
					return app.Environment(err, "choose a folder you can write to", "cannot write %s: %v", target, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), target)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the files as JSON [{name, content}]")
	cmd.Flags().BoolVar(&includeSecrets, "include-secrets", false, "inline the secret values (keys, HF token) instead of referencing their files")
	cmd.Flags().StringVar(&outDir, "out", "", "write the files into this folder instead of printing them")
	cmd.Flags().StringVar(&weightsClaim, "weights-claim", "", "helm: an existing PersistentVolumeClaim already holding the Hugging Face cache (air-gapped clusters; the model server then starts offline). Default: the export creates a claim and downloads into it")
	return cmd
}
