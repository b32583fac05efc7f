package actions

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/stack"
)

// GitLabInput gathers the snippet input from what the user gave, the
// deployment config (when there is one) and the last GitLab connection. A
// broken config is an error unless given alone suffices, then a note.
func (c *Core) GitLabInput(given gitlab.Given) (gitlab.Input, []string, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return gitlab.Input{}, nil, err
	}
	cat, err := c.Catalog()
	if err != nil {
		return gitlab.Input{}, nil, err
	}
	src := gitlab.Sources{Catalog: cat}
	var notes []string
	path, err := c.ConfigFile()
	if err != nil {
		return gitlab.Input{}, nil, err
	}
	dep, err := config.Load(path)
	switch {
	case err == nil:
		src.Deployment = &dep
	case errors.Is(err, os.ErrNotExist):
		if c.ConfigPath != "" {
			return gitlab.Input{}, nil, err
		}
	case given.Version != "" && given.Host != "":
		notes = append(notes, "warning: ignoring the deployment config: "+err.Error())
	default:
		return gitlab.Input{}, nil, err
	}
	conn, ok, err := gitlab.LoadConnection(dirs)
	if err != nil {
		return gitlab.Input{}, nil, err
	}
	if ok {
		src.Connection = &conn
	}
	in, more, err := gitlab.Resolve(given, src)
	if err != nil {
		var p *app.Problem
		if errors.As(err, &p) && src.Deployment == nil && (given.Version == "" || given.Host == "") && len(notes) == 0 {
			p.Fix += " (no deployment config found at " + path + ")"
		}
		return in, nil, err
	}
	return in, append(notes, more...), nil
}

// GitLabClient builds a client from the recorded connection (or the
// config's URL) and the stored token.
func (c *Core) GitLabClient(in gitlab.Input) (*gitlab.Client, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return nil, err
	}
	if in.GitLab == nil {
		return nil, &app.Problem{Kind: app.KindBadInput, What: "no GitLab URL known", Remedy: app.RemedyGitLabConnect}
	}
	token, err := gitlab.LoadToken(dirs)
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, &app.Problem{Kind: app.KindBadInput, What: "no GitLab token stored", Remedy: app.RemedyGitLabConnect}
	}
	return &gitlab.Client{URL: *in.GitLab, Token: token}, nil
}

// ReadGitLabVersion asks the GitLab instance at rawURL for its version
// (with the stored token, when there is one).
func (c *Core) ReadGitLabVersion(ctx context.Context, rawURL string) (string, error) {
	u, err := gitlab.ParseURL(rawURL)
	if err != nil {
		return "", err
	}
	dirs, err := c.Dirs()
	if err != nil {
		return "", err
	}
	token, err := gitlab.LoadToken(dirs)
	if err != nil {
		return "", err
	}
	inst, err := (&gitlab.Client{URL: u, Token: token}).Version(ctx)
	if err != nil {
		return "", err
	}
	return inst.Version, nil
}

// ConnectGitLab reads GitLab's version and checks the token; only when that
// works does it store a new token (0600) and record the connection, and the
// deployment config follows the instance's URL and version ('duobox gitlab
// connect', GitLab → Connect). rawURL "" is the config's or the last
// connection's; token "" is the stored one.
func (c *Core) ConnectGitLab(ctx context.Context, rawURL, token string) (gitlab.ConnectResult, error) {
	dirs, err := c.Dirs()
	if err != nil {
		return gitlab.ConnectResult{}, err
	}
	path, err := c.ConfigFile()
	if err != nil {
		return gitlab.ConnectResult{}, err
	}
	rawURL = strings.TrimSpace(rawURL)
	if dep, err := config.Load(path); rawURL == "" && err == nil {
		rawURL = dep.GitLab.URL
	}
	if rawURL == "" {
		if conn, ok, _ := gitlab.LoadConnection(dirs); ok {
			rawURL = conn.URL
		}
	}
	if rawURL == "" {
		return gitlab.ConnectResult{}, &app.Problem{Kind: app.KindBadInput, What: "no GitLab URL", Remedy: app.RemedyGitLabURL}
	}
	u, err := gitlab.ParseURL(rawURL)
	if err != nil {
		return gitlab.ConnectResult{}, err
	}
	token = strings.TrimSpace(token)
	newToken := token != ""
	if !newToken {
		if token, err = gitlab.LoadToken(dirs); err != nil {
			return gitlab.ConnectResult{}, err
		}
	}
	if token == "" {
		return gitlab.ConnectResult{}, &app.Problem{Kind: app.KindBadInput, What: "no GitLab token stored yet", Remedy: app.RemedyGitLabConnect}
	}
	c.ConfigChanged()
	return gitlab.Connect(ctx, dirs, u, token, newToken, path)
}

