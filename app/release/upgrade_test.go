package release

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
)

// messyTags is a registry listing the way real ones look: both spellings of
// the "v", two-digit patches, FIPS builds, nightly SHAs, other majors, rc
// tags, semantic-release tags, and releases newer than the user's GitLab.
var messyTags = []string{
	"latest", "nightly", "nightly-2026-05-01", "3f9a2c1", "a1b2c3d4e5f6",
	"v1.0.0", "v1.11.0", "1.12.0",
	"gitlab-v17.2.0", "gitlab-v17.2", "gitlab-v17.3.0",
	"self-hosted-17.9.1-ee", "self-hosted-v17.9.2-ee", "self-hosted-v17.9.10-ee", "self-hosted-v17.9.9-ee",
	"self-hosted-v18.5.0-ee", "self-hosted-v18.5.1-ee", "self-hosted-v18.5.12-ee", "self-hosted-v18.5.3-rc1-ee",
	"self-hosted-fips-v18.5.2-ee", "self-hosted-v18.5.4-ee-fips", "self-hosted-v18.5.13-ee-fips",
	"self-hosted-v18.6.0-ee", "self-hosted-v18.10.1-ee", "self-hosted-v19.0.0-ee", "self-hosted-v8.5.99-ee",
}

func TestClassifyMessyTags(t *testing.T) {
	for _, tc := range []struct {
		tag  string
		kind TagKind
		ver  string
	}{
		{"latest", KindLatest, ""},
		{"nightly-2026-05-01", KindNightly, ""},
		{"3f9a2c1", KindNightly, ""},
		{"v1.11.0", KindSemantic, ""},
		{"1.12.0", KindSemantic, ""},
		{"gitlab-v17.2", KindLegacy, "17.2"},
		{"gitlab-v17.3.0", KindLegacy, "17.3.0"},
		{"self-hosted-17.9.1-ee", KindSelfHosted, "17.9.1"},
		{"self-hosted-v18.5.12-ee", KindSelfHosted, "18.5.12"},
		{"self-hosted-v18.5.3-rc1-ee", KindOther, ""},
		{"self-hosted-fips-v18.5.2-ee", KindFIPS, "18.5.2"},
		{"self-hosted-v18.5.4-ee-fips", KindFIPS, "18.5.4"},
	} {
		got := Classify(tc.tag)
		if got.Kind != tc.kind {
			t.Errorf("Classify(%q).Kind = %s, want %s", tc.tag, got.Kind, tc.kind)
		}
		if tc.ver != "" && got.Version.String() != tc.ver {
			t.Errorf("Classify(%q).Version = %s, want %s", tc.tag, got.Version, tc.ver)
		}
	}
}

