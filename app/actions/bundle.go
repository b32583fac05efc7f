package actions

import (
	"context"

	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/weights"
	"github.com/duobox/duobox/bundles"
)

// WeightsEnv is the Hugging Face environment (endpoint, cache, token) as
// the model server and the weights commands see it; it creates nothing.
func (c *Core) WeightsEnv() (weights.Env, error) {
	dirs, err := paths.Resolve() // read only: the token is read, nothing is created
	if err != nil {
		return weights.Env{}, err
	}
	return weights.EnvFromOS(dirs.Secrets())
}

// CreateBundle is 'duobox bundle create' and the window's "Prepare an
// offline bundle…": what o leaves empty comes from the deployment config.
func (c *Core) CreateBundle(ctx context.Context, o bundle.CreateOptions, progress bundle.ProgressFunc) (bundle.CreateResult, error) {
	if cfg, err := c.LoadConfig(); err == nil {
		if o.GitLabVersion == "" {
			o.GitLabVersion = cfg.GitLab.Version
		}
		if o.Model == "" && len(cfg.Models) > 0 {
			o.Model = cfg.Models[0].Repo()
		}
		if o.Mode == "" {
			o.Mode = cfg.Mode
		}
		if o.GatewayRegistry == "" {
			o.GatewayRegistry = cfg.Gateway.Image.Registry
		}
		if o.ModelServerRegistry == "" {
			o.ModelServerRegistry = cfg.ModelServer.Registry
		}
	}
	cat, err := c.Catalog()
	if err != nil {
		return bundle.CreateResult{}, err
	}
	o.Catalog, o.CatalogYAML = cat, bundles.CatalogYAML()
	if o.Weights, err = c.WeightsEnv(); err != nil {
		return bundle.CreateResult{}, err
	}
	return bundle.Create(ctx, o, progress)
}

// LoadBundle is 'duobox bundle load' and the window's "Load a bundle…".
func (c *Core) LoadBundle(ctx context.Context, file string, progress bundle.ProgressFunc) (bundle.LoadResult, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return bundle.LoadResult{}, err
	}
	env, err := c.WeightsEnv()
	if err != nil {
		return bundle.LoadResult{}, err
	}
	cfgPath, err := c.ConfigFile()
	if err != nil {
		return bundle.LoadResult{}, err
	}
	eng, err := c.Connect()
	if err != nil {
		return bundle.LoadResult{}, err
	}
	defer eng.Close()
	return bundle.Load(ctx, bundle.LoadOptions{Engine: eng, HubCache: env.HubCache, DataDir: dirs.Data, ConfigPath: cfgPath}, file, progress)
}

// InspectBundle is 'duobox bundle inspect': what the bundle holds, checked
// against machine m and the deployment config's GitLab version.
func (c *Core) InspectBundle(file string, m hardware.Machine) (bundle.InspectResult, error) {
	cat, err := c.Catalog()
	if err != nil {
		return bundle.InspectResult{}, err
	}
	in := bundle.InspectInput{Machine: m, Catalog: cat}
	if cfg, err := c.LoadConfig(); err == nil {
		in.GitLabVersion = cfg.GitLab.Version
	}
	return bundle.Inspect(file, in)
}
