// Package actions holds each user action once — detect, recommend, save the
// config, deploy, stop, restart, health, test, follow logs, upgrade, roll
// back, export, connect to and apply to GitLab — with its inputs, its typed
// progress events, its result and its errors (app.Problem). The CLI
// (cmd/duobox) and the window (ui/) are adapters over it: the CLI renders
// results as text or JSON, the window as widgets.
//
// The package does not import Fyne or the Docker SDK: the container engine
// comes in through the Engine interface, which cmd/duobox wires to
// runtime/docker.
package actions

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

// Engine is the container engine as the actions use it: deploy's and the
// upgrader's calls, health's inspection, and the log stream.
// runtime/docker implements it (cmd/duobox adapts it).
type Engine interface {
	upgrade.Engine
	health.Engine
	// ContainerHealthState inspects a container by name or ID (app.ErrNotFound when absent).
	ContainerHealthState(ctx context.Context, nameOrID string) (engine.ContainerState, error)
	// LogSource streams containers' logs.
	LogSource() logs.Source
	// RemoveImage untags ref (a bundle load takes back the images it added).
	RemoveImage(ctx context.Context, ref string) error
	Close() error
}

// Core runs the actions. Its zero value is not usable: set Connect.
type Core struct {
	// ConfigPath is the deployment config file ("" = the default one in Dirs).
	ConfigPath string
	// Connect opens the container engine.
	Connect func() (Engine, error)
	// Warn receives warnings that do not stop an action (nil: dropped).
	Warn func(msg string)
	// GPUs samples the GPUs for health checks (zero: NVML, else nvidia-smi).
	GPUs health.GPUSampler

	mu      sync.Mutex
	machine *machineCache
	henv    *healthEnv
}

func (c *Core) warn(msg string) {
	if c.Warn != nil {
		c.Warn(msg)
	}
}

// Dirs resolves DuoBox's folders and creates them.
func (c *Core) Dirs() (paths.Dirs, error) {
	d, err := paths.Resolve()
	if err != nil {
		return d, err
	}
	return d, d.Ensure()
}

// ConfigFile is ConfigPath, or the default deployment config path.
func (c *Core) ConfigFile() (string, error) {
	if c.ConfigPath != "" {
		return c.ConfigPath, nil
	}
	d, err := paths.Resolve() // resolve only: a rejected command creates nothing
	if err != nil {
		return "", err
	}
	return d.ConfigFile(), nil
}

// LoadConfig reads the deployment config (an error wrapping os.ErrNotExist
// when there is none yet).
func (c *Core) LoadConfig() (config.Deployment, error) {
	path, err := c.ConfigFile()
	if err != nil {
		return config.Deployment{}, err
	}
	return config.Load(path)
}

// LoadDeployment reads and validates the deployment config (a malformed
// edit stops here, before the engine is touched) and resolves the folders.
func (c *Core) LoadDeployment() (config.Deployment, paths.Dirs, error) {
	cfg, err := c.LoadConfig()
	if err != nil {
		return config.Deployment{}, paths.Dirs{}, err
	}
	dirs, err := c.Dirs()
	return cfg, dirs, err
}

// Catalog loads the bundled catalog and the user's overlay, warning about a
// broken overlay.
func (c *Core) Catalog() (catalog.Catalog, error) {
	dirs, err := paths.Resolve() // read only: nothing is created to read the overlay
	if err != nil {
		return catalog.Catalog{}, err
	}
	cat, overlayErr, err := bundles.CatalogWithOverlay(dirs.CatalogOverlay())
	if err != nil {
		return cat, err
	}
	if overlayErr != nil {
		c.warn(overlayErr.Error())
	}
	return cat, nil
}

// GitLabVersion is given when set (badInput explains a malformed one), else
// the deployment config's, else the catalog's newest (assumed).
func (c *Core) GitLabVersion(given string, cat catalog.Catalog, badInput func(error) error) (v version.GitLab, assumed bool, err error) {
	if given != "" {
		v, err = version.Parse(given)
		if err != nil {
			return v, false, badInput(err)
		}
		return v, false, nil
	}
	if d, err := c.LoadConfig(); err == nil {
		v, err := version.Parse(d.GitLab.Version)
		return v, false, err
	} else if !errors.Is(err, os.ErrNotExist) && c.ConfigPath != "" {
		return v, false, err
	}
	return recommend.DefaultGitLab(cat), true, nil
}

