// Package gitlabversions holds DuoBox's table of everything that depends on
// the GitLab version (bundles/gitlab-versions.yaml): the gateway tag rule, the
// gateway image's working directory, docs index path, ports and services, and
// the GitLab-side settings with how each is set (environment variable, Admin UI
// control, GraphQL argument), each fact with its source. Every other package
// asks this one; none compares GitLab versions by hand. A version outside the
// table is bad input that names the versions known.
package gitlabversions

import (
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

// Gateway tag rules.
const (
	TagLegacy     = "gitlab-vX.Y.0"         // one tag per minor release (17.1–17.3)
	TagSelfHosted = "self-hosted-vX.Y.Z-ee" // newest patch Z of the minor release (17.4+)
)

// How a release's gateway gets its docs index.
const (
	DocsBuiltIn  = "built-in" // the image carries it (self-hosted-v17.4.0-ee on)
	DocsSeparate = "separate" // built with GitLab's create_index.py and mounted (17.2–17.3)
	DocsNone     = "none"     // no docs index is documented
)

// GitLab-side setting IDs.
const (
	SettingGatewayURL          = "gateway_url"
	SettingSelfSignTokens      = "self_sign_tokens"
	SettingFeatureFlag         = "feature_flag"
	SettingDuoFeatureFlagsRake = "duo_feature_flags_rake"
	SettingAgentPlatformURL    = "agent_platform_url"
	SettingAgentPlatformTLS    = "agent_platform_tls"
	SettingGatewayTimeout      = "gateway_timeout"
)

var settingIDs = []string{SettingGatewayURL, SettingSelfSignTokens, SettingFeatureFlag, SettingDuoFeatureFlagsRake,
	SettingAgentPlatformURL, SettingAgentPlatformTLS, SettingGatewayTimeout}

// Source is where a fact comes from; Confirmed is false for an inference.
type Source struct {
	ID        string `yaml:"-"`
	Cite      string `yaml:"cite"`
	Confirmed bool   `yaml:"confirmed"`
}

// Setting is one thing an administrator sets on GitLab, and how.
type Setting struct {
	ID      string `yaml:"id"`
	Env     string `yaml:"env"`      // environment variable on the Rails nodes
	AdminUI string `yaml:"admin_ui"` // field or checkbox in Admin → GitLab Duo
	GraphQL string `yaml:"graphql"`  // duoSettingsUpdate argument
	Rails   string `yaml:"rails"`    // a command to run on GitLab
	Value   string `yaml:"value"`    // the value DuoBox sets ("" when computed, e.g. a URL)
	Source  string `yaml:"source"`
}

// Gateway is what the gateway image of a release is like.
type Gateway struct {
	Tag struct {
		Rule   string `yaml:"rule"`
		Source string `yaml:"source"`
	} `yaml:"tag"`
	Workdir struct {
		Path   string `yaml:"path"`
		Source string `yaml:"source"`
	} `yaml:"workdir"`
	DocsIndex struct {
		Path     string `yaml:"path"`     // relative to Workdir
		Provided string `yaml:"provided"` // DocsBuiltIn, DocsSeparate or DocsNone
		Source   string `yaml:"source"`
	} `yaml:"docs_index"`
	JWTKeys struct {
		Value  bool   `yaml:"value"`
		Source string `yaml:"source"`
	} `yaml:"jwt_keys"`
	Ports struct {
		HTTP          int    `yaml:"http"`
		AgentPlatform int    `yaml:"agent_platform"`
		Source        string `yaml:"source"`
	} `yaml:"ports"`
	Services struct {
		Names  []string `yaml:"names"`
		Source string   `yaml:"source"`
	} `yaml:"services"`
}

// GitLabSide is what GitLab of a release expects.
type GitLabSide struct {
	GeneralFamily struct {
		Value  bool   `yaml:"value"`
		Source string `yaml:"source"`
	} `yaml:"general_family"`
	Settings []Setting `yaml:"settings"`
}

// Release is one row: a range of GitLab minor releases and their facts.
type Release struct {
	Versions string        `yaml:"versions"`
	Range    version.Range `yaml:"-"`
	Gateway  Gateway       `yaml:"gateway"`
	GitLab   GitLabSide    `yaml:"gitlab"`

	sources map[string]Source
}

// Table is the whole version table.
type Table struct {
	Sources  map[string]Source `yaml:"sources"`
	Releases []Release         `yaml:"releases"`
}

// Parse reads and validates a version table.
func Parse(data []byte, name string) (*Table, error) {
	var t Table
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	for id, s := range t.Sources {
		s.ID = id
		t.Sources[id] = s
		if strings.TrimSpace(s.Cite) == "" {
			bad("source %s: cite is empty", id)
		}
	}
	if len(t.Releases) == 0 {
		bad("no releases")
	}
	used := map[string]bool{}
	src := func(where, id string) {
		used[id] = true
		if id == "" {
			bad("%s: no source", where)
		} else if _, ok := t.Sources[id]; !ok {
			bad("%s: unknown source %q", where, id)
		}
	}
	for i := range t.Releases {
		r := &t.Releases[i]
		r.sources = t.Sources
		where := fmt.Sprintf("release %d (%s)", i+1, r.Versions)
		rg, err := version.ParseRange(r.Versions)
		if err != nil {
			bad("%s: %v", where, err)
			continue
		}
		if rg.Open {
			bad("%s: the range must end (X.Y-X.Y): versions after the table are refused, not guessed", where)
		}
		r.Range = rg
		if i > 0 && !follows(t.Releases[i-1].Range, rg) {
			bad("%s: must start right after %s (no gap, no overlap)", where, t.Releases[i-1].Range)
		}
		g := r.Gateway
		if g.Tag.Rule != TagLegacy && g.Tag.Rule != TagSelfHosted {
			bad("%s: gateway.tag.rule %q must be %s or %s", where, g.Tag.Rule, TagLegacy, TagSelfHosted)
		}
		if !path.IsAbs(g.Workdir.Path) {
			bad("%s: gateway.workdir.path %q must be absolute", where, g.Workdir.Path)
		}
		if g.DocsIndex.Path == "" || path.IsAbs(g.DocsIndex.Path) {
			bad("%s: gateway.docs_index.path %q must be relative to the working directory", where, g.DocsIndex.Path)
		}
		if !slices.Contains([]string{DocsBuiltIn, DocsSeparate, DocsNone}, g.DocsIndex.Provided) {
			bad("%s: gateway.docs_index.provided %q must be %s, %s or %s", where, g.DocsIndex.Provided, DocsBuiltIn, DocsSeparate, DocsNone)
		}
		if g.Ports.HTTP <= 0 || g.Ports.AgentPlatform < 0 {
			bad("%s: gateway.ports need http > 0 and agent_platform >= 0", where)
		}
		if (g.Ports.AgentPlatform != 0) != slices.Contains(g.Services.Names, "duo-workflow-service") {
			bad("%s: agent_platform port and the duo-workflow-service service go together", where)
		}
		for _, f := range []struct{ name, id string }{{"tag", g.Tag.Source}, {"workdir", g.Workdir.Source},
			{"docs_index", g.DocsIndex.Source}, {"jwt_keys", g.JWTKeys.Source}, {"ports", g.Ports.Source},
			{"services", g.Services.Source}, {"general_family", r.GitLab.GeneralFamily.Source}} {
			src(where+": "+f.name, f.id)
		}
		seen := map[string]bool{}
		for _, s := range r.GitLab.Settings {
			w := where + ": setting " + s.ID
			if !slices.Contains(settingIDs, s.ID) {
				bad("%s: unknown id (known: %s)", w, strings.Join(settingIDs, ", "))
			}
			if seen[s.ID] {
				bad("%s: appears twice", w)
			}
			seen[s.ID] = true
			if s.Env == "" && s.AdminUI == "" && s.GraphQL == "" && s.Rails == "" {
				bad("%s: say how it is set (env, admin_ui, graphql or rails)", w)
			}
			src(w, s.Source)
		}
		if !seen[SettingGatewayURL] {
			bad("%s: no gateway_url setting", where)
		}
	}
	for id := range t.Sources {
		if !used[id] {
			bad("source %s is cited by no fact", id)
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("%s: %s", name, strings.Join(errs, "; "))
	}
	return &t, nil
}

// follows reports whether b starts at the minor release right after a ends
// (X.Y+1, or X+1.0 when a major release begins).
func follows(a, b version.Range) bool {
	if b.From.Major == a.To.Major {
		return b.From.Minor == a.To.Minor+1
	}
	return b.From.Major == a.To.Major+1 && b.From.Minor == 0
}

var bundled = sync.OnceValues(func() (*Table, error) {
	return Parse(bundles.GitLabVersionsFile(), "bundles/gitlab-versions.yaml")
})

// Bundled is the table shipped with DuoBox. It panics if the bundled file is
// broken, which the package's tests rule out.
func Bundled() *Table {
	t, err := bundled()
	if err != nil {
		panic(err)
	}
	return t
}

// For returns the bundled table's row for v.
func For(v version.GitLab) (Release, error) { return Bundled().For(v) }

// Check refuses a version the bundled table does not know.
func Check(v version.GitLab) error {
	_, err := For(v)
	return err
}

// Known says which versions the bundled table knows, e.g. "17.1–19.11".
func Known() string { return Bundled().Known() }

// Known says which versions the table knows.
func (t *Table) Known() string {
	return t.Releases[0].Range.From.MinorString() + "–" + t.Releases[len(t.Releases)-1].Range.To.MinorString()
}

// For returns the row holding v, which must name a minor release. A version
// outside the table is bad input.
func (t *Table) For(v version.GitLab) (Release, error) {
	if !v.HasMinor() {
		return Release{}, app.BadInput(fmt.Sprintf("give X.Y at least, for example %d.9 (Help → About GitLab shows it, or run 'duobox gitlab connect')", v.Major),
			"GitLab version %q names only a major release: what DuoBox runs and what GitLab expects change between minor releases (DuoBox knows GitLab %s)", v.String(), t.Known())
	}
	for _, r := range t.Releases {
		if r.Range.Contains(v) {
			return r, nil
		}
	}
	first := t.Releases[0].Range.From
	if v.Compare(first) < 0 {
		return Release{}, app.BadInput(fmt.Sprintf("give a GitLab version from %s to %s; GitLab before %s has no self-hosted models, so upgrade GitLab first", first.MinorString(), t.last().MinorString(), first.MinorString()),
			"GitLab %s is not in DuoBox's GitLab version table: it knows GitLab %s", v.MinorString(), t.Known())
	}
	return Release{}, app.BadInput(fmt.Sprintf("give a GitLab version from %s to %s, or use a DuoBox release that knows GitLab %s (its gateway image, ports and settings may differ)", first.MinorString(), t.last().MinorString(), v.MinorString()),
		"GitLab %s is not in DuoBox's GitLab version table: it knows GitLab %s", v.MinorString(), t.Known())
}

func (t *Table) last() version.GitLab { return t.Releases[len(t.Releases)-1].Range.To }

// First returns the first minor release whose row satisfies ok.
func (t *Table) First(ok func(Release) bool) (version.GitLab, bool) {
	for _, r := range t.Releases {
		if ok(r) {
			return version.GitLab{Major: r.Range.From.Major, Minor: r.Range.From.Minor, Patch: -1}, true
		}
	}
	return version.GitLab{}, false
}

// FirstWhere is the first release (X.Y) of the bundled table whose row satisfies ok.
func FirstWhere(ok func(Release) bool) string {
	v, found := Bundled().First(ok)
	if !found {
		return "?"
	}
	return v.MinorString()
}

// FirstTLSSetting is the first release where Agent Platform TLS is a GitLab setting (GraphQL), not an environment variable.
func FirstTLSSetting() string {
	return FirstWhere(func(r Release) bool { s, _ := r.Setting(SettingAgentPlatformTLS); return s.GraphQL != "" })
}

// Setting returns the release's setting id.
func (r Release) Setting(id string) (Setting, bool) {
	for _, s := range r.GitLab.Settings {
		if s.ID == id {
			return s, true
		}
	}
	return Setting{}, false
}

// Has reports whether GitLab of this release expects the setting id.
func (r Release) Has(id string) bool {
	_, ok := r.Setting(id)
	return ok
}

// SetInAdminUI reports whether the gateway URL lives in the Admin UI and the
// GraphQL API (17.9+) rather than only in the environment.
func (r Release) SetInAdminUI() bool {
	s, _ := r.Setting(SettingGatewayURL)
	return s.AdminUI != "" && s.GraphQL != ""
}

// HasAgentPlatform reports whether the gateway image runs the Duo Workflow
// Service (Agent Platform) and publishes its port.
func (r Release) HasAgentPlatform() bool { return r.Gateway.Ports.AgentPlatform != 0 }

// DocsIndexPath is the absolute path where the gateway opens its docs index.
func (r Release) DocsIndexPath() string {
	return path.Join(r.Gateway.Workdir.Path, r.Gateway.DocsIndex.Path)
}

// NeedsSeparateDocsIndex reports whether the gateway needs a docs index built
// apart from the image and mounted (17.2–17.3).
func (r Release) NeedsSeparateDocsIndex() bool { return r.Gateway.DocsIndex.Provided == DocsSeparate }

// SelfHostedTags reports whether the release's gateway images are tagged self-hosted-vX.Y.Z-ee.
func (r Release) SelfHostedTags() bool { return r.Gateway.Tag.Rule == TagSelfHosted }

// Source returns a source by id.
func (r Release) Source(id string) Source { return r.sources[id] }

// Unconfirmed lists, once per source, the facts of this release DuoBox relies
// on without a primary source, as sentences for the user.
func (r Release) Unconfirmed() []string {
	type fact struct{ what, src string }
	g := r.Gateway
	facts := []fact{{"the gateway image tag", g.Tag.Source}, {"the gateway's working directory", g.Workdir.Source},
		{"the docs index path", g.DocsIndex.Source}, {"the gateway keys", g.JWTKeys.Source}, {"the gateway ports", g.Ports.Source},
		{"the gateway's services", g.Services.Source}, {"the general model family", r.GitLab.GeneralFamily.Source}}
	for _, s := range r.GitLab.Settings {
		facts = append(facts, fact{settingLabel(s), s.Source})
	}
	var out []string
	byID := map[string][]string{}
	var order []string
	for _, f := range facts {
		if s, ok := r.sources[f.src]; ok && !s.Confirmed {
			if _, seen := byID[f.src]; !seen {
				order = append(order, f.src)
			}
			byID[f.src] = append(byID[f.src], f.what)
		}
	}
	for _, id := range order {
		out = append(out, fmt.Sprintf("Not confirmed for GitLab %s (%s): %s.", r.Range, strings.Join(byID[id], ", "), r.sources[id].Cite))
	}
	return out
}

func settingLabel(s Setting) string {
	switch {
	case s.AdminUI != "":
		return "\"" + s.AdminUI + "\""
	case s.Env != "":
		return s.Env
	case s.GraphQL != "":
		return s.GraphQL
	}
	return s.Rails
}
