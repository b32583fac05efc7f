package gitlabversions

import (
	"errors"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

func TestBundledTableParses(t *testing.T) {
	if _, err := Parse(bundles.GitLabVersionsFile(), "bundled"); err != nil {
		t.Fatal(err)
	}
	if got := Known(); got != "17.1–19.11" {
		t.Fatalf("Known() = %q", got)
	}
}

// The facts issue 12 names, read through the table.
func TestBundledFacts(t *testing.T) {
	cases := []struct {
		v             string
		tag           string
		docs          string
		agentPlatform bool
		jwt           bool
		adminUI       bool
		tlsEnv        string
		tlsGraphQL    string
	}{
		{"17.1", TagLegacy, "/app/tmp/docs.db", false, false, false, "", ""},
		{"17.3", TagLegacy, "/app/tmp/docs.db", false, false, false, "", ""},
		{"17.4", TagSelfHosted, "/app/tmp/docs.db", false, true, false, "", ""},
		{"17.5", TagSelfHosted, "/app/tmp/docs.db", false, true, false, "", ""},
		// WORKDIR /home/aigateway/app since 2024-11-05, before 17.6 shipped (item 7).
		{"17.6", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", false, true, false, "", ""},
		{"17.9", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", false, true, true, "", ""},
		// No Duo Workflow Service in the images before 18.4 (item 10).
		{"18.0", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", false, true, true, "", ""},
		{"18.3", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", false, true, true, "", ""},
		{"18.4", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", true, true, true, "DUO_AGENT_PLATFORM_SERVICE_SECURE", ""},
		{"18.9", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", true, true, true, "DUO_AGENT_PLATFORM_SERVICE_SECURE", ""},
		// 18.10: the ai_settings column, set through GraphQL and the Admin UI (item 2).
		{"18.10", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", true, true, true, "", "selfHostedDuoAgentPlatformServiceSecure"},
		{"19.11", TagSelfHosted, "/home/aigateway/app/tmp/docs.db", true, true, true, "", "selfHostedDuoAgentPlatformServiceSecure"},
	}
	for _, c := range cases {
		r, err := For(version.MustParse(c.v))
		if err != nil {
			t.Fatalf("%s: %v", c.v, err)
		}
		tls, _ := r.Setting(SettingAgentPlatformTLS)
		if r.Gateway.Tag.Rule != c.tag || r.DocsIndexPath() != c.docs || r.HasAgentPlatform() != c.agentPlatform ||
			r.Gateway.JWTKeys.Value != c.jwt || r.SetInAdminUI() != c.adminUI || tls.Env != c.tlsEnv || tls.GraphQL != c.tlsGraphQL {
			t.Errorf("%s: tag %s docs %s agent %v jwt %v adminUI %v tls env %q graphql %q", c.v, r.Gateway.Tag.Rule, r.DocsIndexPath(),
				r.HasAgentPlatform(), r.Gateway.JWTKeys.Value, r.SetInAdminUI(), tls.Env, tls.GraphQL)
		}
	}
	r, _ := For(version.MustParse("18.10"))
	if s, _ := r.Setting(SettingAgentPlatformTLS); s.AdminUI != "Use TLS for the GitLab Duo Agent Platform service" || s.Value != "false" {
		t.Errorf("18.10 TLS setting = %+v", s)
	}
}

func TestVersionOutsideTableIsBadInputNamingKnownVersions(t *testing.T) {
	for _, v := range []string{"16.11", "17.0", "20.0", "19.12"} {
		_, err := For(version.MustParse(v))
		var p *app.Problem
		if !errors.As(err, &p) || p.Kind != app.KindBadInput {
			t.Fatalf("%s: want bad input, got %v", v, err)
		}
		if !strings.Contains(err.Error(), "17.1–19.11") || !strings.Contains(err.Error(), "GitLab "+v) {
			t.Errorf("%s: error does not name the version and the known ones: %v", v, err)
		}
	}
	if _, err := For(version.MustParse("18")); err == nil || !strings.Contains(err.Error(), "minor") {
		t.Errorf("major only: %v", err)
	}
}

func TestUnconfirmedFactsAreReported(t *testing.T) {
	r, _ := For(version.MustParse("17.1"))
	got := strings.Join(r.Unconfirmed(), "\n")
	if !strings.Contains(got, "Not confirmed for GitLab 17.1") || !strings.Contains(got, "gitlab-v17.1.0") {
		t.Errorf("17.1 unconfirmed = %q", got)
	}
	r, _ = For(version.MustParse("18.10"))
	if u := r.Unconfirmed(); len(u) != 0 {
		t.Errorf("18.10 should rest on confirmed sources only: %q", u)
	}
	r, _ = For(version.MustParse("19.5"))
	if u := strings.Join(r.Unconfirmed(), "\n"); !strings.Contains(u, "application_settings") {
		t.Errorf("19.5 should say the settings move is unconfirmed: %q", u)
	}
}

func TestParseRefusesBrokenTables(t *testing.T) {
	good := string(bundles.GitLabVersionsFile())
	cases := map[string]string{
		"gap":            strings.Replace(good, `versions: "17.3"`, `versions: "17.2"`, 1),
		"open range":     strings.Replace(good, `versions: "19.5-19.11"`, `versions: "19.5-"`, 1),
		"unknown source": strings.Replace(good, "source: legacy-17.1-tag}", "source: nowhere}", 1),
		"unknown field":  strings.Replace(good, "jwt_keys: {value: false", "jwt_keys: {valu: false", 1),
		"bad tag rule":   strings.Replace(good, "rule: gitlab-vX.Y.0, source: legacy", "rule: latest, source: legacy", 1),
		"relative wd":    strings.Replace(good, "path: /app, source: aigw-dockerfile-workdir}", "path: app, source: aigw-dockerfile-workdir}", 1),
	}
	for name, text := range cases {
		if text == good {
			t.Fatalf("%s: replacement did not apply", name)
		}
		if _, err := Parse([]byte(text), "test"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSeparateDocsIndexOnlyFor17_2To17_3(t *testing.T) {
	for v, want := range map[string]bool{"17.1": false, "17.2": true, "17.3": true, "17.4": false, "18.10": false} {
		r, err := For(version.MustParse(v))
		if err != nil || r.NeedsSeparateDocsIndex() != want {
			t.Errorf("%s: NeedsSeparateDocsIndex = %v, %v; want %v", v, r.NeedsSeparateDocsIndex(), err, want)
		}
	}
}
