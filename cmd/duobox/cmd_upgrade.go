package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/paths"
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
			env, err := openUpgrader(cmd.Context(), g, timeout, asJSON)
			if err != nil {
				return err
			}
			defer env.close()
			env.reconcile(cmd.Context())
			target, warnings, err := upgrade.Target(cmd.Context(), upgrade.TargetInput{Config: env.cfg, Role: role, To: to,
				GitLabVersion: gitlabVersion, Tags: tags, Source: source, Archive: archive, Force: force, FIPS: fips})
			for _, w := range warnings {
				g.warnf("%s", w)
			}
			if errors.Is(err, upgrade.ErrUpToDate) {
				fmt.Fprintf(cmd.OutOrStdout(), "%s already runs the recommended tag %s\n", role, upgrade.ImageOf(env.cfg, role).Tag)
				return nil
			}
			if err != nil {
				return err
			}
			run, err := env.upgrader.Upgrade(cmd.Context(), upgrade.Request{Config: env.cfg, Role: role, To: target, Source: source, Archive: archive, StopFirst: stopFirst})
			env.bar.done()
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
	path, err := g.configFile()
	if err != nil {
		return err
	}
	if in.Config, err = config.Load(path); err != nil {
		return err
	}
	if in.Lister.Tags == nil {
		in.Lister.Tags = gatewayTagsFor(g) // offline: the tags a loaded bundle recorded
	}
	rep, err := upgrade.Check(cmd.Context(), in)
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

// upgradeEnv is what upgrade and rollback share: the stack and an upgrader
// that saves the config file and records history in the state database.
type upgradeEnv struct {
	*stackEnv
	upgrader *upgrade.Upgrader
	bar      *progressPrinter
	warn     func(format string, args ...any)
}

// openUpgrader opens the stack (deploy.Prepare) with an upgrader on it.
func openUpgrader(ctx context.Context, g *globals, timeout time.Duration, quiet bool) (*upgradeEnv, error) {
	return openUpgraderWith(ctx, g, deploy.Prepare, timeout, quiet)
}

// openUpgraderWith is openUpgrader with another prepare (deploy.PrepareReadOnly
// for commands that only read).
func openUpgraderWith(ctx context.Context, g *globals, prepare func(config.Deployment, paths.Dirs, catalog.Catalog) (deploy.Prepared, error), timeout time.Duration, quiet bool) (*upgradeEnv, error) {
	env, err := openStack(ctx, g, prepare)
	if err != nil {
		return nil, err
	}
	u, err := newUpgradeEnv(g, env, prepare, timeout, quiet)
	if err != nil {
		env.close()
		return nil, err
	}
	return u, nil
}

// newUpgradeEnv puts an upgrader on an open stack.
func newUpgradeEnv(g *globals, env *stackEnv, prepare func(config.Deployment, paths.Dirs, catalog.Catalog) (deploy.Prepared, error), timeout time.Duration, quiet bool) (*upgradeEnv, error) {
	path, err := g.configFile()
	if err != nil {
		return nil, err
	}
	bar := newProgressPrinter(os.Stderr, !quiet)
	u := &upgrade.Upgrader{Engine: env.engine, Store: env.store, LockDir: env.dirs.State, ConfigPath: path,
		Build: func(d config.Deployment) (stack.Spec, error) {
			p, err := prepare(d, env.dirs, env.catalog)
			return p.Spec, err
		},
		OnEvent: bar.event, HealthTimeout: timeout,
		Beside: func(ctx context.Context, d config.Deployment) (upgrade.Fit, error) {
			m, err := hardware.Detector{}.Detect(ctx) // taken now: the running model's memory counts as used
			if err != nil {
				return upgrade.Fit{}, err
			}
			return upgrade.BesideFit(m, d, env.catalog), nil
		}}
	return &upgradeEnv{stackEnv: env, upgrader: u, bar: bar, warn: g.warnf}, nil
}

// reconcile finishes or undoes a run an earlier crash left open, and says so.
func (e *upgradeEnv) reconcile(ctx context.Context) {
	runs, err := e.upgrader.Reconcile(ctx, e.cfg.Name)
	if err != nil {
		e.warn("%v", err)
	}
	e.reportReconciled(runs)
}

// exclusive holds the upgrade lock for up (failing while an upgrade runs),
// after reconciling; it reports whether the config changed.
func (e *upgradeEnv) exclusive(ctx context.Context) (unlock func(), changed bool, err error) {
	runs, unlock, err := e.upgrader.Exclusive(ctx, e.cfg.Name)
	if err != nil {
		return nil, false, err
	}
	return unlock, e.reportReconciled(runs), nil
}

// reportReconciled warns about each interrupted run and reloads the config
// when a run was finished or undone (either may have saved it).
func (e *upgradeEnv) reportReconciled(runs []upgrade.Run) bool {
	for _, r := range runs {
		e.warn("found an interrupted %s of %s (%s → %s): %s", r.Action, r.Container, r.From.Tag, r.To.Tag, r.Reason)
	}
	if len(runs) > 0 { // the config may have changed (a finished run saved it)
		if cfg, err := config.Load(e.upgrader.ConfigPath); err == nil {
			e.cfg = cfg
		}
	}
	return len(runs) > 0
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

// indent prefixes each line of s.
func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
