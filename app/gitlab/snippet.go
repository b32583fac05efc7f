package gitlab

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/version"
)

// Format is a way to hand the GitLab-side configuration to an administrator.
type Format string

// Formats, in the order the help lists them.
const (
	FormatEnv     Format = "env"       // KEY=value lines for the GitLab environment
	FormatRB      Format = "gitlab-rb" // gitlab_rails['env'] for /etc/gitlab/gitlab.rb
	FormatDocker  Format = "docker"    // -e GITLAB_OMNIBUS_CONFIG for a GitLab container
	FormatHelm    Format = "helm"      // values for the GitLab Helm chart
	FormatAdminUI Format = "admin-ui"  // fields to type into Admin → GitLab Duo (17.9+)
	FormatGraphQL Format = "graphql"   // curl commands with the GraphQL mutations (17.9+)
)

// Formats lists every format.
var Formats = []Format{FormatEnv, FormatRB, FormatDocker, FormatHelm, FormatAdminUI, FormatGraphQL}

// ParseFormat reads a --format value; "" means the version's default.
func ParseFormat(s string) (Format, error) {
	for _, f := range Formats {
		if strings.EqualFold(strings.TrimSpace(s), string(f)) {
			return f, nil
		}
	}
	names := make([]string, len(Formats))
	for i, f := range Formats {
		names[i] = string(f)
	}
	return "", app.BadInput("use one of: "+strings.Join(names, ", "), "unknown format %q", s)
}

// Input is everything a snippet is built from. Only Version and Host are required.
type Input struct {
	Version     version.GitLab
	Host        string // the address GitLab uses to reach the gateway
	StackName   string // names the model containers in endpoints; default "duobox"
	GatewayPort int    // default 5052
	AgentPort   int    // default 50052
	GitLab      *URL   // GitLab's URL, when known: gateway-side values and the GraphQL endpoint
	Models      []config.Model
	Catalog     catalog.Catalog
	// Token is the GitLab personal access token; it appears only when IncludeSecrets is set.
	Token          string
	IncludeSecrets bool
	TokenFile      string // where DuoBox keeps the token, for the hint shown instead of it
}

// EnvVar is one environment variable with why it is there.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Setting is one Admin UI field.
type Setting struct {
	Field string `json:"field"`
	Value string `json:"value"`
	Note  string `json:"note,omitempty"`
}

// Snippet is the GitLab-side configuration for one version, format-neutral.
type Snippet struct {
	GitLabVersion    string       `json:"gitlab_version"`
	Format           Format       `json:"format"`
	DefaultFormat    Format       `json:"default_format"`
	GatewayURL       string       `json:"gateway_url"`
	AgentPlatformURL string       `json:"agent_platform_url,omitempty"`
	GitLabEnv        []EnvVar     `json:"gitlab_env"`
	AdminSettings    []Setting    `json:"admin_settings,omitempty"`
	Models           []ModelEntry `json:"models"`
	Assignments      []Assignment `json:"assignments"`
	GatewaySide      []EnvVar     `json:"gateway_side"`
	Steps            []string     `json:"steps,omitempty"`
	Notes            []string     `json:"notes"`

	rules          Rules
	graphqlURL     string
	token          string
	tokenHint      string
	noDeployment   bool
	includeSecrets bool
}

