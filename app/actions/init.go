package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/secrets"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/version"
)

// ErrNoGPU marks a GPU-mode config on a machine whose engine has no NVIDIA
// GPU: the user decides whether to use CPU mode (nothing switches on its own).
var ErrNoGPU = errors.New("no NVIDIA GPU reachable by the engine")

// InitRequest is what writing the deployment config needs.
type InitRequest struct {
	Input deploy.InitInput
	// Machine is the machine to plan for (nil: the last detection, or a fresh one).
	Machine *hardware.Machine
	// HFToken, when set, is stored in the secrets folder (0600).
	HFToken string
	// Replace allows replacing an existing config.
	Replace bool
	// PrintOnly builds the config without writing anything.
	PrintOnly bool
}

// InitResult is the written (or, with PrintOnly, built) config.
type InitResult struct {
	Path     string            `json:"path"`
	Config   config.Deployment `json:"config"`
	Notes    []string          `json:"notes,omitempty"`
	Warnings []string          `json:"warnings,omitempty"`
	NewKeys  []string          `json:"new_keys,omitempty"`
	LogDir   string            `json:"log_dir,omitempty"`
}

// CheckPublish refuses a host that is not an address of this machine unless
// the user asked to publish the gateway on all addresses (issue 16: never
// silently).
func CheckPublish(in deploy.InitInput) error {
	if in.PublishAll || deploy.HostIsLocal(in.Host) {
		return nil
	}
	return &app.Problem{Kind: app.KindBadInput, Remedy: app.RemedyPublishAll,
		What: fmt.Sprintf("%s is not an address of this machine (nor a name that resolves to one), so the gateway cannot be published on it alone", in.Host)}
}

// Init writes the deployment config from the user's answers and the
// recommendation for this machine ('duobox init', Configure → Save config).
// A GPU-mode config on a machine without a GPU is refused with ErrNoGPU.
func (c *Core) Init(ctx context.Context, req InitRequest) (InitResult, error) {
	in := req.Input
	if err := config.CheckHostSyntax(in.Host); err != nil {
		return InitResult{}, &app.Problem{Kind: app.KindBadInput, What: "host: " + err.Error(), Remedy: app.RemedyHost}
	}
	if err := CheckPublish(in); err != nil {
		return InitResult{}, err
	}
	v, err := version.Parse(in.GitLabVersion)
	if err != nil {
		return InitResult{}, &app.Problem{Kind: app.KindBadInput, What: err.Error(), Remedy: app.RemedyGitLabVersion}
	}
	path, err := c.ConfigFile()
	if err != nil {
		return InitResult{}, err
	}
	if _, err := os.Stat(path); err == nil && !req.Replace && !req.PrintOnly {
		return InitResult{}, &app.Problem{Kind: app.KindBadInput, What: "a deployment config already exists at " + path, Remedy: app.RemedyReplaceConfig}
	}
	cat, err := c.Catalog()
	if err != nil {
		return InitResult{}, err
	}
	if err := recommend.CheckGitLabVersion(v, cat); err != nil {
		return InitResult{}, err
	}
	var m hardware.Machine
	if req.Machine != nil {
		m = *req.Machine
	} else if m, err = c.lastMachine(ctx); err != nil {
		return InitResult{}, err
	}
	if in.Mode != config.ModeCPU && (!m.Engine.Reachable || len(m.NVIDIA()) == 0) && len(in.Models) == 0 {
		return InitResult{}, &app.Problem{Kind: app.KindBadInput, Err: ErrNoGPU, Remedy: app.RemedyCPUMode,
			What: "this machine has no NVIDIA GPU that the Docker engine can use, so no model can be planned for one"}
	}
	in.Catalog = cat
	opts := in.VLLM
	opts.GitLab = v
	if in.Recommended, err = recommend.Recommend(m, cat, opts); err != nil {
		return InitResult{}, err
	}
	if in.GatewayTag == "" {
		if tags, err := c.gatewayTags(ctx, config.Relocate(config.DefaultGatewayImage, in.GatewayRegistry)); err == nil {
			in.GatewayTags = tags
		}
	}
	if err := checkHFToken(req.HFToken); err != nil {
		return InitResult{}, err
	}
	d, notes, err := deploy.NewDeployment(in)
	if err != nil {
		return InitResult{}, err
	}
	res := InitResult{Path: path, Config: d, Notes: notes}
	if req.PrintOnly {
		return res, nil
	}
	dirs, err := c.Dirs()
	if err != nil {
		return res, err
	}
	if err := c.SaveHFToken(req.HFToken); err != nil {
		return res, err
	}
	prepared, err := deploy.Prepare(d, dirs, cat)
	if err != nil {
		return res, err
	}
	if err := config.Save(path, d); err != nil {
		return res, app.Environment(err, "check that the config folder is writable", "cannot write %s: %v", path, err)
	}
	c.dropHealthEnv() // health checks read the new config from now on
	res.Warnings, res.NewKeys, res.LogDir = prepared.Warnings, prepared.NewKeys, prepared.LogDir
	return res, nil
}

// gatewayTags lists a gateway repository's tags: the registry's, or offline
// the ones a loaded bundle recorded.
func (c *Core) gatewayTags(ctx context.Context, repository string) ([]string, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return release.ListTags(ctx, repository)
	}
	return bundle.TagLister(dirs.Data)(ctx, repository)
}

// checkHFToken refuses what does not look like a Hugging Face token ("" passes: none given).
func checkHFToken(token string) error {
	if token = strings.TrimSpace(token); token == "" {
		return nil
	}
	if err := secrets.CheckHFToken(token); err != nil {
		return &app.Problem{Kind: app.KindBadInput, What: "Hugging Face token: " + err.Error(), Fix: "paste the token from https://huggingface.co/settings/tokens"}
	}
	return nil
}

// SaveHFToken stores the Hugging Face token (0600) in the secrets folder;
// "" leaves the stored one alone.
func (c *Core) SaveHFToken(token string) error {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil
	}
	if err := checkHFToken(token); err != nil {
		return err
	}
	dirs, err := c.Dirs()
	if err != nil {
		return err
	}
	target := filepath.Join(dirs.Secrets(), stack.SecretHFToken)
	if err := config.WriteFileAtomic(target, []byte(token+"\n"), 0o600); err != nil {
		return app.Environment(err, "check that the secrets folder is writable", "cannot write %s: %v", target, err)
	}
	return nil
}
