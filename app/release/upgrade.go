package release

// Upgrade choices: which tags a running gateway or model server may move
// to, which one DuoBox recommends, and which targets it refuses (and why).

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
)

// TagKind classifies a gateway image tag.
type TagKind string

// Gateway tag kinds (facts/gitlab-ai-gateway.md §1.2).
const (
	KindSelfHosted TagKind = "self-hosted" // self-hosted-vX.Y.Z-ee: GitLab 17.4 and later
	KindFIPS       TagKind = "fips"        // a FIPS build of a self-hosted tag
	KindLegacy     TagKind = "legacy"      // gitlab-vX.Y.0: GitLab 17.1–17.3
	KindSemantic   TagKind = "semantic"    // vX.Y.Z semantic-release: not for self-hosted use
	KindLatest     TagKind = "latest"
	KindNightly    TagKind = "nightly" // nightly builds and commit-SHA tags
	KindOther      TagKind = "other"
)

var (
	anySelfHostedRE = app.LazyRegexp(`^self-hosted-(?:fips-)?v?(\d+)\.(\d+)\.(\d+)-ee(-fips)?$`)
	legacyRE        = app.LazyRegexp(`^gitlab-v?(\d+)\.(\d+)(?:\.(\d+))?$`)
	semanticRE      = app.LazyRegexp(`^v?(\d+)\.(\d+)\.(\d+)$`)
	shaRE           = app.LazyRegexp(`^[0-9a-f]{7,40}$`)
)

// TagInfo is what a gateway tag says about itself.
type TagInfo struct {
	Tag     string
	Kind    TagKind
	Version version.GitLab // the GitLab release the tag is for (self-hosted, FIPS, legacy); zero otherwise
}

// Classify reads a gateway tag.
func Classify(tag string) TagInfo {
	info := TagInfo{Tag: tag, Kind: KindOther}
	num := func(s string) int { n, _ := strconv.Atoi(s); return n }
	switch {
	case tag == "latest":
		info.Kind = KindLatest
	case strings.Contains(tag, "nightly") || shaRE().MatchString(tag):
		info.Kind = KindNightly
	case anySelfHostedRE().MatchString(tag):
		m := anySelfHostedRE().FindStringSubmatch(tag)
		info.Kind = KindSelfHosted
		if strings.Contains(tag, "fips") {
			info.Kind = KindFIPS
		}
		info.Version = version.GitLab{Major: num(m[1]), Minor: num(m[2]), Patch: num(m[3])}
	case legacyRE().MatchString(tag):
		m := legacyRE().FindStringSubmatch(tag)
		info.Kind = KindLegacy
		info.Version = version.GitLab{Major: num(m[1]), Minor: num(m[2]), Patch: -1}
		if m[3] != "" {
			info.Version.Patch = num(m[3])
		}
	case semanticRE().MatchString(tag):
		info.Kind = KindSemantic
	}
	return info
}

// forGitLab reports whether the tag is a release tag (self-hosted, FIPS or legacy).
func (t TagInfo) forGitLab() bool {
	return t.Kind == KindSelfHosted || t.Kind == KindFIPS || t.Kind == KindLegacy
}

// Choice is what a registry offers for one image, seen from the running version.
type Choice struct {
	Available   []string `json:"available"`   // tags that fit, newest first
	Recommended string   `json:"recommended"` // "" when none fits
	Warnings    []string `json:"warnings,omitempty"`
}

// GatewayChoice lists the gateway tags that fit GitLab v (same X.Y, newest
// patch first; FIPS builds instead when fips is set) and warns about tags
// made for a newer GitLab than v, and about a current tag that does not fit.
func GatewayChoice(v version.GitLab, current string, tags []string, fips bool) (Choice, error) {
	if err := checkVersion(v); err != nil {
		return Choice{}, err
	}
	var ch Choice
	if fips {
		ch.Available = fipsCandidates(v, tags)
	} else {
		for _, c := range Candidates(v, tags) {
			ch.Available = append(ch.Available, c.Tag)
		}
	}
	if len(ch.Available) > 0 {
		ch.Recommended = ch.Available[0]
	}
	var newer []string
	for _, t := range tags {
		if info := Classify(t); info.forGitLab() && newerMinor(info.Version, v) && (info.Kind == KindFIPS) == fips {
			newer = append(newer, t)
		}
	}
	if len(newer) > 0 {
		slices.SortFunc(newer, func(a, b string) int { return Classify(b).Version.Compare(Classify(a).Version) })
		ch.Warnings = append(ch.Warnings, fmt.Sprintf("%d tag(s) are for a GitLab newer than yours (%s), e.g. %s: do not run them before GitLab itself is upgraded — a gateway newer than GitLab answers 403 (DCR4005)",
			len(newer), v.MinorString(), newer[0]))
	}
	if current != "" {
		if w := currentMismatch(v, current); w != "" {
			ch.Warnings = append(ch.Warnings, w)
		}
	}
	return ch, nil
}

