// Package gitlab knows the GitLab side of a Duo Self-Hosted deployment: what
// each GitLab version expects (environment variables before 17.9, the Admin UI
// or GraphQL from 17.9, the Agent Platform address from 18.4), the snippet an
// administrator pastes in each format, the checks on the host address GitLab
// uses to reach the gateway, and an optional API client that reads GitLab's
// version and applies the settings after showing exactly what changes.
package gitlab

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/version"
)

// Rules is what one GitLab minor release expects, read from DuoBox's GitLab
// version table (bundles/gitlab-versions.yaml, app/gitlabversions).
type Rules struct {
	Version version.GitLab
	// AdminUI: the gateway URL lives in Admin → GitLab Duo ("Local AI Gateway URL")
	// or the duoSettingsUpdate mutation; AI_GATEWAY_URL is legacy (17.9+).
	AdminUI bool
	// SelfSignTokens: the documented setup sets CLOUD_CONNECTOR_SELF_SIGN_TOKENS=1
	// (before 17.9). From 17.9 it is not needed and only a diagnostic.
	SelfSignTokens bool
	// FeatureFlag: the ai_custom_model flag must be enabled by hand (17.1–17.5;
	// on by default on Self-Managed from 17.6, removed in 17.8).
	FeatureFlag bool
	// DuoFeatureFlagsRake: 17.3–17.4 docs add 'gitlab-rake gitlab:duo:enable_feature_flags'.
	DuoFeatureFlagsRake bool
	// AgentPlatform: the "Local URL for the GitLab Duo Agent Platform service"
	// (host:50052, no scheme), 18.4+.
	AgentPlatform bool
	// AgentPlatformTLS is how GitLab is told the Agent Platform service has no
	// TLS: the environment variable DUO_AGENT_PLATFORM_SERVICE_SECURE (18.4–18.9),
	// or the setting self_hosted_duo_agent_platform_service_secure, set through
	// duoSettingsUpdate or the Admin UI checkbox (18.10+). Zero when AgentPlatform is false.
	AgentPlatformTLS gitlabversions.Setting
	// GeneralFamily: the "general" model family for any OpenAI-compatible model (18.3+).
	GeneralFamily bool
	// Timeout: the "AI Gateway request timeout" field (18.7+).
	Timeout bool
	// Unconfirmed: facts of this version DuoBox relies on without a primary source.
	Unconfirmed []string
}

// RulesFor returns the rules for v, which must name a minor release that the
// version table knows.
func RulesFor(v version.GitLab) (Rules, error) {
	rel, err := gitlabversions.For(v)
	if err != nil {
		return Rules{}, err
	}
	tls, _ := rel.Setting(gitlabversions.SettingAgentPlatformTLS)
	return Rules{
		Version:             v,
		AdminUI:             rel.SetInAdminUI(),
		SelfSignTokens:      rel.Has(gitlabversions.SettingSelfSignTokens),
		FeatureFlag:         rel.Has(gitlabversions.SettingFeatureFlag),
		DuoFeatureFlagsRake: rel.Has(gitlabversions.SettingDuoFeatureFlagsRake),
		AgentPlatform:       rel.Has(gitlabversions.SettingAgentPlatformURL),
		AgentPlatformTLS:    tls,
		GeneralFamily:       rel.GitLab.GeneralFamily.Value,
		Timeout:             rel.Has(gitlabversions.SettingGatewayTimeout),
		Unconfirmed:         rel.Unconfirmed(),
	}, nil
}

// TLSByEnv reports whether the Agent Platform TLS switch is GitLab's environment variable (18.4–18.9).
func (r Rules) TLSByEnv() bool { return r.AgentPlatformTLS.Env != "" }

// TLSBySetting reports whether it is the instance setting, set through the API or the Admin UI (18.10+).
func (r Rules) TLSBySetting() bool { return r.AgentPlatformTLS.GraphQL != "" }

// DefaultFormat is the format the version needs: env before 17.9, admin-ui from 17.9.
func (r Rules) DefaultFormat() Format {
	if r.AdminUI {
		return FormatAdminUI
	}
	return FormatEnv
}

// ParseVersion reads a GitLab version as users write it ("17.9", "v17.2.1-ee",
// "17.2.1-ee") and insists on a minor release, since the settings change
// between minor releases.
func ParseVersion(s string) (version.GitLab, error) {
	v, err := version.Parse(s)
	if err != nil {
		return version.GitLab{}, app.BadInput("give the version shown under Help → About GitLab, or run 'duobox gitlab connect' to read it", "%v", err)
	}
	if !v.HasMinor() {
		return version.GitLab{}, needMinor(v)
	}
	if err := gitlabversions.Check(v); err != nil {
		return version.GitLab{}, err
	}
	return v, nil
}

func needMinor(v version.GitLab) error {
	return app.BadInput(fmt.Sprintf("give X.Y at least, for example %d.9 (Help → About GitLab shows it, or run 'duobox gitlab connect')", v.Major),
		"GitLab version %q names only a major release: what GitLab expects changes between minor releases (17.9 moved the gateway URL to the Admin UI, 18.4 added the Agent Platform address)", v.String())
}

// URL is a GitLab base URL, normalized.
type URL struct {
	Base         string // scheme://host[:port][/relative-root], no trailing slash
	Host         string // host name or IP, without brackets
	RelativeRoot string // "" or "/gitlab" …
}

// API is the REST API root with its trailing slash, as AIGW_GITLAB_API_URL wants it.
func (u URL) API() string { return u.Base + "/api/v4/" }

// ParseURL accepts what people paste: surrounding spaces, trailing slashes, an
// IP literal, an IPv6 address with or without brackets. A URL without scheme
// is refused with the fix spelled out, since http and https cannot be guessed.
func ParseURL(raw string) (URL, error) {
	fixed := bracketBareIPv6(strings.TrimSpace(raw))
	base, err := config.NormalizeGitLabURL(fixed)
	if err != nil {
		return URL{}, app.BadInput("give GitLab's base URL as people open it, for example https://gitlab.example.com", "GitLab URL: %v", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return URL{}, app.BadInput("give GitLab's base URL, for example https://gitlab.example.com", "GitLab URL %q: %v", raw, err)
	}
	return URL{Base: base, Host: u.Hostname(), RelativeRoot: u.Path}, nil
}

// bracketBareIPv6 turns "https://2001:db8::1/x" into "https://[2001:db8::1]/x".
// A bare IPv6 address cannot carry a port, so everything up to the path is the address.
func bracketBareIPv6(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || strings.HasPrefix(rest, "[") {
		return raw
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	if strings.Count(hostPart, ":") < 2 {
		return raw
	}
	if ip := net.ParseIP(hostPart); ip == nil || ip.To4() != nil {
		return raw
	}
	if path != "" || strings.HasSuffix(rest, "/") {
		path = "/" + path
	}
	return scheme + "://[" + hostPart + "]" + path
}
