package upgrade

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/version"
)

// Lister reads the tags and digests of a repository; nil fields mean the
// registry itself (release.ListTags, release.Digests).
type Lister struct {
	Tags    func(ctx context.Context, repository string) ([]string, error)
	Digests func(ctx context.Context, repository string, tags []string) map[string]string
}

func (l Lister) tags(ctx context.Context, repo string) ([]string, error) {
	if l.Tags != nil {
		return l.Tags(ctx, repo)
	}
	return release.ListTags(ctx, repo)
}

func (l Lister) digests(ctx context.Context, repo string, tags []string) map[string]string {
	if l.Digests != nil {
		return l.Digests(ctx, repo, tags)
	}
	return release.Digests(ctx, repo, tags)
}

// CheckInput is what 'upgrade --check' asks about.
type CheckInput struct {
	Config        config.Deployment
	Role          string
	GitLabVersion string   // overrides the config's gitlab.version
	Tags          []string // tags read from a file (--tags-from); nil = ask the registry
	FIPS          bool     // offer FIPS builds instead of the standard ones
	Lister        Lister
}

// CheckReport is what is available for one image. Current, Available and
// Recommended are tags; Recommended is null when no tag fits.
type CheckReport struct {
	Role          string            `json:"role"`
	Repository    string            `json:"repository"`
	GitLabVersion string            `json:"gitlab_version,omitempty"`
	Current       string            `json:"current"`
	Available     []string          `json:"available"`
	Recommended   *string           `json:"recommended"`
	UpToDate      bool              `json:"up_to_date"`
	Digests       map[string]string `json:"digests,omitempty"` // tag → manifest digest, when the registry answered
	Source        string            `json:"source"`            // registry, file
	Warnings      []string          `json:"warnings,omitempty"`
}

// Check lists what the registry (or the tags file) offers for the role's
// image and what DuoBox recommends: for the gateway, by GitLab's tag rule;
// for the model server, the newest release at or above the pinned one.
func Check(ctx context.Context, in CheckInput) (CheckReport, error) {
	cfg := in.Config.WithDefaults()
	img := ImageOf(cfg, in.Role)
	rep := CheckReport{Role: in.Role, Repository: img.Repository, Current: img.Tag, Source: "file", Available: []string{}}
	if in.Role != stack.RoleGateway && in.Role != stack.RoleModel {
		return rep, app.BadInput("say 'gateway' or 'model'", "cannot check %q", in.Role)
	}
	tags := in.Tags
	if tags == nil {
		var err error
		if tags, err = in.Lister.tags(ctx, img.Repository); err != nil {
			return rep, unreachable(err, img.Repository)
		}
		rep.Source = "registry"
	}
	ch, err := choice(cfg, in.Role, in.GitLabVersion, img.Tag, tags, in.FIPS, &rep.GitLabVersion)
	if err != nil {
		return rep, err
	}
	rep.Available = append(rep.Available, ch.Available...)
	rep.Warnings = ch.Warnings
	if ch.Recommended != "" {
		rep.Recommended = &ch.Recommended
		rep.UpToDate = ch.Recommended == img.Tag
	}
	if rep.Source == "registry" {
		want := append([]string{img.Tag}, rep.Available...)
		rep.Digests = in.Lister.digests(ctx, img.Repository, want)
	}
	return rep, nil
}

func choice(cfg config.Deployment, role, gitlabVersion, current string, tags []string, fips bool, usedVersion *string) (release.Choice, error) {
	if role == stack.RoleModel {
		return release.ModelServerChoice(current, tags), nil
	}
	v, err := gitlabOf(cfg, gitlabVersion)
	if err != nil {
		return release.Choice{}, err
	}
	*usedVersion = v.String()
	return release.GatewayChoice(v, current, tags, fips)
}

func gitlabOf(cfg config.Deployment, override string) (version.GitLab, error) {
	s := cfg.GitLab.Version
	if override != "" {
		s = override
	}
	v, err := version.Parse(s)
	if err != nil {
		return v, app.BadInput("give it as X.Y or X.Y.Z, for example --gitlab-version 18.5", "GitLab version %q: %v", s, err)
	}
	return v, nil
}

func unreachable(err error, repo string) error {
	return app.Environment(err, "check the network (and 'docker login' for a private registry); offline, pass --tags-from FILE (one tag per line), or upgrade from a 'docker save' archive with --archive FILE",
		"cannot list the tags of %s: %v", repo, err)
}

