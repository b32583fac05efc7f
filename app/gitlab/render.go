package gitlab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// familyLabels are the model family names GitLab's form shows.
var familyLabels = map[string]string{
	"codegemma": "CodeGemma", "codellama": "Code Llama", "codestral": "Codestral", "mistral": "Mistral",
	"mixtral": "Mixtral", "deepseekcoder": "DeepSeek Coder", "llama3": "Llama 3", "claude_3": "Claude 3",
	"gpt": "GPT", "gemini": "Gemini", "general": "General",
}

// FamilyLabel is a family as the Admin UI shows it.
func FamilyLabel(f string) string {
	if l, ok := familyLabels[f]; ok {
		return l
	}
	if f == "" {
		return "(choose by hand)"
	}
	return f
}

// Render writes the snippet in its format.
func (s *Snippet) Render(w io.Writer) error {
	var b bytes.Buffer
	switch s.Format {
	case FormatEnv:
		s.renderEnv(&b)
	case FormatRB:
		s.renderRB(&b)
	case FormatDocker:
		s.renderDocker(&b)
	case FormatHelm:
		s.renderHelm(&b)
	case FormatAdminUI:
		s.renderAdminUI(&b)
	case FormatGraphQL:
		s.renderGraphQL(&b)
	default:
		return fmt.Errorf("render snippet: unknown format %q", s.Format)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// comment writes the shared trailer (steps, models, gateway side, notes) as comment lines.
func (s *Snippet) comment(b *bytes.Buffer, prefix string) {
	var t bytes.Buffer
	if len(s.Steps) > 0 {
		t.WriteString("Also run once on a GitLab Rails node:\n")
		for _, st := range s.Steps {
			fmt.Fprintf(&t, "  %s\n", st)
		}
		t.WriteString("\n")
	}
	s.writeModels(&t)
	s.writeGatewaySide(&t)
	s.writeNotes(&t)
	for _, line := range strings.Split(strings.TrimRight(t.String(), "\n"), "\n") {
		b.WriteString(strings.TrimRight(prefix+line, " ") + "\n")
	}
}

func (s *Snippet) header(b *bytes.Buffer, prefix, where string) {
	if s.Format != s.DefaultFormat {
		fmt.Fprintf(b, "%s(GitLab %s's usual way is --format %s)\n", prefix, s.rules.Version.MinorString(), s.DefaultFormat)
	}
	fmt.Fprintf(b, "%sGitLab %s: %s\n", prefix, s.GitLabVersion, where)
}

func (s *Snippet) renderEnv(b *bytes.Buffer) {
	s.header(b, "# ", "environment of every GitLab Rails and Sidekiq node; restart GitLab after setting it")
	for _, e := range s.GitLabEnv {
		fmt.Fprintf(b, "%s=%s\n", e.Name, e.Value)
	}
	b.WriteString("#\n")
	s.comment(b, "# ")
}

func (s *Snippet) rubyHash(indent string, sep string) string {
	parts := make([]string, len(s.GitLabEnv))
	for i, e := range s.GitLabEnv {
		parts[i] = fmt.Sprintf("%s'%s' => '%s'", indent, e.Name, e.Value)
	}
	return strings.Join(parts, sep)
}

func (s *Snippet) renderRB(b *bytes.Buffer) {
	s.header(b, "# ", "/etc/gitlab/gitlab.rb on every GitLab Rails node (merge into an existing gitlab_rails['env'])")
	fmt.Fprintf(b, "gitlab_rails['env'] = {\n%s\n}\n", s.rubyHash("  ", ",\n"))
	b.WriteString("# Then apply it:\n#   sudo gitlab-ctl reconfigure\n#\n")
	s.comment(b, "# ")
}

func (s *Snippet) renderDocker(b *bytes.Buffer) {
	s.header(b, "# ", "add to the docker run (or compose environment) of the GitLab container;")
	b.WriteString("# GITLAB_OMNIBUS_CONFIG is how the gitlab/gitlab-ee image takes gitlab.rb settings (merge with yours)\n")
	fmt.Fprintf(b, "-e GITLAB_OMNIBUS_CONFIG=\"gitlab_rails['env'] = {%s}\"\n", s.rubyHash("", ", "))
	b.WriteString("# Then recreate the container (docker rm -f, docker run …); it reconfigures on start.\n#\n")
	s.comment(b, "# ")
}

func (s *Snippet) renderHelm(b *bytes.Buffer) {
	s.header(b, "# ", "values for the GitLab Helm chart; merge them into your values file and run")
	b.WriteString("#   helm upgrade <release> gitlab/gitlab -f values.yaml\nglobal:\n  extraEnv:\n")
	for _, e := range s.GitLabEnv {
		fmt.Fprintf(b, "    %s: %q\n", e.Name, e.Value)
	}
	b.WriteString("#\n")
	s.comment(b, "# ")
}

func (s *Snippet) renderAdminUI(b *bytes.Buffer) {
	s.header(b, "", "Admin → GitLab Duo → Change configuration")
	b.WriteString("\n")
	width := 0
	for _, st := range s.AdminSettings {
		width = max(width, len(st.Field))
	}
	for _, st := range s.AdminSettings {
		fmt.Fprintf(b, "  %-*s  %s", width+1, st.Field+":", st.Value)
		if st.Note != "" {
			fmt.Fprintf(b, "   (%s)", st.Note)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if s.rules.TLSByEnv() {
		b.WriteString("Environment of every GitLab Rails node (gitlab_rails['env'] in /etc/gitlab/gitlab.rb, then sudo gitlab-ctl reconfigure):\n")
		fmt.Fprintf(b, "  %s=%s\n\n", s.rules.AgentPlatformTLS.Env, s.rules.AgentPlatformTLS.Value)
	}
	s.comment(b, "")
}

func (s *Snippet) writeModels(t *bytes.Buffer) {
	if s.noDeployment {
		t.WriteString("Self-hosted models: none yet (no deployment config). After 'duobox init', this lists the\n")
		t.WriteString("models to add, with endpoint and identifier, and which feature to assign to which.\n\n")
		return
	}
	where := "Admin → GitLab Duo → Configure GitLab Duo Self-Hosted → Add self-hosted model"
	if !s.rules.AdminUI {
		where = "Admin → AI-powered features → Self-hosted models → New self-hosted model"
	}
	fmt.Fprintf(t, "Self-hosted models (%s):\n", where)
	for i, m := range s.Models {
		fmt.Fprintf(t, "  %d. Deployment name:   %s\n", i+1, m.DeploymentName)
		fmt.Fprintf(t, "     Platform:          API (OpenAI-compatible)\n")
		fmt.Fprintf(t, "     Model family:      %s\n", FamilyLabel(m.Family))
		fmt.Fprintf(t, "     Endpoint:          %s\n", m.Endpoint)
		fmt.Fprintf(t, "     API key:           (leave empty)\n")
		fmt.Fprintf(t, "     Model identifier:  %s\n", m.Identifier)
		if m.Note != "" {
			fmt.Fprintf(t, "     Note:              %s\n", m.Note)
		}
	}
	t.WriteString("\nFeatures (AI-native features tab: choose the model in each dropdown):\n")
	if len(s.Assignments) == 0 {
		t.WriteString("  none: GitLab lists none of these models for a feature at this version\n")
	}
	for _, a := range s.Assignments {
		fmt.Fprintf(t, "  %-40s %s   (%s; GitLab rates it %s)\n", a.Label+":", a.DeploymentName, a.Feature, a.Level)
	}
	t.WriteString("\n")
}

func (s *Snippet) writeGatewaySide(t *bytes.Buffer) {
	t.WriteString("DuoBox set on the gateway (for reference; nothing to do on GitLab):\n")
	if len(s.GatewaySide) == 0 {
		t.WriteString("  AIGW_GITLAB_URL and AIGW_GITLAB_API_URL: unknown here (pass --gitlab-url, or run 'duobox init')\n\n")
		return
	}
	for _, e := range s.GatewaySide {
		fmt.Fprintf(t, "  %s=%s\n", e.Name, e.Value)
	}
	t.WriteString("\n")
}

func (s *Snippet) writeNotes(t *bytes.Buffer) {
	t.WriteString("Notes:\n")
	for _, n := range s.Notes {
		t.WriteString("  - " + n + "\n")
	}
}

// renderGraphQL writes a ready shell script of curl calls; it needs curl and jq.
func (s *Snippet) renderGraphQL(b *bytes.Buffer) {
	fmt.Fprintf(b, "#!/bin/sh\n# GitLab %s: apply the GitLab-side settings through GitLab's GraphQL API (needs curl and jq).\n", s.GitLabVersion)
	b.WriteString("# The token must belong to an administrator and have the api scope.\n# ('duobox gitlab apply' does the same after showing what changes.)\nset -eu\n")
	switch {
	case s.token != "":
		fmt.Fprintf(b, "export GITLAB_TOKEN='%s'\n", strings.ReplaceAll(s.token, "'", `'\''`))
	default:
		b.WriteString(s.tokenHint + "\n")
	}
	if s.graphqlURL != "" {
		fmt.Fprintf(b, "GITLAB_GRAPHQL=%s\n", s.graphqlURL)
	} else {
		b.WriteString("GITLAB_GRAPHQL=\"${GITLAB_URL:?set GITLAB_URL to GitLab's base URL, or pass --gitlab-url}/api/graphql\"\n")
	}
	b.WriteString("gql() { curl --silent --show-error --fail --header \"Authorization: Bearer $GITLAB_TOKEN\" --header 'Content-Type: application/json' --data @- \"$GITLAB_GRAPHQL\"; }\n\n")

	b.WriteString("# 1. Gateway URL")
	if s.AgentPlatformURL != "" {
		b.WriteString(" and Agent Platform service URL (no scheme)")
	}
	if s.rules.TLSBySetting() {
		b.WriteString(", Agent Platform without TLS")
	}
	b.WriteString("\n")
	writeHeredoc(b, "gql", "", s.duoSettingsMutation(), map[string]any{"input": s.duoSettingsInput()}, nil)

	for i, m := range s.Models {
		fmt.Fprintf(b, "\n# %d. Self-hosted model %q\n", i+2, m.DeploymentName)
		if m.Family == "" {
			fmt.Fprintf(b, "#    skipped: %s\n", m.Note)
			continue
		}
		writeHeredoc(b, fmt.Sprintf("MODEL_%d_ID=$(gql", i+1), " | jq -r '.data.aiSelfHostedModelCreate.selfHostedModel.id // empty'",
			mutationModelCreate, map[string]any{"input": modelInput(m)}, nil)
		fmt.Fprintf(b, ")\n[ -n \"$MODEL_%[1]d_ID\" ] || { echo 'creating the model failed (see the errors above; is the name taken?)' >&2; exit 1; }\necho \"created $MODEL_%[1]d_ID\"\n", i+1)
	}
	step := len(s.Models) + 2
	for i, m := range s.Models {
		var feats []string
		for _, a := range s.Assignments {
			if a.DeploymentName == m.DeploymentName {
				feats = append(feats, a.Feature)
			}
		}
		if len(feats) == 0 || m.Family == "" {
			continue
		}
		fmt.Fprintf(b, "\n# %d. Assign %s to %q\n", step, strings.Join(feats, ", "), m.DeploymentName)
		step++
		id := fmt.Sprintf("${MODEL_%d_ID}", i+1)
		writeHeredoc(b, "gql", "", mutationFeatureSetting, map[string]any{"input": featureInput(feats, "@ID@")}, map[string]string{"@ID@": id})
	}
	if s.rules.TLSByEnv() {
		fmt.Fprintf(b, "\n# Also set %s=%s in GitLab's environment (the service has no TLS).\n", s.rules.AgentPlatformTLS.Env, s.rules.AgentPlatformTLS.Value)
	}
	b.WriteString("#\n")
	s.commentNotesOnly(b)
}

func (s *Snippet) commentNotesOnly(b *bytes.Buffer) {
	var t bytes.Buffer
	if s.noDeployment {
		t.WriteString("No deployment config: after 'duobox init' this script also creates the self-hosted models\nand assigns the features.\n\n")
	}
	s.writeGatewaySide(&t)
	s.writeNotes(&t)
	for _, line := range strings.Split(strings.TrimRight(t.String(), "\n"), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
}

// writeHeredoc writes `cmd <<EOF rest` with the GraphQL request as JSON. With no
// substitutions the heredoc is quoted (the shell expands nothing); otherwise
// the body is escaped for an unquoted heredoc and each placeholder becomes the
// shell expansion given in subst.
func writeHeredoc(b *bytes.Buffer, cmd, rest, query string, vars map[string]any, subst map[string]string) {
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any{"query": query, "variables": vars})
	text := strings.TrimRight(body.String(), "\n")
	if len(subst) == 0 {
		fmt.Fprintf(b, "%s <<'EOF'%s\n%s\nEOF\n", cmd, rest, text)
		return
	}
	text = strings.NewReplacer(`\`, `\\`, "`", "\\`", "$", `\$`).Replace(text)
	for k, v := range subst {
		text = strings.ReplaceAll(text, k, v)
	}
	fmt.Fprintf(b, "%s <<EOF%s\n%s\nEOF\n", cmd, rest, text)
}
