package gitlab

import (
	"bytes"
	"context"
	"github.com/duobox/duobox/app/gitlab/gitlabtest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
)

// inputFor is the test deployment pointed at the fake GitLab; the version is
// left at 17.1 on purpose: apply must use the version GitLab reports.
func inputFor(t *testing.T, f *gitlabtest.Server) Input {
	t.Helper()
	in := testInput(t, "17.1", true)
	u := fakeURL(t, f)
	in.GitLab = &u
	return in
}

func TestApply_FakeGitLabAPI_ShowsPlanAppliesItAndThenNothingIsLeft(t *testing.T) {
	ctx := context.Background()
	f := gitlabtest.New(t, "18.4.1-ee")
	c := &Client{URL: fakeURL(t, f), Token: f.Token}
	s := inputFor(t, f)

	p, err := PlanApply(ctx, c, s)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.Write(&out)
	for _, want := range []string{
		"Local AI Gateway URL: (not set) → http://gpu-box.example.com:5052",
		"Local URL for the GitLab Duo Agent Platform service: (not set) → gpu-box.example.com:50052",
		"new self-hosted model codestral-22b on DuoBox: codestral, http://duobox-model:8000/v1, custom_openai/codestral-22b",
		"feature code_completions: vendored → codestral-22b on DuoBox",
		"feature duo_chat: vendored → llama-3.1-8b on DuoBox",
		"by hand: set DUO_AGENT_PLATFORM_SERVICE_SECURE=false",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plan lacks %q:\n%s", want, out.String())
		}
	}
	if len(f.Mutations) != 0 {
		t.Fatalf("planning sent mutations: %v", f.Mutations)
	}
	if _, err := p.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if f.GatewayURL != "http://gpu-box.example.com:5052" || f.AgentURL != "gpu-box.example.com:50052" {
		t.Errorf("GitLab has gateway %q agent %q", f.GatewayURL, f.AgentURL)
	}
	if len(f.Models) != 2 || f.Models[1]["model"] != "llama3" || f.Models[1]["endpoint"] != "http://duobox-model-2:8000/v1" {
		t.Errorf("models on GitLab: %v", f.Models)
	}
	if f.Features["duo_chat"] != f.Models[1]["id"] || f.Features["code_completions"] != f.Models[0]["id"] {
		t.Errorf("feature settings: %v", f.Features)
	}
	again, err := PlanApply(ctx, c, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Changes) != 0 {
		t.Errorf("after apply the plan still has %d changes: %+v", len(again.Changes), again.Changes)
	}
}

func TestApply_FakeGitLabAPI_ChangedEndpointIsAnUpdateNotADuplicate(t *testing.T) {
	ctx := context.Background()
	f := gitlabtest.New(t, "17.9.0-ee")
	c := &Client{URL: fakeURL(t, f), Token: f.Token}
	f.Models = []map[string]string{{"id": "gid://gitlab/Ai::SelfHostedModel/1", "name": "codestral-22b on DuoBox", "model": "codestral", "endpoint": "http://old:8000/v1", "identifier": "custom_openai/codestral-22b"}}
	p, err := PlanApply(ctx, c, inputFor(t, f))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(ctx, c); err != nil {
		t.Fatal(err)
	}
	if len(f.Models) != 2 || f.Models[0]["endpoint"] != "http://duobox-model:8000/v1" {
		t.Errorf("models: %v", f.Models)
	}
}

