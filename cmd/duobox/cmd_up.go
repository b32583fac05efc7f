package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/docker"
)

func init() { register(newUpCommand) }

func newUpCommand(g *globals) *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the model server and the AI Gateway (create, repair or leave alone) and wait until healthy",
		Long: `Up makes the Docker engine match the deployment config: it removes DuoBox's own
leftovers, pulls missing images (one progress bar per image: bytes, rate, ETA), creates
the network and the Hugging Face cache volume, creates missing containers, recreates
those whose config changed, starts stopped ones and leaves the right ones alone; then
it waits until both are healthy. Run it again at any time: it only repairs. Objects
without DuoBox's label are never touched. When up fails, what it created is removed.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			env, err := openStack(ctx, g, deploy.Prepare)
			if err != nil {
				return err
			}
			defer env.close()
			for _, w := range env.prepared.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "duobox: warning: %s\n", w)
			}
			for _, k := range env.prepared.NewKeys {
				fmt.Fprintf(cmd.ErrOrStderr(), "duobox: generated key %s (0600)\n", k)
			}
			env.deployer.HealthTimeout = timeout
			// Weights first (GPU mode): verified and resumable, so the model starts offline.
			weightsBar := newProgressBar(cmd.ErrOrStderr())
			onWeights := weightsBar.update
			if asJSON {
				onWeights = nil
			}
			err = deploy.EnsureWeights(ctx, env.prepared, env.cfg, env.catalog, onWeights)
			weightsBar.end()
			if err != nil {
				return err
			}
			bar := newProgressPrinter(cmd.ErrOrStderr(), !asJSON)
			env.deployer.OnEvent = bar.event
			rep, err := env.lockedUp(ctx, g)
			bar.done()
			if err != nil {
				return err
			}
			learned := learnFromStart(ctx, g, env)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			for _, a := range rep.Actions {
				fmt.Fprintf(w, "%-9s %-8s %s %s\n", a.Did, a.Kind, a.Name, a.Why)
			}
			printEndpoints(w, env.cfg, env.prepared.Spec)
			printStartRecords(w, learned)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the actions as JSON (up returns only once every container is healthy)")
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Minute, "how long to wait for the containers to become healthy (a first model download takes long)")
	return cmd
}

// lockedUp is what 'duobox up' and the GUI's Deploy run once the weights are
// in place: it holds the upgrade lock so it never overlaps an upgrade (a
// conflict while one runs), finishes or undoes an upgrade a crash left open,
// then makes the engine match the spec.
func (env *stackEnv) lockedUp(ctx context.Context, g *globals) (deploy.Report, error) {
	uenv, err := newUpgradeEnv(g, env, deploy.Prepare, env.deployer.HealthTimeout, true)
	if err != nil {
		return deploy.Report{}, err
	}
	unlock, changed, err := uenv.exclusive(ctx)
	if err != nil {
		return deploy.Report{}, err
	}
	defer unlock()
	if changed {
		if env.prepared, err = deploy.Prepare(env.cfg, env.dirs, env.catalog); err != nil {
			return deploy.Report{}, err
		}
	}
	return env.deployer.Up(ctx, env.prepared.Spec)
}

// stackEnv is what up, down, status and restart share: the config, the
// prepared spec, and a deployer on the engine and the state database.
type stackEnv struct {
	cfg      config.Deployment
	dirs     paths.Dirs
	catalog  catalog.Catalog
	prepared deploy.Prepared
	deployer *deploy.Deployer
	engine   *docker.Engine
	store    *store.Store
}

// loadDeployment reads and validates the deployment config (a malformed edit
// stops here, before the engine is touched) and resolves DuoBox's folders.
func loadDeployment(g *globals) (config.Deployment, paths.Dirs, error) {
	path, err := g.configFile()
	if err != nil {
		return config.Deployment{}, paths.Dirs{}, err
	}
	cfg, err := config.Load(path)
	if err != nil {
		return config.Deployment{}, paths.Dirs{}, err
	}
	dirs, err := g.dirs()
	return cfg, dirs, err
}

// openStack loads and validates the config (a malformed edit stops here,
// before the engine is touched), prepares the spec (deploy.Prepare, or
// deploy.PrepareReadOnly for commands that must not create files) and connects.
func openStack(ctx context.Context, g *globals, prepare func(config.Deployment, paths.Dirs, catalog.Catalog) (deploy.Prepared, error)) (*stackEnv, error) {
	cfg, dirs, err := loadDeployment(g)
	if err != nil {
		return nil, err
	}
	cat, err := loadCatalog(g)
	if err != nil {
		return nil, err
	}
	prepared, err := prepare(cfg, dirs, cat)
	if err != nil {
		return nil, err
	}
	eng, err := docker.Connect()
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, dirs.Database())
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &stackEnv{cfg: cfg, dirs: dirs, catalog: cat, prepared: prepared, engine: eng, store: st,
		deployer: &deploy.Deployer{Engine: eng, Store: st}}, nil
}

func (e *stackEnv) close() {
	e.store.Close()
	e.engine.Close()
}

// printEndpoints tells the user where things are and what GitLab needs.
func printEndpoints(w io.Writer, cfg config.Deployment, s stack.Spec) {
	fmt.Fprintf(w, "\nAI Gateway:      http://%s:%d  (health: /monitoring/healthz)\n", config.HostForURL(cfg.Host), cfg.Gateway.Port)
	for i, m := range cfg.Models {
		fmt.Fprintf(w, "Model endpoint:  %s  (for GitLab's self-hosted model; reached by the gateway on the %s network)\n", stack.ModelEndpoint(cfg.Name, i), s.Network.Name)
		fmt.Fprintf(w, "Model identifier: custom_openai/%s\n", m.Name())
	}
}

// progressPrinter draws deploy events: steps as lines, pulls as one bar per
// image (redrawn in place on a terminal, every few seconds otherwise).
type progressPrinter struct {
	w        io.Writer
	on       bool
	tty      bool
	barShown bool
	lastLine time.Time
}

func newProgressPrinter(w io.Writer, on bool) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progressPrinter{w: w, on: on, tty: tty}
}

func (p *progressPrinter) event(ev deploy.Event) {
	if !p.on {
		return
	}
	switch ev.Kind {
	case deploy.EventPull:
		line := ev.Pull.Bar(30)
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.barShown = true
			if ev.Pull.Finished {
				fmt.Fprintln(p.w)
				p.barShown = false
			}
			return
		}
		if ev.Pull.Finished || time.Since(p.lastLine) > 2*time.Second || strings.HasPrefix(ev.Pull.Status, "Retrying") {
			fmt.Fprintln(p.w, line)
			p.lastLine = time.Now()
		}
	case deploy.EventWarning:
		p.endBar()
		fmt.Fprintf(p.w, "warning: %s\n", ev.Message)
	default:
		p.endBar()
		fmt.Fprintln(p.w, ev.Message)
	}
}

func (p *progressPrinter) endBar() {
	if p.barShown {
		fmt.Fprintln(p.w)
		p.barShown = false
	}
}

func (p *progressPrinter) done() { p.endBar() }
