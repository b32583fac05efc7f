package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
)

func init() { register(newUpgradeCommand) }

func newUpgradeCommand(g *globals) *cobra.Command {
	var (
		asJSON, check, force, fips, local    bool
		stopFirst                            bool
		to, gitlabVersion, tagsFrom, archive string
		timeout                              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "upgrade [gateway|model]",
		Short: "Move the AI Gateway (or the model server) to another image, health-gated, with automatic rollback",
		Long: `Upgrade lists what is available (--check) or moves one container to another image tag.

With --check it lists the image's tags from its registry (or --tags-from FILE, one tag per
line), with digests, and recommends one: for the gateway, the newest self-hosted-vX.Y.Z-ee
for your GitLab X.Y (gitlab-vX.Y.0 for 17.1–17.3) — never latest, nightly, vX.Y.Z
semantic-release or FIPS tags unless asked; for the model server (pinned), the newest
vLLM release. It warns about tags made for a GitLab newer than yours.

Without --check it upgrades: the image is pulled (or loaded with --local / --archive) while
the old container keeps serving; the new container is created beside it; the old one is
stopped and kept as NAME-rollback; the new one starts and must become healthy within
--timeout. If it does not, its last log lines are kept in 'duobox history', it is removed,
and the old one serves again. For the model server, when two copies fit the memory (GPU
memory in GPU mode: --gpu-memory-utilization of each card must be free; RAM in CPU mode),
the new one starts beside the old one and takes over the name the gateway calls once it is
healthy, so the model stays available; otherwise DuoBox says first how long the model will
be unavailable (its start time measured on this machine) and stops the old one first
(--stop-first forces that). On success the config records the new tag and digest, so
'duobox up' keeps it. 'duobox rollback' returns to the previous version.

A tag for another GitLab minor release, or a non-release tag, is refused unless --force.
Only one upgrade or rollback runs at a time (a second one exits with status 5).
` + exitStatusHelp,
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: []string{stack.RoleGateway, stack.RoleModel},
		RunE: func(cmd *cobra.Command, args []string) error {
			role := stack.RoleGateway
			if len(args) == 1 {
				role = args[0]
			}
			var tags []string
			if tagsFrom != "" {
				var err error
				if tags, err = release.ReadTagsFile(tagsFrom); err != nil {
					return err
				}
			}
			if check {
				return runUpgradeCheck(cmd, g, upgrade.CheckInput{Role: role, GitLabVersion: gitlabVersion, Tags: tags, FIPS: fips}, asJSON)
			}
			source := upgrade.SourceRegistry
			switch {
			case archive != "" && local:
				return usageErrorf(cmd, "--local and --archive exclude each other")
			case archive != "":
				source = upgrade.SourceArchive
			case local:
				source = upgrade.SourceLocal
			}
			bar := newProgressPrinter(cmd.ErrOrStderr(), !asJSON)
			run, err := g.core().Upgrade(cmd.Context(), actions.UpgradeRequest{Role: role, To: to, GitLabVersion: gitlabVersion,
				Tags: tags, Source: source, Archive: archive, Force: force, FIPS: fips, Timeout: timeout, StopFirst: stopFirst}, cliEvents(g, bar))
			bar.done()
			if errors.Is(err, upgrade.ErrUpToDate) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already runs the recommended tag %s\n", role, run.From.Tag)
				return nil
			}
			if err != nil {
				return err
			}
			return printRun(cmd.OutOrStdout(), run, asJSON)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&check, "check", false, "list the current, available and recommended tags; change nothing")
	f.BoolVar(&asJSON, "json", false, "print JSON (with --check: {current, available, recommended, digests, warnings})")
	f.StringVar(&to, "to", "", "the tag to move to (default: the recommended one)")
	f.StringVar(&gitlabVersion, "gitlab-version", "", "GitLab version X.Y[.Z] to choose for (default: gitlab.version in the config)")
	f.StringVar(&tagsFrom, "tags-from", "", "read the available tags from FILE (one per line) instead of asking the registry")
	f.BoolVar(&force, "force", false, "allow a tag for another GitLab minor release, or a non-release tag")
	f.BoolVar(&fips, "fips", false, "choose among FIPS builds")
	f.BoolVar(&local, "local", false, "use an image already in the engine (air-gapped; no pull)")
	f.StringVar(&archive, "archive", "", "load the image from a 'docker save' archive (air-gapped)")
	f.BoolVar(&stopFirst, "stop-first", false, "model server: stop the old one before the new one starts, even when two copies fit")
	f.DurationVar(&timeout, "timeout", 0, "how long the new container may take to become healthy (default 3m for the gateway, 30m for the model server)")
	return cmd
}

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd.CommandPath(), err: fmt.Errorf(format, args...)}
}

// runUpgradeCheck prints what is available; it needs the config, not the engine.
func runUpgradeCheck(cmd *cobra.Command, g *globals, in upgrade.CheckInput, asJSON bool) error {
	rep, err := g.core().UpgradeCheck(cmd.Context(), in)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	for _, w := range rep.Warnings {
		g.warnf("%s", w)
	}
	w := cmd.OutOrStdout()
	gl := ""
	if rep.GitLabVersion != "" {
		gl = "  (for GitLab " + rep.GitLabVersion + ")"
	}
	fmt.Fprintf(w, "%s image %s%s, tags from the %s\n", rep.Role, rep.Repository, gl, rep.Source)
	fmt.Fprintf(w, "  current:     %-28s %s\n", rep.Current, rep.Digests[rep.Current])
	for i, t := range rep.Available {
		label := ""
		if i == 0 {
			label = "available:"
		}
		fmt.Fprintf(w, "  %-12s %-28s %s\n", label, t, rep.Digests[t])
	}
	if len(rep.Available) == 0 {
		fmt.Fprintln(w, "  available:   none fits")
	}
	switch {
	case rep.Recommended == nil:
		fmt.Fprintln(w, "  recommended: none")
	case rep.UpToDate:
		fmt.Fprintf(w, "  recommended: %s (running; up to date)\n", *rep.Recommended)
	default:
		fmt.Fprintf(w, "  recommended: %s — run 'duobox upgrade %s' to move to it\n", *rep.Recommended, rep.Role)
	}
	return nil
}

// cliEvents prints an action's events: warnings as warnings, the rest on bar.
func cliEvents(g *globals, bar *progressPrinter) func(deploy.Event) {
	return func(ev deploy.Event) {
		if ev.Kind == deploy.EventWarning {
			bar.endBar()
			g.warnf("%s", ev.Message)
			return
		}
		bar.event(ev)
	}
}

func printRun(w io.Writer, r upgrade.Run, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "%s %s: %s → %s %s\n", r.Action, r.Container, tagDigest(r.From.Tag, r.FromDigest), tagDigest(r.To.Tag, r.ToDigest), r.Outcome)
	if r.Outcome == upgrade.OutcomeSucceeded {
		fmt.Fprintf(w, "previous version kept as %s; 'duobox rollback %s' returns to it\n", upgrade.RollbackName(r.Container), r.Role)
	}
	if r.Reason != "" {
		fmt.Fprintf(w, "note: %s\n", r.Reason)
	}
	return nil
}

func tagDigest(tag, digest string) string {
	if digest == "" {
		return tag
	}
	return tag + " (" + shortDigest(digest) + ")"
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