// OpenStore opens the state database.
func (c *Core) OpenStore(ctx context.Context) (*store.Store, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, dirs.Database())
}

// openStore opens the state database; for a command that only reads, one
// that cannot be written (a full disk) is read as it is, with a note.
func (c *Core) openStore(ctx context.Context, dirs paths.Dirs, reading bool) (*store.Store, error) {
	if !reading {
		return store.Open(ctx, dirs.Database())
	}
	st, note, err := store.OpenForReading(ctx, dirs.Database())
	if note != "" {
		c.warn(note)
	}
	return st, err
}

// readOnlyPrepare reports whether prepare is deploy.PrepareReadOnly: the
// stack is opened to read it (status, down's plan, history), not to change it.
func readOnlyPrepare(prepare PrepareFunc) bool {
	return reflect.ValueOf(prepare).Pointer() == reflect.ValueOf(PrepareFunc(deploy.PrepareReadOnly)).Pointer()
}

// Stack is what up, down, status and restart share: the config, the
// prepared spec, and a deployer on the engine and the state database.
type Stack struct {
	Config   config.Deployment
	Dirs     paths.Dirs
	Catalog  catalog.Catalog
	Prepared deploy.Prepared
	Deployer *deploy.Deployer
	Engine   Engine
	Store    *store.Store
	// Prepare is how the spec was prepared (deploy.Prepare or deploy.PrepareReadOnly).
	Prepare PrepareFunc
}

// PrepareFunc prepares a stack spec: deploy.Prepare, or
// deploy.PrepareReadOnly where nothing may be created.
type PrepareFunc func(config.Deployment, paths.Dirs, catalog.Catalog) (deploy.Prepared, error)

// OpenStack loads and validates the config, prepares the spec and connects.
func (c *Core) OpenStack(ctx context.Context, prepare PrepareFunc) (*Stack, error) {
	cfg, dirs, cat, prepared, err := c.prepare(prepare)
	if err != nil {
		return nil, err
	}
	eng, err := c.Connect()
	if err != nil {
		return nil, err
	}
	st, err := c.openStore(ctx, dirs, readOnlyPrepare(prepare))
	if err != nil {
		eng.Close()
		return nil, err
	}
	return &Stack{Config: cfg, Dirs: dirs, Catalog: cat, Prepared: prepared, Engine: eng, Store: st, Prepare: prepare,
		Deployer: &deploy.Deployer{Engine: eng, Store: st}}, nil
}

// prepare loads and validates the config and the catalog and prepares the
// spec, without the engine (OpenStack, Export).
func (c *Core) prepare(prepare PrepareFunc) (config.Deployment, paths.Dirs, catalog.Catalog, deploy.Prepared, error) {
	cfg, dirs, err := c.LoadDeployment()
	if err != nil {
		return cfg, dirs, catalog.Catalog{}, deploy.Prepared{}, err
	}
	cat, err := c.Catalog()
	if err != nil {
		return cfg, dirs, cat, deploy.Prepared{}, err
	}
	prepared, err := prepare(cfg, dirs, cat)
	return cfg, dirs, cat, prepared, err
}

// connectLive opens the engine and checks that it answers.
func (c *Core) connectLive(ctx context.Context) (Engine, error) {
	eng, err := c.Connect()
	if err != nil {
		return nil, err
	}
	if err := eng.Ping(ctx); err != nil {
		eng.Close()
		return nil, err
	}
	return eng, nil
}

// Close releases the engine and the database.
func (s *Stack) Close() {
	s.Store.Close()
	s.Engine.Close()
}

// withStack runs f on a freshly opened stack.
func (c *Core) withStack(ctx context.Context, prepare PrepareFunc, f func(*Stack) error) error {
	s, err := c.OpenStack(ctx, prepare)
	if err != nil {
		return err
	}
	defer s.Close()
	return f(s)
}

// Close releases what the Core keeps open between calls.
func (c *Core) Close() { c.dropHealthEnv() }
