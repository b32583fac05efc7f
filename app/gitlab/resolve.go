package gitlab

import (
	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
)

// Given is what a person passed on the command line or in the GUI; "" means not given.
type Given struct {
	Version   string
	Host      string
	GitLabURL string
	// VersionFromGitLab: the caller reads the version from GitLab itself
	// (apply) or needs none (check), so a missing version is no error.
	VersionFromGitLab bool
}

// Sources are what Resolve may fall back on; nil fields are absent.
type Sources struct {
	Deployment *config.Deployment // the deployment config, when one exists
	Connection *Connection        // what 'duobox gitlab connect' recorded
	Catalog    catalog.Catalog
}

// Resolve turns what was given into a snippet Input, taking each value from
// the flag first, then the deployment config, then the last connection, and
// says where each came from. Model entries come only from the deployment config.
func Resolve(g Given, src Sources) (in Input, notes []string, err error) {
	in.Catalog = src.Catalog
	dep := src.Deployment
	verStr, verFrom := g.Version, ""
	if verStr == "" && dep != nil && dep.GitLab.Version != "" {
		verStr, verFrom = dep.GitLab.Version, "the deployment config"
	}
	if verStr == "" && src.Connection != nil {
		verStr, verFrom = src.Connection.Version, "GitLab itself (last 'duobox gitlab connect')"
	}
	switch {
	case verStr == "" && g.VersionFromGitLab:
	case verStr == "":
		return in, nil, app.BadInput("pass --gitlab-version X.Y (Help → About GitLab shows it), or run 'duobox gitlab connect' to read it",
			"no GitLab version: the settings depend on it")
	default:
		if in.Version, err = ParseVersion(verStr); err != nil {
			return in, nil, err
		}
	}
	if verFrom != "" {
		notes = append(notes, "GitLab version "+in.Version.String()+" from "+verFrom)
	}
	in.Host = g.Host
	if in.Host == "" && dep != nil {
		in.Host = dep.Host
		notes = append(notes, "host address "+in.Host+" from the deployment config")
	}
	if in.Host == "" {
		return in, notes, app.BadInput("pass --host with the name or address GitLab reaches this machine by ('duobox detect' lists this machine's addresses)",
			"no host address for the gateway")
	}
	rawURL := g.GitLabURL
	if rawURL == "" && dep != nil {
		rawURL = dep.GitLab.URL
	}
	if rawURL == "" && src.Connection != nil {
		rawURL = src.Connection.URL
	}
	if rawURL != "" {
		u, err := ParseURL(rawURL)
		if err != nil {
			return in, notes, err
		}
		in.GitLab = &u
	}
	if dep != nil {
		d := dep.WithDefaults()
		in.Models, in.StackName = d.Models, d.Name
		in.GatewayPort, in.AgentPort = d.Gateway.Port, d.Gateway.AgentPort
	}
	return in, notes, nil
}