func TestApply_FakeGitLabAPI_TokenWithoutAdminOrScopeChangesNothing(t *testing.T) {
	ctx := context.Background()
	for name, setup := range map[string]func(*gitlabtest.Server){
		"not admin":   func(f *gitlabtest.Server) { f.Admin = false },
		"read_api":    func(f *gitlabtest.Server) { f.Scopes = []string{"read_api"} },
		"wrong token": func(f *gitlabtest.Server) { f.Token = "glpat-other" },
		"GitLab 17.8": func(f *gitlabtest.Server) { f.Version = "17.8.2-ee" },
	} {
		t.Run(name, func(t *testing.T) {
			f := gitlabtest.New(t, "18.4.1-ee")
			c := &Client{URL: fakeURL(t, f), Token: "glpat-test-admin"}
			setup(f)
			_, err := PlanApply(ctx, c, inputFor(t, f))
			if app.KindOf(err) != app.KindBadInput {
				t.Fatalf("got %v (kind %d), want a bad-input problem", err, app.KindOf(err))
			}
			msg := err.Error()
			for want, cond := range map[string]bool{
				"not an administrator": name == "not admin",
				"not api":              name == "read_api",
				"refused the token":    name == "wrong token",
				"arrived in 17.9":      name == "GitLab 17.8",
			} {
				if cond && !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if len(f.Mutations) != 0 || f.GatewayURL != "" {
				t.Errorf("a refused apply changed GitLab: %v", f.Mutations)
			}
		})
	}
}

func TestApply_FakeGitLabAPI_FailedMutationStopsAndSaysWhatWasDone(t *testing.T) {
	ctx := context.Background()
	f := gitlabtest.New(t, "18.4.0-ee")
	f.FailOn = "aiFeatureSettingUpdate"
	c := &Client{URL: fakeURL(t, f), Token: f.Token}
	s := inputFor(t, f)
	p, err := PlanApply(ctx, c, s)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Apply(ctx, c)
	if err == nil || !strings.Contains(err.Error(), "Endpoint is blocked") || !strings.Contains(err.Error(), "plans only what is missing") {
		t.Fatalf("got %v", err)
	}
	if n == 0 || f.Mutations[len(f.Mutations)-1] != "aiFeatureSettingUpdate" || strings.Count(strings.Join(f.Mutations, " "), "aiFeatureSettingUpdate") != 1 {
		t.Errorf("applied %d, mutations %v: apply must stop at the first failure", n, f.Mutations)
	}
	f.FailOn = ""
	again, err := PlanApply(ctx, c, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range again.Changes {
		if !strings.HasPrefix(ch.What, "feature ") {
			t.Errorf("re-plan repeats a change already made: %+v", ch)
		}
	}
}

func TestClient_UnreachableGitLab(t *testing.T) {
	c := &Client{URL: URL{Base: "http://127.0.0.1:1"}, Token: "x"}
	_, err := c.Version(context.Background())
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "cannot reach GitLab at http://127.0.0.1:1") {
		t.Errorf("got %v", err)
	}
}

func TestClient_FakeGitLabAPI_URLWithProjectPathIsNotGitLab(t *testing.T) {
	f := gitlabtest.New(t, "18.4.0-ee")
	u, err := ParseURL(f.Srv.URL + "/group/project/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Client{URL: u, Token: f.Token}).Version(context.Background())
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "GitLab's base URL") {
		t.Errorf("got %v", err)
	}
}

func TestCheckOIDC_FakeGitLabAPI_FromThisMachine(t *testing.T) {
	f := gitlabtest.New(t, "18.4.0-ee")
	c := CheckOIDC(context.Background(), HostFetcher{}, fakeURL(t, f))
	if !c.OK || c.Keys != 1 || c.JWKSURL != f.Srv.URL+"/oauth/discovery/keys" {
		t.Errorf("got %+v", c)
	}
	bad := CheckOIDC(context.Background(), HostFetcher{}, URL{Base: "http://127.0.0.1:1"})
	if bad.OK || !strings.Contains(bad.Problem, "cannot fetch") || !strings.Contains(bad.Fix, "24 h") {
		t.Errorf("got %+v", bad)
	}
}

// TestGraphQLScript_FakeGitLabAPI_RunsWithCurlAndJq runs the printed script
// itself (sh, curl, jq) against the fake GitLab.
func TestGraphQLScript_FakeGitLabAPI_RunsWithCurlAndJq(t *testing.T) {
	for _, tool := range []string{"sh", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	f := gitlabtest.New(t, "18.4.0-ee")
	dirs := paths.Dirs{Config: t.TempDir()}
	if err := SaveToken(dirs, f.Token); err != nil {
		t.Fatal(err)
	}
	in := testInput(t, "18.4", true)
	u := fakeURL(t, f)
	in.GitLab, in.TokenFile = &u, TokenFile(dirs)
	var script bytes.Buffer
	s, err := Build(in, FormatGraphQL)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Render(&script); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "apply.sh")
	if err := os.WriteFile(path, script.Bytes(), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", path).CombinedOutput()
	if err != nil {
		t.Fatalf("script failed: %v\n%s", err, out)
	}
	if f.GatewayURL != s.GatewayURL || len(f.Models) != 2 || f.Features["duo_chat"] != f.Models[1]["id"] {
		t.Errorf("after the script: gateway %q models %v features %v\n%s", f.GatewayURL, f.Models, f.Features, out)
	}
}

func TestTokenFile_0600AndRefusedWhenOthersCanRead(t *testing.T) {
	d := paths.Dirs{Config: t.TempDir()}
	if tok, err := LoadToken(d); err != nil || tok != "" {
		t.Fatalf("no token yet: %q %v", tok, err)
	}
	if err := SaveToken(d, "  glpat-abc \n"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(TokenFile(d))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	if tok, _ := LoadToken(d); tok != "glpat-abc" {
		t.Errorf("token %q", tok)
	}
	if err := SaveToken(d, "two words"); app.KindOf(err) != app.KindBadInput {
		t.Errorf("token with a space: %v", err)
	}
	if tok, _ := LoadToken(d); tok != "glpat-abc" {
		t.Errorf("a refused save changed the stored token to %q", tok)
	}
	if err := os.Chmod(TokenFile(d), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadToken(d); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable token: %v", err)
	}
}

func TestConnect_FakeGitLabAPI_StoresOnlyAfterSuccessAndUpdatesConfig(t *testing.T) {
	ctx := context.Background()
	f := gitlabtest.New(t, "18.4.1-ee")
	d := paths.Dirs{Config: t.TempDir()}
	cfgPath := filepath.Join(d.Config, "deployment.yaml")
	dep := config.Deployment{GitLab: config.GitLab{URL: "https://old.example.com", Version: "17.9"}, Host: "gpu-box",
		Models: testDeployment()[:1], Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v17.9.0-ee"}}}
	if err := config.Save(cfgPath, dep); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(cfgPath)

	// A wrong token: nothing is stored, the config is untouched.
	if _, err := Connect(ctx, d, fakeURL(t, f), "glpat-wrong", true, cfgPath); app.KindOf(err) != app.KindBadInput {
		t.Fatalf("wrong token: %v", err)
	}
	// Unreachable GitLab: the same.
	if _, err := Connect(ctx, d, URL{Base: "http://127.0.0.1:1"}, f.Token, true, cfgPath); app.KindOf(err) != app.KindEnvironment {
		t.Fatalf("unreachable: %v", err)
	}
	// A GitLab version outside DuoBox's version table: bad input naming the known ones.
	f.Version = "20.1.0-ee"
	if _, err := Connect(ctx, d, fakeURL(t, f), f.Token, true, cfgPath); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "it knows GitLab 17.1–19.11") {
		t.Fatalf("unknown version: %v", err)
	}
	f.Version = "18.4.1-ee"
	if tok, _ := LoadToken(d); tok != "" {
		t.Fatalf("a failed connect stored the token")
	}
	if _, ok, _ := LoadConnection(d); ok {
		t.Fatal("a failed connect recorded a connection")
	}
	if now, _ := os.ReadFile(cfgPath); !bytes.Equal(now, before) {
		t.Fatal("a failed connect changed the deployment config")
	}

	r, err := Connect(ctx, d, fakeURL(t, f), f.Token, true, cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Admin || !r.TokenStored || r.Version != "18.4.1-ee" {
		t.Errorf("result %+v", r)
	}
	if tok, _ := LoadToken(d); tok != f.Token {
		t.Errorf("stored token %q", tok)
	}
	got, err := config.Load(cfgPath)
	if err != nil || got.GitLab.Version != "18.4.1" || got.GitLab.URL != fakeURL(t, f).Base {
		t.Errorf("config after connect: %+v %v", got.GitLab, err)
	}

	// A read-only token connects (version read) but says apply is not possible.
	f.Scopes = []string{"read_api"}
	r, err = Connect(ctx, d, fakeURL(t, f), f.Token, false, cfgPath)
	if err != nil || r.Admin || !strings.Contains(r.AdminNote, "not api") || r.TokenStored {
		t.Errorf("read_api token: %+v %v", r, err)
	}
}

// Item 2 of issue 12: on 18.10+ Agent Platform TLS is the ai_settings column
// set through duoSettingsUpdate(selfHostedDuoAgentPlatformServiceSecure:);
// on 18.4–18.9 it is the environment variable, which apply cannot set.
func TestApply_FakeGitLabAPI_AgentPlatformTLSPerVersion(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		version  string
		bySet    bool
		wantHand bool
	}{
		{"18.9.2-ee", false, true},
		{"18.10.0-ee", true, false},
		{"19.2.1-ee", true, false},
	} {
		t.Run(tc.version, func(t *testing.T) {
			f := gitlabtest.New(t, tc.version)
			c := &Client{URL: fakeURL(t, f), Token: f.Token}
			p, err := PlanApply(ctx, c, inputFor(t, f))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			p.Write(&out)
			hasHand := strings.Contains(out.String(), "by hand: set DUO_AGENT_PLATFORM_SERVICE_SECURE=false")
			hasCheckbox := strings.Contains(out.String(), "Use TLS for the GitLab Duo Agent Platform service (selfHostedDuoAgentPlatformServiceSecure): not readable through the API → off")
			if hasHand != tc.wantHand || hasCheckbox != tc.bySet {
				t.Fatalf("env var by hand %v (want %v), TLS setting change %v (want %v):\n%s", hasHand, tc.wantHand, hasCheckbox, tc.bySet, out.String())
			}
			if _, err := p.Apply(ctx, c); err != nil {
				t.Fatal(err)
			}
			if f.AgentSecure == tc.bySet {
				t.Errorf("GitLab's self_hosted_duo_agent_platform_service_secure = %v after apply", f.AgentSecure)
			}
		})
	}
}

// The stand-in refuses what GitLab's schema of that version does not define,
// with graphql-ruby's message, so a DuoBox that sent the 18.10 argument to an
// older GitLab fails here.
func TestFakeGitLab_RefusesArgumentsItsVersionLacks(t *testing.T) {
	ctx := context.Background()
	f := gitlabtest.New(t, "18.9.0-ee")
	c := &Client{URL: fakeURL(t, f), Token: f.Token}
	err := c.GraphQL(ctx, mutationDuoSettingsAgent, map[string]any{"input": map[string]any{
		"aiGatewayUrl": "http://h:5052", "duoAgentPlatformServiceUrl": "h:50052", "selfHostedDuoAgentPlatformServiceSecure": false}}, nil)
	if err == nil || !strings.Contains(err.Error(), "selfHostedDuoAgentPlatformServiceSecure (Field is not defined on DuoSettingsUpdateInput)") {
		t.Fatalf("18.9 accepted the 18.10 argument: %v", err)
	}
	f.Version = "18.3.1-ee"
	err = c.GraphQL(ctx, queryDuoSettingsAgent, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Field 'duoAgentPlatformServiceUrl' doesn't exist on type 'DuoSettings'") {
		t.Fatalf("18.3 answered the Agent Platform URL: %v", err)
	}
	f.Version = "17.8.0-ee"
	err = c.GraphQL(ctx, mutationDuoSettings, map[string]any{"input": map[string]any{"aiGatewayUrl": "http://h:5052"}}, nil)
	if err == nil || !strings.Contains(err.Error(), "Field 'duoSettingsUpdate' doesn't exist on type 'Mutation'") {
		t.Fatalf("17.8 has duoSettingsUpdate: %v", err)
	}
	if len(f.Mutations) != 2 || f.GatewayURL != "" {
		t.Errorf("refused mutations changed the fake: %v %q", f.Mutations, f.GatewayURL)
	}
}

// fakeURL is the stand-in GitLab's address as DuoBox's URL.
func fakeURL(t *testing.T, f *gitlabtest.Server) URL {
	t.Helper()
	u, err := ParseURL(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	return u
}
