package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
)

// writeUpgradeConfig saves a deployment config in a fresh DUOBOX_HOME.
func writeUpgradeConfig(t *testing.T, gatewayTag string) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	cfg := config.Deployment{Name: "duobox", GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5.1"},
		Host: "gpu-box.example.com", Mode: config.ModeCPU,
		Models:  []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b"}},
		Gateway: config.Gateway{PublishAll: true, Image: config.Image{Repository: config.DefaultGatewayImage, Tag: gatewayTag}}}.WithDefaults()
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeCheckJSONFromTagsFile(t *testing.T) {
	writeUpgradeConfig(t, "self-hosted-v18.5.0-ee")
	tags := filepath.Join(t.TempDir(), "tags.txt")
	os.WriteFile(tags, []byte("latest\nself-hosted-v18.5.0-ee\nself-hosted-v18.5.11-ee\nself-hosted-v18.5.2-ee\nself-hosted-v18.6.0-ee\nv1.2.3\n"), 0o600)
	code, out, errOut := runCLI(t, "upgrade", "--check", "--json", "--tags-from", tags)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep struct {
		Current     string   `json:"current"`
		Available   []string `json:"available"`
		Recommended *string  `json:"recommended"`
		Warnings    []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Current != "self-hosted-v18.5.0-ee" || rep.Recommended == nil || *rep.Recommended != "self-hosted-v18.5.11-ee" ||
		strings.Join(rep.Available, ",") != "self-hosted-v18.5.11-ee,self-hosted-v18.5.2-ee,self-hosted-v18.5.0-ee" {
		t.Errorf("check = %+v", rep)
	}
	if len(rep.Warnings) == 0 || !strings.Contains(rep.Warnings[0], "newer") {
		t.Errorf("no newer-than-GitLab warning: %q", rep.Warnings)
	}
	// A GitLab with no release in the list: recommended is null.
	code, out, _ = runCLI(t, "upgrade", "--check", "--json", "--tags-from", tags, "--gitlab-version", "18.8")
	if code != 0 || !strings.Contains(out, `"recommended": null`) {
		t.Errorf("exit %d, %s; want recommended null", code, out)
	}
	// Text output names the recommendation and how to get it.
	code, out, _ = runCLI(t, "upgrade", "--check", "--tags-from", tags)
	if code != 0 || !strings.Contains(out, "recommended: self-hosted-v18.5.11-ee") || !strings.Contains(out, "duobox upgrade gateway") {
		t.Errorf("exit %d, text:\n%s", code, out)
	}
}

func TestUpgradeBadFlagsExitTwo(t *testing.T) {
	writeUpgradeConfig(t, "self-hosted-v18.5.0-ee")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"upgrade", "--check", "--tags-from", "/nonexistent/tags.txt"}, "cannot read the tags file"},
		{[]string{"upgrade", "--local", "--archive", "x.tar"}, "exclude each other"},
		{[]string{"upgrade", "--check", "--gitlab-version", "sixteen", "--tags-from", os.DevNull}, "GitLab version"},
		{[]string{"upgrade", "database", "--check", "--tags-from", os.DevNull}, "gateway' or 'model"},
	} {
		code, _, errOut := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errOut, tc.want)
		}
	}
}