func TestGatewayChoiceOverMessyTags(t *testing.T) {
	for _, tc := range []struct {
		name, gitlab, current string
		fips                  bool
		available             []string
		newerWarning          bool
		currentWarning        string
	}{
		{name: "two-digit patch sorts numerically, rc/fips/nightly excluded", gitlab: "18.5", current: "self-hosted-v18.5.0-ee",
			available: []string{"self-hosted-v18.5.12-ee", "self-hosted-v18.5.1-ee", "self-hosted-v18.5.0-ee"}, newerWarning: true},
		{name: "missing v spelling is accepted, v spelling preferred per patch", gitlab: "17.9.3-ee",
			available: []string{"self-hosted-v17.9.10-ee", "self-hosted-v17.9.9-ee", "self-hosted-v17.9.2-ee", "self-hosted-17.9.1-ee"}, newerWarning: true},
		{name: "FIPS only when asked", gitlab: "18.5", fips: true,
			available: []string{"self-hosted-v18.5.13-ee-fips", "self-hosted-v18.5.4-ee-fips", "self-hosted-fips-v18.5.2-ee"}},
		{name: "legacy 17.2 uses gitlab-vX.Y.0", gitlab: "17.2", available: []string{"gitlab-v17.2.0"}, newerWarning: true},
		{name: "newest GitLab: no newer tags, other majors ignored", gitlab: "19.0", available: []string{"self-hosted-v19.0.0-ee"}},
		{name: "minor with no release yet", gitlab: "18.7", available: nil, newerWarning: true},
		{name: "current newer than GitLab", gitlab: "18.5", current: "self-hosted-v18.6.0-ee",
			available: []string{"self-hosted-v18.5.12-ee", "self-hosted-v18.5.1-ee", "self-hosted-v18.5.0-ee"}, newerWarning: true,
			currentWarning: "newer than your GitLab 18.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch, err := GatewayChoice(version.MustParse(tc.gitlab), tc.current, messyTags, tc.fips)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ch.Available, tc.available) {
				t.Errorf("available = %q, want %q", ch.Available, tc.available)
			}
			wantRec := ""
			if len(tc.available) > 0 {
				wantRec = tc.available[0]
			}
			if ch.Recommended != wantRec {
				t.Errorf("recommended = %q, want %q", ch.Recommended, wantRec)
			}
			all := strings.Join(ch.Warnings, "\n")
			if got := strings.Contains(all, "newer than yours"); got != tc.newerWarning {
				t.Errorf("newer-than-GitLab warning = %v, want %v; warnings: %q", got, tc.newerWarning, ch.Warnings)
			}
			if tc.currentWarning != "" && !strings.Contains(all, tc.currentWarning) {
				t.Errorf("warnings %q lack %q", ch.Warnings, tc.currentWarning)
			}
			for _, a := range ch.Available {
				if k := Classify(a).Kind; k == KindLatest || k == KindNightly || k == KindSemantic {
					t.Errorf("offered %s (%s)", a, k)
				}
			}
		})
	}
}

func TestGatewayChoiceRefusesGitLabWithoutGateway(t *testing.T) {
	if _, err := GatewayChoice(version.MustParse("16.11"), "", messyTags, false); app.KindOf(err) != app.KindBadInput {
		t.Fatalf("GitLab 16.11: want bad input, got %v", err)
	}
}

func TestCheckGatewayTarget(t *testing.T) {
	v := version.MustParse("18.5.1")
	for _, tc := range []struct {
		tag      string
		tags     []string
		force    bool
		wantErr  string // substring; "" = accepted
		wantWarn bool
	}{
		{tag: "self-hosted-v18.5.12-ee", tags: messyTags},
		{tag: "self-hosted-v18.5.0-ee", tags: nil}, // registry unknown: existence left to the pull
		{tag: "self-hosted-v18.5.77-ee", tags: messyTags, wantErr: "does not exist"},
		{tag: "self-hosted-v18.6.0-ee", tags: messyTags, wantErr: "newer than your GitLab 18.5"},
		{tag: "self-hosted-v18.6.0-ee", tags: messyTags, force: true, wantWarn: true},
		{tag: "self-hosted-v17.9.10-ee", tags: messyTags, wantErr: "older than your GitLab 18.5"},
		{tag: "latest", tags: messyTags, wantErr: "moving latest build"},
		{tag: "nightly", tags: messyTags, wantErr: "moving nightly build"},
		{tag: "v1.11.0", tags: messyTags, wantErr: "semantic-release"},
		{tag: "v1.11.0", tags: messyTags, force: true, wantWarn: true},
		{tag: "self-hosted-v18.5.4-ee-fips", tags: messyTags}, // FIPS, named explicitly, right minor
	} {
		warn, err := CheckGatewayTarget(v, tc.tag, tc.tags, tc.force)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.tag, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s: error %v, want one containing %q", tc.tag, err, tc.wantErr)
		case tc.wantErr != "" && app.KindOf(err) != app.KindBadInput:
			t.Errorf("%s: kind %v, want bad input", tc.tag, app.KindOf(err))
		case tc.wantErr != "" && !strings.Contains(err.Error(), " — "):
			t.Errorf("%s: error %q says no fix", tc.tag, err)
		}
		if (len(warn) > 0) != tc.wantWarn {
			t.Errorf("%s: warnings %q, want some = %v", tc.tag, warn, tc.wantWarn)
		}
	}
}