// PlanGitLab reads GitLab's version, builds the settings for it, checks the
// stored token and reads what GitLab has now: the changes Apply would make.
func (c *Core) PlanGitLab(ctx context.Context, given gitlab.Given) (*gitlab.Plan, *gitlab.Client, error) {
	given.VersionFromGitLab = true // apply builds for the version GitLab reports
	in, _, err := c.GitLabInput(given)
	if err != nil {
		return nil, nil, err
	}
	cl, err := c.GitLabClient(in)
	if err != nil {
		return nil, nil, err
	}
	plan, err := gitlab.PlanApply(ctx, cl, in)
	if err != nil {
		return nil, nil, err
	}
	return plan, cl, nil
}

// ApplyResult is what GitLab → Apply did.
type ApplyResult struct {
	Plan    *gitlab.Plan `json:"plan"`
	Applied int          `json:"applied"`
}

// ApplyGitLab plans and sends the changes (the plan's mutations, in order,
// stopping at the first failure).
func (c *Core) ApplyGitLab(ctx context.Context, given gitlab.Given) (ApplyResult, error) {
	plan, cl, err := c.PlanGitLab(ctx, given)
	if err != nil {
		return ApplyResult{}, err
	}
	res := ApplyResult{Plan: plan}
	if len(plan.Changes) == 0 {
		return res, nil
	}
	res.Applied, err = plan.Apply(ctx, cl)
	return res, err
}

// Snippet builds the GitLab-side configuration in format f ("" = what the
// version needs), with notes on what was assumed.
func (c *Core) Snippet(_ context.Context, given gitlab.Given, f gitlab.Format) (*gitlab.Snippet, []string, error) {
	in, notes, err := c.GitLabInput(given)
	if err != nil {
		return nil, nil, err
	}
	sn, err := gitlab.Build(in, f)
	return sn, notes, err
}

// Export renders the deployment for another tool (stack.Formats: compose,
// docker-run, helm). Secrets are referenced unless opts.IncludeSecrets.
func (c *Core) Export(format string, opts stack.ExportOptions) ([]stack.File, error) {
	_, _, _, prepared, err := c.prepare(deploy.PrepareReadOnly)
	if err != nil {
		return nil, err
	}
	return stack.Export(prepared.Spec, format, opts)
}

// WriteExport writes exported files into dir (scripts executable; owner
// only when they hold secrets) and returns their paths.
func WriteExport(dir string, files []stack.File, secrets bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, app.Environment(err, "choose a folder you can write to", "cannot create %s: %v", dir, err)
	}
	var out []string
	for _, f := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(f.Name, ".sh") {
			mode = 0o755
		}
		if secrets {
			mode &= 0o700
		}
		target := dir + string(os.PathSeparator) + f.Name
		if err := config.WriteFileAtomic(target, []byte(f.Content), mode); err != nil {
			return out, app.Environment(err, "choose a folder you can write to", "cannot write %s: %v", target, err)
		}
		out = append(out, target)
	}
	return out, nil
}
