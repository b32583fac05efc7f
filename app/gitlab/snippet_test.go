package gitlab

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/bundles"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenVersions are the releases where GitLab's expectations change.
var goldenVersions = []string{"17.1", "17.3", "17.8", "17.9", "18.4", "18.10"}

// testDeployment has a model GitLab lists from 17.1 (Codestral) and one it
// lists from 17.8 (Llama 3.1 8B, served under a short name).
func testDeployment() []config.Model {
	return []config.Model{
		{HFRepo: "mistralai/Codestral-22B-v0.1", ServedName: "codestral-22b"},
		{HFRepo: "meta-llama/Llama-3.1-8B-Instruct", ServedName: "llama-3.1-8b"},
	}
}

func testInput(t *testing.T, ver string, withDeployment bool) Input {
	t.Helper()
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	v, err := ParseVersion(ver)
	if err != nil {
		t.Fatal(err)
	}
	in := Input{Version: v, Host: "gpu-box.example.com", Catalog: cat, TokenFile: "/home/ada/.config/duobox/secrets/gitlab_token"}
	if withDeployment {
		u, err := ParseURL("https://gitlab.example.com/")
		if err != nil {
			t.Fatal(err)
		}
		in.GitLab = &u
		in.Models = testDeployment()
	}
	return in
}

