package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/runtime/health"
)

func init() { register(newSmokeTestCommand) }

// newSmokeTestCommand is 'duobox test'. This file is not named cmd_test.go:
// Go would take that for a test file.
func newSmokeTestCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Send a real completion to the model, then GitLab's Test connection call through the gateway",
		Long: `Test runs two requests and explains a failure precisely:

  1. a completion (POST /v1/completions, 16 tokens) straight to the model server,
     through the container's address on DuoBox's network: the model port is never
     published on the host, and a Linux host reaches that network directly;
  2. POST /v1/prompts/model_configuration%2Fcheck on the gateway: the same call as
     GitLab's "Test connection" button; the gateway then calls the model itself
     over DuoBox's network. DuoBox signs a 5-minute token with the gateway's
     self-signed key pair (auth bypass stays off), with the claims the gateway
     checks: scope complete_code, and sub, realm and instance id equal to the
     X-Gitlab-Global-User-Id, X-Gitlab-Realm and X-Gitlab-Instance-Id headers.

Each step prints its latency and the model's first tokens. 421 means the gateway
reached the model and the model answered with an error; 403 names the scope
the token lacks; 401 says whether the token could not be verified or which
claim and header disagree; "connection refused" means nothing listens there.

The exit status is 0 when both steps pass and 4 otherwise.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSmokeTest(cmd.Context(), g, cmd.OutOrStdout(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func runSmokeTest(ctx context.Context, g *globals, stdout io.Writer, asJSON bool) error {
	res, err := g.core().Test(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(stdout, res); err != nil {
			return err
		}
	} else {
		printSmoke(stdout, res.SmokeResult, res.Note)
	}
	return actions.TestError(res)
}

func printSmoke(w io.Writer, r health.SmokeResult, note string) {
	for _, s := range r.Steps {
		fmt.Fprintf(w, "%s %-20s %s", s.Mark(), s.Name, s.URL)
		if s.Status != 0 {
			fmt.Fprintf(w, "  HTTP %d", s.Status)
		}
		fmt.Fprintf(w, "  %s\n", s.Latency.Round(time.Millisecond))
		if s.FirstTokens != "" {
			fmt.Fprintf(w, "    first tokens: %q\n", s.FirstTokens)
		}
		if s.Diagnosis != "" {
			fmt.Fprintf(w, "    %s\n", s.Diagnosis)
		}
		if s.Fix != "" {
			fmt.Fprintf(w, "    fix: %s\n", s.Fix)
		}
	}
	if note != "" {
		fmt.Fprintf(w, "note: %s\n", note)
	}
}
