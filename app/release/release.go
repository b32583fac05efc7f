// Package release picks the AI Gateway image tag for a GitLab version
// (facts/gitlab-ai-gateway.md §1.2): GitLab 17.1–17.3 use gitlab-vX.Y.0;
// 17.4 and later use the newest self-hosted-vX.Y.Z-ee for the same X.Y, by
// numeric patch order. latest, nightly builds, semantic-release vX.Y.Z tags
// and FIPS images are never chosen. The functions are pure: the caller lists
// the registry's tags.
package release

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
)

// selfHostedRE matches self-hosted-vX.Y.Z-ee (and the v-less spelling some 17.x docs use).
var selfHostedRE = regexp.MustCompile(`^self-hosted-(v?)(\d+)\.(\d+)\.(\d+)-ee$`)

// FirstSelfHosted is the first GitLab minor release with self-hosted-* gateway tags.
var FirstSelfHosted = version.GitLab{Major: 17, Minor: 4, Patch: -1}

// Candidate is a gateway tag matching a GitLab minor release.
type Candidate struct {
	Tag   string
	Patch int
}

// Candidates lists the tags in tags that fit GitLab v (same X.Y), newest patch first.
func Candidates(v version.GitLab, tags []string) []Candidate {
	if !v.AtLeast(FirstSelfHosted.Major, FirstSelfHosted.Minor) {
		want := LegacyTag(v)
		for _, t := range tags {
			if t == want {
				return []Candidate{{Tag: t}}
			}
		}
		return nil
	}
	best := map[int]Candidate{}
	withV := map[int]bool{}
	for _, t := range tags {
		m := selfHostedRE.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[2])
		minor, _ := strconv.Atoi(m[3])
		patch, _ := strconv.Atoi(m[4])
		if major != v.Major || minor != v.Minor {
			continue
		}
		// Both spellings of one patch: prefer the "v" one the release tooling uses.
		if _, seen := best[patch]; seen && (withV[patch] || m[1] == "") {
			continue
		}
		best[patch] = Candidate{Tag: t, Patch: patch}
		withV[patch] = m[1] == "v"
	}
	out := make([]Candidate, 0, len(best))
	for _, c := range best {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ { // insertion sort, newest patch first
		for j := i; j > 0 && out[j].Patch > out[j-1].Patch; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// GatewayTag returns the tag to run for GitLab v, chosen from the registry's tags.
func GatewayTag(v version.GitLab, tags []string) (string, error) {
	if err := checkVersion(v); err != nil {
		return "", err
	}
	c := Candidates(v, tags)
	if len(c) == 0 {
		return "", app.BadInput("check the GitLab version; if it was released only days ago, the gateway image may not be out yet — retry later",
			"the gateway registry has no tag for GitLab %s (looked for %s)", v.MinorString(), pattern(v))
	}
	return c[0].Tag, nil
}

// OfflineTag is the tag for v when the registry cannot be listed: the
// X.Y.0 release, which exists for every minor version.
func OfflineTag(v version.GitLab) (string, error) {
	if err := checkVersion(v); err != nil {
		return "", err
	}
	if !v.AtLeast(FirstSelfHosted.Major, FirstSelfHosted.Minor) {
		return LegacyTag(v), nil
	}
	return fmt.Sprintf("self-hosted-v%d.%d.0-ee", v.Major, v.Minor), nil
}

// LegacyTag is the 17.1–17.3 tag gitlab-vX.Y.0.
func LegacyTag(v version.GitLab) string { return fmt.Sprintf("gitlab-v%d.%d.0", v.Major, v.Minor) }

func pattern(v version.GitLab) string {
	if !v.AtLeast(FirstSelfHosted.Major, FirstSelfHosted.Minor) {
		return LegacyTag(v)
	}
	return fmt.Sprintf("self-hosted-v%d.%d.*-ee", v.Major, v.Minor)
}

func checkVersion(v version.GitLab) error {
	if !v.HasMinor() {
		return app.BadInput("give the minor release too, for example 17.9", "GitLab version %q has no minor release", v.String())
	}
	if !v.AtLeast(17, 1) {
		return app.BadInput("upgrade GitLab to 17.1 or later", "GitLab %s has no self-hosted AI Gateway (Duo Self-Hosted starts with 17.1)", v.MinorString())
	}
	return nil
}
