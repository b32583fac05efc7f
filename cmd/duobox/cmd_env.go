package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/gitlab"
)

func init() { register(newEnvCommand) }

func newEnvCommand(g *globals) *cobra.Command {
	var given gitlab.Given
	var format string
	var includeSecrets, asJSON bool
	formats := make([]string, len(gitlab.Formats))
	for i, f := range gitlab.Formats {
		formats[i] = string(f)
	}
	cmd := &cobra.Command{
		Use:   "env",
		Short: "Print the GitLab-side configuration for this gateway (what to set on GitLab)",
		Long: `Env prints what the GitLab administrator sets so that GitLab uses this machine's
AI Gateway, in the form the GitLab version needs:

  before 17.9   AI_GATEWAY_URL (and CLOUD_CONNECTOR_SELF_SIGN_TOKENS=1) in GitLab's environment
  17.9+         "Local AI Gateway URL" in Admin → GitLab Duo (AI_GATEWAY_URL is legacy)
  18.4+         also the Agent Platform service URL host:50052 (no scheme), without TLS:
  18.4–18.9     DUO_AGENT_PLATFORM_SERVICE_SECURE=false in GitLab's environment
  18.10+        the Admin UI checkbox "Use TLS for the GitLab Duo Agent Platform service"
                cleared, or duoSettingsUpdate(selfHostedDuoAgentPlatformServiceSecure: false)
The versions DuoBox knows, and the source of each rule, are in its GitLab version
table (bundles/gitlab-versions.yaml); other versions are refused.

With a deployment config it also lists the self-hosted models to add (deployment name,
model family, endpoint ending /v1, identifier custom_openai/<served name>) and which
feature to assign to which model. It works from flags alone too.

Formats: env, gitlab-rb (/etc/gitlab/gitlab.rb), docker (GITLAB_OMNIBUS_CONFIG for a GitLab
container), helm (GitLab chart values), admin-ui (17.9+: the fields to fill in), graphql
(17.9+: a ready curl script with the mutations). The default is what the version needs.
The GitLab token appears only with --include-secrets.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var f gitlab.Format
			if format != "" {
				var err error
				if f, err = gitlab.ParseFormat(format); err != nil {
					return err
				}
			}
			in, notes, err := g.core().GitLabInput(given)
			if err != nil {
				return err
			}
			dirs, err := g.dirs()
			if err != nil {
				return err
			}
			in.TokenFile = gitlab.TokenFile(dirs)
			if _, err := os.Stat(in.TokenFile); err != nil {
				in.TokenFile = ""
			}
			if includeSecrets {
				if in.Token, err = gitlab.LoadToken(dirs); err != nil {
					return err
				}
			}
			in.IncludeSecrets = includeSecrets
			s, err := gitlab.Build(in, f)
			if err != nil {
				return err
			}
			if _, err := (gitlab.HostChecker{}).Check(cmd.Context(), in.Host); err != nil {
				notes = append(notes, "warning: "+err.Error())
			}
			for _, n := range notes {
				fmt.Fprintf(cmd.ErrOrStderr(), "duobox: %s\n", n)
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), s)
			}
			return s.Render(cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&given.Version, "gitlab-version", "", "GitLab version, X.Y or X.Y.Z (v17.2.1-ee works too); default: the deployment config's, or the connected GitLab's")
	cmd.Flags().StringVar(&given.Host, "host", "", "host name or address GitLab reaches this machine by (not localhost); default: the deployment config's")
	cmd.Flags().StringVar(&given.GitLabURL, "gitlab-url", "", "GitLab's base URL, for the gateway-side values and the GraphQL endpoint; default: the deployment config's")
	cmd.Flags().StringVar(&format, "format", "", "one of "+strings.Join(formats, ", ")+" (default: env before GitLab 17.9, admin-ui from 17.9)")
	cmd.Flags().BoolVar(&includeSecrets, "include-secrets", false, "put the stored GitLab token into the graphql script instead of reading it from its file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
