package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/runtime/docker"
)

func init() { register(newGitLabCommand) }

func newGitLabCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gitlab",
		Short: "Connect to GitLab (optional): read its version, apply the settings, check it from the gateway",
		Long: `The gitlab commands talk to your GitLab instance with a personal access token that
DuoBox keeps in a 0600 file (never in the config, logs or snippets):

  connect   read GitLab's version (GET /api/v4/version) and check the token; the version
            then drives the gateway image tag and 'duobox env'
  apply     GitLab 17.9+ with an administrator's token: show exactly what changes, then
            (with --yes) set the gateway URL, create the self-hosted models and assign features
  check     check the host address, the gateway port, and that GitLab's OpenID keys answer
            from this machine and from inside the gateway container

None of this is needed: 'duobox env' prints the same settings to paste by hand.
` + exitStatusHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newGitLabConnectCommand(g), newGitLabApplyCommand(g), newGitLabCheckCommand(g))
	return cmd
}

// readToken reads a token from stdin or a file, or "" when neither was asked for.
func readToken(stdin io.Reader, fromStdin bool, file string) (string, error) {
	switch {
	case fromStdin && file != "":
		return "", app.BadInput("use one of them", "--token-stdin and --token-file both give the token")
	case fromStdin:
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read token from stdin: %w", err)
		}
		return strings.TrimSpace(line), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", app.BadInput("give the path of a file holding only the token", "--token-file %s cannot be read: %v", file, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	return "", nil
}