// Build works out the GitLab-side configuration. format "" picks the version's default.
func Build(in Input, format Format) (*Snippet, error) {
	r, err := RulesFor(in.Version)
	if err != nil {
		return nil, err
	}
	if format == "" {
		format = r.DefaultFormat()
	}
	if (format == FormatAdminUI || format == FormatGraphQL) && !r.AdminUI {
		return nil, app.BadInput("use --format env, gitlab-rb, docker or helm for this version (or upgrade GitLab to 17.9+)",
			"GitLab %s has no %s way to set the gateway URL: the Admin UI setting and the duoSettingsUpdate mutation arrived in 17.9", in.Version.MinorString(), format)
	}
	if err := CheckHostSyntax(in.Host); err != nil {
		return nil, err
	}
	if in.GatewayPort == 0 {
		in.GatewayPort = config.DefaultGatewayPort
	}
	if in.AgentPort == 0 {
		in.AgentPort = config.DefaultAgentPort
	}
	host := config.HostForURL(normalizeHost(in.Host))
	s := &Snippet{
		GitLabVersion: in.Version.String(),
		Format:        format,
		DefaultFormat: r.DefaultFormat(),
		GatewayURL:    "http://" + host + ":" + strconv.Itoa(in.GatewayPort),
		rules:         r,
		noDeployment:  len(in.Models) == 0,
	}
	s.GitLabEnv = append(s.GitLabEnv, EnvVar{"AI_GATEWAY_URL", s.GatewayURL})
	if r.SelfSignTokens {
		s.GitLabEnv = append(s.GitLabEnv, EnvVar{"CLOUD_CONNECTOR_SELF_SIGN_TOKENS", "1"})
	}
	if r.AgentPlatform {
		s.AgentPlatformURL = net.JoinHostPort(strings.Trim(host, "[]"), strconv.Itoa(in.AgentPort))
		if r.TLSByEnv() {
			s.GitLabEnv = append(s.GitLabEnv, EnvVar{r.AgentPlatformTLS.Env, r.AgentPlatformTLS.Value})
		}
	}
	if r.AdminUI {
		s.AdminSettings = append(s.AdminSettings, Setting{Field: "Local AI Gateway URL", Value: s.GatewayURL})
		if r.AgentPlatform {
			s.AdminSettings = append(s.AdminSettings, Setting{Field: "Local URL for the GitLab Duo Agent Platform service", Value: s.AgentPlatformURL,
				Note: "host:port without http:// or https://"})
		}
		if r.TLSBySetting() && r.AgentPlatformTLS.AdminUI != "" {
			s.AdminSettings = append(s.AdminSettings, Setting{Field: r.AgentPlatformTLS.AdminUI, Value: "cleared (off)",
				Note: "checkbox; DuoBox serves the Agent Platform without TLS"})
		}
		if r.Timeout {
			s.AdminSettings = append(s.AdminSettings, Setting{Field: "AI Gateway request timeout", Value: "60",
				Note: "seconds, 60–600; raise it if Duo Chat answers with error A1000"})
		}
	}
	if in.StackName == "" {
		in.StackName = config.DefaultName
	}
	s.Models, s.Assignments = modelEntries(r, in.StackName, in.Models, in.Catalog)
	if in.GitLab != nil {
		s.GatewaySide = []EnvVar{{"AIGW_GITLAB_URL", in.GitLab.Base}, {"AIGW_GITLAB_API_URL", in.GitLab.API()}}
		s.graphqlURL = in.GitLab.Base + "/api/graphql"
	}
	s.includeSecrets = in.IncludeSecrets
	switch {
	case in.IncludeSecrets && in.Token != "":
		s.token = in.Token
	case in.TokenFile != "":
		s.tokenHint = "export GITLAB_TOKEN=\"$(cat '" + strings.ReplaceAll(in.TokenFile, "'", `'\''`) + "')\"   # or: duobox env --include-secrets"
	default:
		s.tokenHint = "export GITLAB_TOKEN=<personal access token of an administrator, scope api>"
	}
	s.Steps, s.Notes = stepsAndNotes(r, format)
	return s, nil
}

// stepsAndNotes lists the manual steps around the settings and what is legacy or diagnostic-only.
func stepsAndNotes(r Rules, f Format) (steps, notes []string) {
	envFormat := f == FormatEnv || f == FormatRB || f == FormatDocker || f == FormatHelm
	if r.FeatureFlag {
		steps = append(steps, "sudo gitlab-rails runner 'Feature.enable(:ai_custom_model)'   # self-hosted models are behind this flag before 17.6")
	}
	if r.DuoFeatureFlagsRake {
		steps = append(steps, "sudo gitlab-rake gitlab:duo:enable_feature_flags")
	}
	if r.SelfSignTokens {
		notes = append(notes, "CLOUD_CONNECTOR_SELF_SIGN_TOKENS=1 is what the 17.x setup guide sets; GitLab's troubleshooting docs call it diagnostic-only (do not use in production), and from 17.9 it is not needed.")
	} else {
		notes = append(notes, "CLOUD_CONNECTOR_SELF_SIGN_TOKENS is not needed from 17.9 and is diagnostic-only: do not set it in production.")
	}
	if r.AdminUI && envFormat {
		notes = append(notes, "From 17.9 the environment variable AI_GATEWAY_URL is legacy: GitLab still reads it, but recommends the Admin UI setting (duobox env --format admin-ui) or the duoSettingsUpdate mutation (--format graphql).")
	}
	switch {
	case r.TLSByEnv():
		notes = append(notes, r.AgentPlatformTLS.Env+"=false because DuoBox serves the Agent Platform (port 50052) without TLS; it is an environment variable on GitLab (gitlab_rails['env'], or /etc/default/gitlab for source installs) before GitLab "+gitlabversions.FirstTLSSetting()+".")
		if envFormat {
			notes = append(notes, "The Agent Platform service URL has no environment variable: enter it in the Admin UI (duobox env --format admin-ui) or apply it with --format graphql.")
		}
	case r.TLSBySetting():
		notes = append(notes, fmt.Sprintf("From GitLab %s, TLS for the Agent Platform is a GitLab setting, not an environment variable: clear the Admin UI checkbox %q (Admin → GitLab Duo → Change configuration) or send duoSettingsUpdate(%s: false) ('duobox gitlab apply' or --format graphql do it). DUO_AGENT_PLATFORM_SERVICE_SECURE is read only once, by the upgrade to that release, and ignored afterwards.",
			gitlabversions.FirstTLSSetting(), r.AgentPlatformTLS.AdminUI, r.AgentPlatformTLS.GraphQL))
		if envFormat {
			notes = append(notes, "The Agent Platform service URL and its TLS checkbox have no environment variable: set them in the Admin UI (duobox env --format admin-ui) or apply them with --format graphql.")
		}
	}
	notes = append(notes, r.Unconfirmed...)
	notes = append(notes, "GitLab may block requests to private addresses: if it does, add the gateway's host to Admin → Settings → Network → Outbound requests → allowlist.")
	return steps, notes
}
