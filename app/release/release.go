// Package release picks the AI Gateway image tag for a GitLab version by the
// tag rule of DuoBox's GitLab version table (app/gitlabversions): gitlab-vX.Y.0
// (17.1–17.3), or the newest self-hosted-vX.Y.Z-ee for the same X.Y, by
// numeric patch order (17.4 on). latest, nightly builds, semantic-release vX.Y.Z tags
// and FIPS images are never chosen. The functions are pure: the caller lists
// the registry's tags.
package release

import (
	"strconv"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/version"
)

// selfHostedRE matches self-hosted-vX.Y.Z-ee (and the v-less spelling some 17.x docs use).
var selfHostedRE = app.LazyRegexp(`^self-hosted-(v?)(\d+)\.(\d+)\.(\d+)-ee$`)

// Candidate is a gateway tag matching a GitLab minor release.
type Candidate struct {
	Tag   string
	Patch int
}

// Candidates lists the tags in tags that fit GitLab v (same X.Y), newest patch first.
func Candidates(v version.GitLab, tags []string) []Candidate {
	if !selfHosted(v) {
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
		m := selfHostedRE().FindStringSubmatch(t)
		if m == nil {
			continue
		}
		major, _ := strconv.Atoi(m[2])
		minor, _ := strconv.Atoi(m[3])
		patch, _ := strconv.Atoi(m[4])
		if !v.SameMinor(version.GitLab{Major: major, Minor: minor, Patch: -1}) {
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
	if !selfHosted(v) {
		return LegacyTag(v), nil
	}
	return "self-hosted-v" + v.MinorString() + ".0-ee", nil
}

// LegacyTag is the 17.1–17.3 tag gitlab-vX.Y.0.
func LegacyTag(v version.GitLab) string { return "gitlab-v" + v.MinorString() + ".0" }

func pattern(v version.GitLab) string {
	if !selfHosted(v) {
		return LegacyTag(v)
	}
	return "self-hosted-v" + v.MinorString() + ".*-ee"
}

func checkVersion(v version.GitLab) error {
	_, err := gitlabversions.For(v)
	return err
}

// SelfHostedTags reports whether GitLab v's gateway images are tagged
// self-hosted-vX.Y.Z-ee (false for a version outside the table).
func SelfHostedTags(v version.GitLab) bool { return selfHosted(v) }

func selfHosted(v version.GitLab) bool {
	r, err := gitlabversions.For(v)
	return err == nil && r.SelfHostedTags()
}