func TestModelServerChoicePinnedAndUpgradable(t *testing.T) {
	tags := []string{"latest", "nightly", "v0.9.2", "v0.18.0", "v0.18.1", "v0.19.0rc1", "v0.19.0", "v0.19.10", "v0.19.2",
		"v0.19.0-cu126", "cu128-v0.19.0", "0.20.0", "v1.0.0"}
	ch := ModelServerChoice("v0.18.1", tags)
	want := []string{"v1.0.0", "v0.19.10", "v0.19.2", "v0.19.0", "v0.18.1"}
	if !slices.Equal(ch.Available, want) || ch.Recommended != "v1.0.0" {
		t.Fatalf("choice = %+v, want available %q", ch, want)
	}
	if ch := ModelServerChoice("v1.0.0", tags); !slices.Equal(ch.Available, []string{"v1.0.0"}) || ch.Recommended != "v1.0.0" {
		t.Errorf("at the newest release: %+v", ch)
	}
	if ch := ModelServerChoice("v0.18.1", []string{"latest", "nightly"}); ch.Recommended != "" || len(ch.Available) != 0 {
		t.Errorf("no releases listed: want none recommended, got %+v", ch)
	}
	if _, err := CheckModelServerTarget("v0.19.0rc1", tags, false); app.KindOf(err) != app.KindBadInput {
		t.Errorf("rc tag accepted without --force: %v", err)
	}
	if _, err := CheckModelServerTarget("v0.99.0", tags, true); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown tag: %v", err)
	}
	if w, err := CheckModelServerTarget("v0.19.2", tags, false); err != nil || len(w) != 0 {
		t.Errorf("release tag: %v, %v", w, err)
	}
}

func TestReadTagsFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tags.txt")
	os.WriteFile(path, []byte("# from crane ls\nself-hosted-v18.5.0-ee\n\n  self-hosted-v18.5.1-ee  \r\nlatest\n"), 0o644)
	tags, err := ReadTagsFile(path)
	if err != nil || !slices.Equal(tags, []string{"self-hosted-v18.5.0-ee", "self-hosted-v18.5.1-ee", "latest"}) {
		t.Fatalf("tags = %q, %v", tags, err)
	}
	if _, err := ReadTagsFile(filepath.Join(t.TempDir(), "missing.txt")); app.KindOf(err) != app.KindBadInput {
		t.Errorf("missing file: %v", err)
	}
	for name, body := range map[string][]byte{
		"binary":       {0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0xff, 0xfe, '\n'},
		"table":        []byte("REPOSITORY TAG\nself-hosted-v18.5.0-ee\n"),
		"one long run": bytes.Repeat([]byte{'a'}, 200_000),
	} {
		bad := filepath.Join(t.TempDir(), name)
		os.WriteFile(bad, body, 0o644)
		if _, err := ReadTagsFile(bad); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "tags file") {
			t.Errorf("%s: %v, want bad input about the tags file", name, err)
		}
	}
}

// TestDigests_InProcessRegistry asks a real OCI registry (go-containerregistry's, in process) for digests.
func TestDigests_InProcessRegistry(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/gw"
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.ParseReference(repo + ":self-hosted-v18.5.0-ee")
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	got := Digests(context.Background(), repo, []string{"self-hosted-v18.5.0-ee", "missing"})
	if got["self-hosted-v18.5.0-ee"] != want.String() || len(got) != 1 {
		t.Fatalf("digests = %v, want %s for the one tag", got, want)
	}
	tags, err := ListTags(context.Background(), repo)
	if err != nil || !slices.Equal(tags, []string{"self-hosted-v18.5.0-ee"}) {
		t.Fatalf("ListTags = %q, %v", tags, err)
	}
}