func fipsCandidates(v version.GitLab, tags []string) []string {
	var out []TagInfo
	for _, t := range tags {
		info := Classify(t)
		if info.Kind == KindFIPS && info.Version.SameMinor(v) {
			out = append(out, info)
		}
	}
	slices.SortStableFunc(out, func(a, b TagInfo) int { return b.Version.Patch - a.Version.Patch })
	tagsOut := make([]string, 0, len(out))
	for i, info := range out {
		if i > 0 && out[i-1].Version.Patch == info.Version.Patch {
			continue // two spellings of one patch: keep the first
		}
		tagsOut = append(tagsOut, info.Tag)
	}
	return tagsOut
}

func newerMinor(tag, gitlab version.GitLab) bool {
	return !tag.SameMinor(gitlab) && tag.Compare(gitlab) > 0
}

func currentMismatch(v version.GitLab, current string) string {
	info := Classify(current)
	switch {
	case !info.forGitLab():
		return ""
	case newerMinor(info.Version, v):
		return fmt.Sprintf("the running gateway %s is for GitLab %s, newer than your GitLab %s: expect 403s until GitLab is upgraded, or move to a %s tag",
			current, info.Version.MinorString(), v.MinorString(), v.MinorString())
	case !info.Version.SameMinor(v):
		return fmt.Sprintf("the running gateway %s is for GitLab %s, not %s: upgrade it to the recommended tag", current, info.Version.MinorString(), v.MinorString())
	}
	return ""
}

// CheckGatewayTarget decides whether tag may replace the running gateway for
// GitLab v. tags is the registry's list (nil when it could not be read: the
// tag's existence is then left to the pull). Tags that do not follow the rule
// (another GitLab minor, latest, nightly, semantic-release) are refused unless
// force, and then come back as warnings.
func CheckGatewayTarget(v version.GitLab, tag string, tags []string, force bool) (warnings []string, err error) {
	if err := checkVersion(v); err != nil {
		return nil, err
	}
	if tags != nil && !slices.Contains(tags, tag) {
		return nil, unknownTag(tag, tags)
	}
	info := Classify(tag)
	var why, fix string
	switch {
	case info.forGitLab() && !info.Version.SameMinor(v):
		rel := "older"
		if newerMinor(info.Version, v) {
			rel = "newer"
		}
		why = fmt.Sprintf("tag %s is for GitLab %s, %s than your GitLab %s; the gateway must match GitLab's minor release or GitLab's calls fail (403, DCR4005)",
			tag, info.Version.MinorString(), rel, v.MinorString())
		fix = fmt.Sprintf("pick a %s tag ('duobox upgrade --check' lists them), upgrade GitLab first (then set gitlab.version), or pass --force to run it anyway", pattern(v))
	case info.Kind == KindLatest || info.Kind == KindNightly:
		why = fmt.Sprintf("tag %s is a moving %s build, not a release: GitLab advises against it for self-hosted gateways", tag, info.Kind)
		fix = fmt.Sprintf("pick a %s tag, or pass --force to run it anyway", pattern(v))
	case info.Kind == KindSemantic:
		why = fmt.Sprintf("tag %s is a semantic-release tag, which no self-hosted or production setup uses", tag)
		fix = fmt.Sprintf("pick a %s tag, or pass --force to run it anyway", pattern(v))
	case info.Kind == KindOther:
		why = fmt.Sprintf("tag %s does not follow the gateway's release naming (%s)", tag, pattern(v))
		fix = "check the tag, or pass --force to run it anyway"
	}
	if why == "" {
		return nil, nil
	}
	if !force {
		return nil, app.BadInput(fix, "%s", why)
	}
	return []string{why + " (running it because of --force)"}, nil
}

