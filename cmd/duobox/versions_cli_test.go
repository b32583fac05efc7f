package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 12: a GitLab version outside DuoBox's GitLab version table is bad
// input (exit 2) that names the versions known, and nothing is written.
func TestGitLabVersionOutsideTableExitsTwoNamingKnownVersions(t *testing.T) {
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	for _, args := range [][]string{
		{"init", "--gitlab-url", "https://gitlab.example.com", "--host", "192.0.2.10", "--publish-all", "--gitlab-version", "16.11", "--mode", "cpu"},
		{"init", "--gitlab-url", "https://gitlab.example.com", "--host", "192.0.2.10", "--publish-all", "--gitlab-version", "20.1", "--mode", "cpu"},
		{"env", "--gitlab-version", "20.1", "--host", "192.0.2.10"},
		{"recommend", "--gitlab-version", "19.12"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, args...)
			if code != 2 || !strings.Contains(errOut, "not in DuoBox's GitLab version table: it knows GitLab 17.1–19.11") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
	var files []string
	filepath.WalkDir(home, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	for _, f := range files {
		if strings.HasSuffix(f, ".yaml") {
			t.Errorf("a refused version wrote %s", f)
		}
	}
}

// Issue 12 item 2 through the CLI: every format of 'duobox env' for 18.10
// leaves out the environment variable GitLab no longer reads; 18.9 keeps it.
func TestEnvAgentPlatformTLSPerVersionEveryFormat(t *testing.T) {
	for _, format := range []string{"env", "gitlab-rb", "docker", "helm", "admin-ui", "graphql"} {
		for _, tc := range []struct {
			version     string
			wantEnvLine bool
		}{{"18.9", true}, {"18.10", false}} {
			t.Run(format+" "+tc.version, func(t *testing.T) {
				code, out, errOut := runCLI(t, "env", "--gitlab-version", tc.version, "--host", "192.0.2.10", "--gitlab-url", "https://gitlab.example.com", "--format", format)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				setsVar := false
				for _, spelling := range []string{"DUO_AGENT_PLATFORM_SERVICE_SECURE=false", "'DUO_AGENT_PLATFORM_SERVICE_SECURE' => 'false'", `DUO_AGENT_PLATFORM_SERVICE_SECURE: "false"`} {
					setsVar = setsVar || strings.Contains(out, spelling)
				}
				if setsVar != tc.wantEnvLine {
					t.Errorf("sets DUO_AGENT_PLATFORM_SERVICE_SECURE: %v, want %v:\n%s", setsVar, tc.wantEnvLine, out)
				}
				if !tc.wantEnvLine && !strings.Contains(out, "Use TLS for the GitLab Duo Agent Platform service") {
					t.Errorf("18.10 output does not name the Admin UI checkbox:\n%s", out)
				}
				if !tc.wantEnvLine && format == "graphql" && !strings.Contains(out, `"selfHostedDuoAgentPlatformServiceSecure":false`) {
					t.Errorf("18.10 script does not send selfHostedDuoAgentPlatformServiceSecure:\n%s", out)
				}
			})
		}
	}
}
