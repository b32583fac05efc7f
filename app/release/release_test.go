package release

import (
	"errors"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
)

var registryTags = []string{
	"latest", "v1.0.0", "v1.11.0", "gitlab-v17.2.0", "gitlab-v17.3.0", "gitlab-v17.2",
	"self-hosted-v17.9.0-ee", "self-hosted-v17.9.2-ee", "self-hosted-v17.9.10-ee", "self-hosted-17.9.11-ee",
	"self-hosted-v17.9.11-ee", "self-hosted-v17.10.0-ee", "self-hosted-v18.2.0-ee", "self-hosted-v18.2.1-ee",
	"self-hosted-v18.2.2-ee", "self-hosted-v18.2.3-rc1-ee", "nightly", "a1b2c3d4", "self-hosted-v18.5.0-ee",
}

func TestGatewayTag(t *testing.T) {
	for _, tc := range []struct{ gitlab, want string }{
		{"17.2", "gitlab-v17.2.0"},
		{"17.3.5-ee", "gitlab-v17.3.0"},
		{"17.9", "self-hosted-v17.9.11-ee"}, // numeric patch order (11 > 10 > 2), "v" spelling preferred
		{"18.2.1-ee", "self-hosted-v18.2.2-ee"},
		{"18.5", "self-hosted-v18.5.0-ee"},
	} {
		got, err := GatewayTag(version.MustParse(tc.gitlab), registryTags)
		if err != nil || got != tc.want {
			t.Errorf("GatewayTag(%s) = %q, %v; want %q", tc.gitlab, got, err, tc.want)
		}
	}
}

func TestGatewayTagRefusals(t *testing.T) {
	for _, v := range []string{"17.0", "16.11", "18", "17.5"} {
		_, err := GatewayTag(version.MustParse(v), registryTags)
		var p *app.Problem
		if !errors.As(err, &p) || p.Kind != app.KindBadInput || p.Fix == "" {
			t.Errorf("GatewayTag(%s): want a bad-input problem with a fix, got %v", v, err)
		}
	}
}

func TestOfflineTag(t *testing.T) {
	for v, want := range map[string]string{"17.1": "gitlab-v17.1.0", "17.4": "self-hosted-v17.4.0-ee", "18.5.2": "self-hosted-v18.5.0-ee"} {
		if got, err := OfflineTag(version.MustParse(v)); err != nil || got != want {
			t.Errorf("OfflineTag(%s) = %q, %v; want %q", v, got, err, want)
		}
	}
}

func TestCandidatesIgnoresOtherMinors(t *testing.T) {
	c := Candidates(version.MustParse("17.10"), registryTags)
	if len(c) != 1 || c[0].Tag != "self-hosted-v17.10.0-ee" {
		t.Fatalf("Candidates(17.10) = %v", c)
	}
}