// render builds and renders, turning a refusal into its message (also golden).
func render(in Input, f Format) string {
	s, err := Build(in, f)
	if err != nil {
		return "error: " + err.Error() + "\n"
	}
	var b bytes.Buffer
	if err := s.Render(&b); err != nil {
		return "render error: " + err.Error() + "\n"
	}
	return b.String()
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "snippet", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run 'go test ./app/gitlab -run Golden -update' to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (run with -update after checking):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func TestSnippetGolden_PerVersionAndFormat(t *testing.T) {
	for _, ver := range goldenVersions {
		for _, f := range Formats {
			t.Run(ver+"/"+string(f), func(t *testing.T) {
				checkGolden(t, ver+"_"+string(f)+".golden", render(testInput(t, ver, true), f))
			})
		}
		t.Run(ver+"/default-flags-only", func(t *testing.T) {
			checkGolden(t, ver+"_default_flags-only.golden", render(testInput(t, ver, false), ""))
		})
	}
}

func TestBuild_DefaultFormatFollowsVersion(t *testing.T) {
	for ver, want := range map[string]Format{"17.1": FormatEnv, "17.8": FormatEnv, "17.9": FormatAdminUI, "18.10": FormatAdminUI} {
		s, err := Build(testInput(t, ver, false), "")
		if err != nil {
			t.Fatal(err)
		}
		if s.Format != want {
			t.Errorf("%s: default format %s, want %s", ver, s.Format, want)
		}
	}
}

func TestBuild_VersionRules(t *testing.T) {
	env := func(s *Snippet) map[string]string {
		m := map[string]string{}
		for _, e := range s.GitLabEnv {
			m[e.Name] = e.Value
		}
		return m
	}
	s17, _ := Build(testInput(t, "17.8", true), FormatEnv)
	if got := env(s17); got["AI_GATEWAY_URL"] != "http://gpu-box.example.com:5052" || got["CLOUD_CONNECTOR_SELF_SIGN_TOKENS"] != "1" {
		t.Errorf("17.8 env = %v", got)
	}
	if s17.AgentPlatformURL != "" {
		t.Errorf("17.8 has no Agent Platform URL, got %q", s17.AgentPlatformURL)
	}
	s179, _ := Build(testInput(t, "17.9", true), FormatEnv)
	if _, ok := env(s179)["CLOUD_CONNECTOR_SELF_SIGN_TOKENS"]; ok {
		t.Error("17.9 must not set CLOUD_CONNECTOR_SELF_SIGN_TOKENS")
	}
	s184, _ := Build(testInput(t, "v18.4.1-ee", true), FormatAdminUI)
	if s184.AgentPlatformURL != "gpu-box.example.com:50052" || env(s184)["DUO_AGENT_PLATFORM_SERVICE_SECURE"] != "false" {
		t.Errorf("18.4: agent URL %q env %v", s184.AgentPlatformURL, env(s184))
	}
	for _, m := range s184.Models {
		if !strings.HasSuffix(m.Endpoint, "/v1") || !strings.HasPrefix(m.Identifier, "custom_openai/") {
			t.Errorf("model entry %+v: endpoint must end /v1 and identifier start custom_openai/", m)
		}
	}
	if s184.GatewaySide[1].Value != "https://gitlab.example.com/api/v4/" {
		t.Errorf("AIGW_GITLAB_API_URL = %q", s184.GatewaySide[1].Value)
	}
}

func TestBuild_IPv6HostIsBracketedInURLs(t *testing.T) {
	in := testInput(t, "18.4", false)
	in.Host = "2001:db8::10"
	s, err := Build(in, FormatAdminUI)
	if err != nil {
		t.Fatal(err)
	}
	if s.GatewayURL != "http://[2001:db8::10]:5052" || s.AgentPlatformURL != "[2001:db8::10]:50052" {
		t.Errorf("gateway %q agent %q", s.GatewayURL, s.AgentPlatformURL)
	}
}

func TestBuild_RefusesLoopbackHostAndMajorOnlyVersion(t *testing.T) {
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0"} {
		in := testInput(t, "17.9", false)
		in.Host = host
		_, err := Build(in, "")
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "do not use localhost") {
			t.Errorf("host %q: got %v, want a bad-input error with the seed's reason", host, err)
		}
	}
	_, err := ParseVersion("17")
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "only a major release") {
		t.Errorf("version 17: %v", err)
	}
	for _, ok := range []string{"v17.2.1-ee", "17.2.1-ee", "17.9", " 18.10.0 "} {
		if _, err := ParseVersion(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
}

func TestBuild_SecretsOnlyWithIncludeSecrets(t *testing.T) {
	in := testInput(t, "18.4", true)
	in.Token = "glpat-SECRET-do-not-print"
	if out := render(in, FormatGraphQL); strings.Contains(out, in.Token) {
		t.Fatal("the token appears without --include-secrets")
	}
	in.IncludeSecrets = true
	if out := render(in, FormatGraphQL); !strings.Contains(out, "export GITLAB_TOKEN='glpat-SECRET-do-not-print'") {
		t.Fatalf("--include-secrets does not put the token in the script:\n%s", out)
	}
	for _, f := range []Format{FormatEnv, FormatRB, FormatDocker, FormatHelm, FormatAdminUI} {
		if strings.Contains(render(in, f), in.Token) {
			t.Errorf("%s shows the token, which it never needs", f)
		}
	}
}

func TestParseFormat(t *testing.T) {
	if f, err := ParseFormat("Admin-UI"); err != nil || f != FormatAdminUI {
		t.Errorf("Admin-UI: %v %v", f, err)
	}
	_, err := ParseFormat("yaml")
	var p *app.Problem
	if !errors.As(err, &p) || !strings.Contains(p.Fix, "gitlab-rb") {
		t.Errorf("yaml: %v", err)
	}
}

func TestResolve_FlagsThenConfigThenConnection(t *testing.T) {
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	dep := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com/", Version: "17.9"}, Host: "gpu-box",
		Models: testDeployment(), Name: "lab"}
	conn := &Connection{URL: "https://other.example.com", Version: "18.4.1-ee"}

	in, notes, err := Resolve(Given{}, Sources{Deployment: &dep, Connection: conn, Catalog: cat})
	if err != nil {
		t.Fatal(err)
	}
	if in.Version.String() != "17.9" || in.Host != "gpu-box" || in.GitLab.Base != "https://gitlab.example.com" || len(in.Models) != 2 || len(notes) != 2 {
		t.Errorf("from config: %+v %v", in, notes)
	}
	s, err := Build(in, "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Models[1].Endpoint != "http://lab-model-2:8000/v1" {
		t.Errorf("endpoint follows the stack name: %q", s.Models[1].Endpoint)
	}

	in, _, err = Resolve(Given{Version: "18.10", Host: "10.1.2.3", GitLabURL: "http://[2001:db8::5]:8080/"}, Sources{Deployment: &dep, Catalog: cat})
	if err != nil || in.Version.String() != "18.10" || in.Host != "10.1.2.3" || in.GitLab.API() != "http://[2001:db8::5]:8080/api/v4/" {
		t.Errorf("flags first: %+v %v", in, err)
	}

	in, _, err = Resolve(Given{Host: "gpu-box"}, Sources{Connection: conn, Catalog: cat})
	if err != nil || in.Version.String() != "18.4.1" || in.GitLab.Base != "https://other.example.com" || len(in.Models) != 0 {
		t.Errorf("from the connection: %+v %v", in, err)
	}

	if _, _, err := Resolve(Given{Host: "gpu-box"}, Sources{Catalog: cat}); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--gitlab-version") {
		t.Errorf("no version anywhere: %v", err)
	}
	if _, _, err := Resolve(Given{Version: "17.9"}, Sources{Catalog: cat}); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--host") {
		t.Errorf("no host anywhere: %v", err)
	}
	if _, _, err := Resolve(Given{Host: "gpu-box", VersionFromGitLab: true}, Sources{Catalog: cat}); err != nil {
		t.Errorf("apply and check need no version: %v", err)
	}
}