// TargetInput is what 'duobox upgrade' was asked for.
type TargetInput struct {
	Config        config.Deployment
	Role          string
	To            string // "" = the recommended tag
	GitLabVersion string
	Tags          []string // from --tags-from; nil = the registry (or the archive)
	Source        Source
	Archive       string
	Force         bool
	FIPS          bool
	Lister        Lister
}

// ErrUpToDate says the recommended tag is the one running.
var ErrUpToDate = errors.New("already up to date")

// Target resolves and checks the tag to upgrade to: the recommendation when
// none is named, else the named tag, refused when it does not exist or breaks
// the tag rule (unless Force). Warnings are for the user.
func Target(ctx context.Context, in TargetInput) (img config.Image, warnings []string, err error) {
	cfg := in.Config.WithDefaults()
	cur := ImageOf(cfg, in.Role)
	if in.Role != stack.RoleGateway && in.Role != stack.RoleModel {
		return img, nil, app.BadInput("say 'gateway' or 'model'", "cannot upgrade %q", in.Role)
	}
	img = config.Image{Repository: cur.Repository}
	tags := in.Tags
	switch {
	case tags != nil:
	case in.Source == SourceArchive:
		if tags, err = ArchiveTags(in.Archive, cur.Repository); err != nil {
			return img, nil, err
		}
	case in.Source == SourceLocal:
		// tags unknown: the image must be in the engine, which the upgrade checks
	default:
		if tags, err = in.Lister.tags(ctx, cur.Repository); err != nil {
			return img, nil, unreachable(err, cur.Repository)
		}
	}
	var used string
	if in.To == "" {
		if tags == nil {
			return img, nil, app.BadInput("name the tag with --to", "without a registry or a tags file DuoBox cannot choose a tag")
		}
		ch, err := choice(cfg, in.Role, in.GitLabVersion, cur.Tag, tags, in.FIPS, &used)
		if err != nil {
			return img, nil, err
		}
		if ch.Recommended == "" {
			return img, ch.Warnings, app.BadInput("check gitlab.version in the config; if GitLab was released days ago, the image may not be out yet — or name a tag with --to",
				"no %s tag fits (listed %d tags)", in.Role, len(tags))
		}
		if ch.Recommended == cur.Tag {
			return img, ch.Warnings, ErrUpToDate
		}
		img.Tag = ch.Recommended
		return img, ch.Warnings, nil
	}
	img.Tag = in.To
	if in.Role == stack.RoleModel {
		warnings, err = release.CheckModelServerTarget(in.To, tags, in.Force)
		return img, warnings, err
	}
	v, err := gitlabOf(cfg, in.GitLabVersion)
	if err != nil {
		return img, nil, err
	}
	warnings, err = release.CheckGatewayTarget(v, in.To, tags, in.Force)
	return img, warnings, err
}

// ArchiveTags lists the tags a 'docker save' archive holds for repository
// (from its manifest.json).
func ArchiveTags(path, repository string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, app.BadInput("give the file 'docker save -o FILE IMAGE:TAG' wrote", "cannot open the image archive: %v", err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, app.BadInput("make it with 'docker save -o FILE IMAGE:TAG'", "%s is not a 'docker save' archive (no manifest.json)", path)
		}
		if err != nil {
			return nil, app.BadInput("make it with 'docker save -o FILE IMAGE:TAG'", "%s is not a readable tar archive: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var manifest []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
			return nil, app.BadInput("make it with 'docker save -o FILE IMAGE:TAG'", "the manifest.json in %s does not parse: %v", path, err)
		}
		tags := []string{}
		for _, m := range manifest {
			for _, rt := range m.RepoTags {
				i := strings.LastIndex(rt, ":")
				if i > 0 && sameRepository(rt[:i], repository) {
					tags = append(tags, rt[i+1:])
				}
			}
		}
		if len(tags) == 0 {
			return nil, app.BadInput(fmt.Sprintf("save the image under its repository name (docker save -o FILE %s:TAG)", repository),
				"the archive %s holds no tag of %s", path, repository)
		}
		return tags, nil
	}
}

func sameRepository(a, b string) bool {
	norm := func(s string) string { return strings.TrimPrefix(strings.TrimPrefix(s, "docker.io/"), "library/") }
	return norm(a) == norm(b)
}

// loadArchive loads a 'docker save' tarball into the engine.
func (u *Upgrader) loadArchive(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return app.BadInput("give the file 'docker save -o FILE IMAGE:TAG' wrote", "cannot open the image archive: %v", err)
	}
	defer f.Close()
	if err := u.Engine.LoadImageArchive(ctx, f); err != nil {
		return app.BadInput("check the file (a complete 'docker save' archive)", "the engine refused the archive %s: %v", path, err)
	}
	return nil
}