func unknownTag(tag string, tags []string) error {
	return app.BadInput("run 'duobox upgrade --check' to list the tags that exist, and check the spelling",
		"tag %q does not exist in the registry (%d tags listed)", tag, len(tags))
}

// stableVLLM matches vLLM's release tags (v0.18.1); rc, nightly, CUDA-variant
// and latest tags are not releases.
var stableVLLM = app.LazyRegexp(`^v(\d+)\.(\d+)\.(\d+)$`)

// ModelServerChoice lists the model server's release tags newest first,
// keeping only those at or above the pinned current tag; the recommendation is
// the newest. The model server never moves by itself: this is what an
// upgrade on request would take.
func ModelServerChoice(current string, tags []string) Choice {
	cur, curOK := semver(current)
	var rel [][3]int
	byVer := map[[3]int]string{}
	for _, t := range tags {
		v, ok := semver(t)
		if !ok || curOK && compareSemver(v, cur) < 0 {
			continue
		}
		if _, dup := byVer[v]; !dup {
			rel = append(rel, v)
			byVer[v] = t
		}
	}
	slices.SortFunc(rel, func(a, b [3]int) int { return compareSemver(b, a) })
	var ch Choice
	for _, v := range rel {
		ch.Available = append(ch.Available, byVer[v])
	}
	if len(ch.Available) > 0 {
		ch.Recommended = ch.Available[0]
	}
	if !curOK && current != "" {
		ch.Warnings = append(ch.Warnings, fmt.Sprintf("the model server tag %s is not a release tag (vX.Y.Z); DuoBox pins releases", current))
	}
	return ch
}

// CheckModelServerTarget decides whether tag may replace the model server's
// image: it must exist (when tags is known) and be a release unless force.
func CheckModelServerTarget(tag string, tags []string, force bool) (warnings []string, err error) {
	if tags != nil && !slices.Contains(tags, tag) {
		return nil, unknownTag(tag, tags)
	}
	if _, ok := semver(tag); ok {
		return nil, nil
	}
	why := fmt.Sprintf("tag %s is not a vLLM release (vX.Y.Z): nightly, rc and latest tags change under you", tag)
	if !force {
		return nil, app.BadInput("pick a release tag ('duobox upgrade --check model' lists them), or pass --force to run it anyway", "%s", why)
	}
	return []string{why + " (running it because of --force)"}, nil
}

func semver(tag string) ([3]int, bool) {
	m := stableVLLM().FindStringSubmatch(tag)
	if m == nil {
		return [3]int{}, false
	}
	var v [3]int
	for i := range v {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, true
}

func compareSemver(a, b [3]int) int {
	for i := range a {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return 0
}

// ReadTagsFile reads one tag per line (blank lines and # comments skipped):
// the offline stand-in for listing a registry. A line that is not an image
// tag (a binary file, a pasted table) is bad input naming the line.
func ReadTagsFile(path string) ([]string, error) {
	const fix = "give a text file with one image tag per line (for example the output of 'crane ls IMAGE')"
	f, err := os.Open(path)
	if err != nil {
		return nil, app.BadInput(fix, "cannot read the tags file %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	tags := []string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !tagPattern().MatchString(line) {
			return nil, app.BadInput(fix, "line %d of the tags file %s is not an image tag: %.40q", n, path, line)
		}
		tags = append(tags, line)
	}
	if err := sc.Err(); err != nil {
		return nil, app.BadInput(fix, "the tags file %s is not a list of tags: %v", path, err)
	}
	return tags, nil
}

// tagPattern is an image tag as the registry API defines it (distribution's
// reference grammar: a word character, then up to 127 of [A-Za-z0-9_.-]).
var tagPattern = app.LazyRegexp(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// Digests asks the registry for the manifest digest of each tag (HEAD
// requests, a few at a time, 10 s in all). Tags it cannot resolve are absent.
func Digests(ctx context.Context, repository string, tags []string) map[string]string {
	out := map[string]string{}
	repo, err := name.NewRepository(repository)
	if err != nil {
		return out
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for _, t := range tags {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			d, err := remote.Head(repo.Tag(t), remote.WithContext(ctx))
			if err != nil {
				return
			}
			mu.Lock()
			out[t] = d.Digest.String()
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}