func newGitLabConnectCommand(g *globals) *cobra.Command {
	var rawURL, tokenFile string
	var tokenStdin, asJSON bool
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Read GitLab's version and check the token; store the token (0600) for apply and check",
		Long: `Connect reads GitLab's version with GET /api/v4/version and checks the token
(GET /api/v4/personal_access_tokens/self, GET /api/v4/user). Only when all of that
works does it store the token in a 0600 file and record the URL and version; when a
deployment config exists, its gitlab.version (and gitlab.url) are updated so the
gateway image tag and 'duobox env' follow the instance.

Give the token on stdin (--token-stdin) or in a file (--token-file), never as an argument.
A token with the api scope of an administrator is needed for 'duobox gitlab apply';
read_api is enough for connect and check.
` + exitStatusHelp,
		Example: `  printf '%s\n' "$GITLAB_TOKEN" | duobox gitlab connect --url https://gitlab.example.com --token-stdin`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			token, err := readToken(cmd.InOrStdin(), tokenStdin, tokenFile)
			if err != nil {
				return err
			}
			dirs, err := g.dirs()
			if err != nil {
				return err
			}
			r, err := g.core().ConnectGitLab(cmd.Context(), rawURL, token)
			if err != nil {
				return err
			}
			u := struct{ Base string }{r.Connection.URL}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), r)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "GitLab %s at %s", r.Version, u.Base)
			if r.Admin {
				fmt.Fprintf(w, " — token of administrator %s: 'duobox gitlab apply' can set it up\n", r.User)
			} else {
				fmt.Fprintf(w, "\n  apply is not possible with this token: %s\n", r.AdminNote)
			}
			if r.TokenStored {
				fmt.Fprintf(w, "  token stored in %s (0600)\n", gitlab.TokenFile(dirs))
			}
			if r.ConfigNote != "" {
				fmt.Fprintf(w, "  %s\n", r.ConfigNote)
			}
			switch rules, err := gitlab.RulesFor(r.Instance.Parsed); {
			case err != nil:
				fmt.Fprintf(w, "  %v\n", err)
			case !rules.AdminUI:
				fmt.Fprintf(w, "  GitLab %s takes its settings from the environment: run 'duobox env'\n", r.Instance.Parsed.MinorString())
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rawURL, "url", "", "GitLab's base URL (default: the deployment config's, or the last connection's)")
	cmd.Flags().BoolVar(&tokenStdin, "token-stdin", false, "read the personal access token from stdin")
	cmd.Flags().StringVar(&tokenFile, "token-file", "", "read the personal access token from this file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newGitLabApplyCommand(g *globals) *cobra.Command {
	var given gitlab.Given
	var yes, asJSON bool
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Set the gateway URL, models and features on GitLab 17.9+ through its API (shows the plan first)",
		Long: `Apply reads GitLab's version, builds the settings for it, checks that the stored token
belongs to an administrator and has the api scope, reads what GitLab has now, and
prints exactly what would change. Only with --yes does it send the mutations
(duoSettingsUpdate, aiSelfHostedModelCreate/Update, aiFeatureSettingUpdate), in
order, stopping at the first failure. Nothing stored on this machine changes.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			plan, c, err := g.core().PlanGitLab(ctx, given)
			if err != nil {
				return err
			}
			if asJSON && !yes {
				return writeJSON(cmd.OutOrStdout(), plan)
			}
			w := cmd.OutOrStdout()
			if !asJSON {
				plan.Write(w)
			}
			if len(plan.Changes) == 0 {
				return nil
			}
			if !yes {
				fmt.Fprintln(w, "Nothing was changed. Run again with --yes to apply these changes.")
				return nil
			}
			n, err := plan.Apply(ctx, c)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(w, plan)
			}
			fmt.Fprintf(w, "Applied %d change(s). Test it: Admin → GitLab Duo → self-hosted models → Test connection.\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&given.Host, "host", "", "host name or address GitLab reaches this machine by (default: the deployment config's)")
	cmd.Flags().StringVar(&given.GitLabURL, "gitlab-url", "", "GitLab's base URL (default: the deployment config's, or the last connection's)")
	cmd.Flags().BoolVar(&yes, "yes", false, "apply the changes (without it, only show them)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the plan as JSON")
	return cmd
}

func newGitLabCheckCommand(g *globals) *cobra.Command {
	var given gitlab.Given
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the host address, the gateway port, and GitLab's OpenID keys from here and from the gateway",
		Long: `Check answers "can GitLab and the gateway reach each other?":
  - the host address is not loopback and resolves to an address of this machine;
  - something answers on the gateway port at that address;
  - GitLab's /.well-known/openid-configuration and its keys answer from this machine,
    and from inside the running gateway container (what the gateway needs to accept
    GitLab's tokens; it caches the keys for 24 h, so restart it after a fix).
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			given.VersionFromGitLab = true // the checks do not depend on the version
			in, _, err := g.core().GitLabInput(given)
			if err != nil {
				return err
			}
			findings := runGitLabChecks(ctx, in)
			if asJSON {
				if err := writeJSON(cmd.OutOrStdout(), findings); err != nil {
					return err
				}
			} else {
				printFindings(cmd.OutOrStdout(), findings)
			}
			for _, f := range findings {
				if !f.OK {
					return app.NotReady(nil, f.Fix, "check failed: %s", f.Check)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&given.Host, "host", "", "host name or address GitLab reaches this machine by (default: the deployment config's)")
	cmd.Flags().StringVar(&given.GitLabURL, "gitlab-url", "", "GitLab's base URL (default: the deployment config's, or the last connection's)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// runGitLabChecks runs every check it can and reports each; none stops the others.
func runGitLabChecks(ctx context.Context, in gitlab.Input) []gitlab.Finding {
	var out []gitlab.Finding
	hc, err := gitlab.HostChecker{}.Check(ctx, in.Host)
	detail := ""
	if err == nil {
		detail = fmt.Sprintf("%s resolves to this machine's %v", hc.Host, hc.Local)
	}
	out = append(out, gitlab.FindingFromError("host address "+in.Host, detail, err))
	port := in.GatewayPort
	if port == 0 {
		port = config.DefaultGatewayPort
	}
	out = append(out, gitlab.FindingFromError(fmt.Sprintf("gateway port %d on %s", port, in.Host), "answers", gitlab.CheckPort(ctx, in.Host, port)))
	if in.GitLab == nil {
		out = append(out, gitlab.Finding{Check: "GitLab's OpenID keys", Problem: "no GitLab URL known", Fix: "pass --gitlab-url or run 'duobox gitlab connect'"})
		return out
	}
	out = append(out, gitlab.CheckOIDC(ctx, gitlab.HostFetcher{}, *in.GitLab).Finding())
	engine, err := docker.Connect()
	if err == nil {
		defer engine.Close()
		err = engine.Ping(ctx)
	}
	var gw docker.ContainerFetcher
	if err == nil {
		stackName := in.StackName
		if stackName == "" {
			stackName = config.DefaultName
		}
		gw, err = engine.FindGateway(ctx, stackName)
	}
	if err != nil {
		out = append(out, gitlab.FindingFromError("GitLab's OpenID keys from inside the gateway container", "", err))
		return out
	}
	return append(out, gitlab.CheckOIDC(ctx, gw, *in.GitLab).Finding())
}

func printFindings(w io.Writer, findings []gitlab.Finding) {
	for _, f := range findings {
		if f.OK {
			fmt.Fprintf(w, "ok    %s", f.Check)
			if f.Detail != "" {
				fmt.Fprintf(w, ": %s", f.Detail)
			}
			fmt.Fprintln(w)
			continue
		}
		fmt.Fprintf(w, "FAIL  %s: %s\n", f.Check, f.Problem)
		if f.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", f.Fix)
		}
	}
}
