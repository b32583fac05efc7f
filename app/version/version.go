// Package version parses and compares GitLab versions as users write them:
// "17", "17.2", "17.2.1", "v17.2.1-ee", "17.2.1-ee".
package version

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// GitLab is a GitLab release. Patch is -1 when the user gave only X.Y,
// Minor is -1 when only X was given.
type GitLab struct {
	Major, Minor, Patch int
	Edition             string // "ee", "ce" or ""
}

var gitlabRE = regexp.MustCompile(`^v?(\d{1,3})(?:\.(\d{1,3}))?(?:\.(\d{1,3}))?(?:-(ee|ce))?$`)

// Parse accepts "17", "17.2", "17.2.1", with an optional leading "v" and an
// optional "-ee"/"-ce" suffix.
func Parse(s string) (GitLab, error) {
	m := gitlabRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m == nil {
		return GitLab{}, fmt.Errorf("%q is not a GitLab version: write it as X.Y or X.Y.Z, for example 17.9 or 18.2.1-ee", s)
	}
	v := GitLab{Minor: -1, Patch: -1, Edition: m[4]}
	v.Major, _ = strconv.Atoi(m[1])
	if m[2] != "" {
		v.Minor, _ = strconv.Atoi(m[2])
	}
	if m[3] != "" {
		v.Patch, _ = strconv.Atoi(m[3])
	}
	return v, nil
}

// MustParse is Parse for constants in code and tests.
func MustParse(s string) GitLab {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// HasMinor reports whether the version names a minor release (X.Y at least).
func (v GitLab) HasMinor() bool { return v.Minor >= 0 }

// String gives "X", "X.Y" or "X.Y.Z", without edition.
func (v GitLab) String() string {
	switch {
	case v.Minor < 0:
		return strconv.Itoa(v.Major)
	case v.Patch < 0:
		return fmt.Sprintf("%d.%d", v.Major, v.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch)
}

// MinorString gives "X.Y".
func (v GitLab) MinorString() string { return fmt.Sprintf("%d.%d", v.Major, max(v.Minor, 0)) }

// Compare orders by major and minor, then patch (a missing part counts as 0).
func (v GitLab) Compare(o GitLab) int {
	for _, d := range [][2]int{{v.Major, o.Major}, {max(v.Minor, 0), max(o.Minor, 0)}, {max(v.Patch, 0), max(o.Patch, 0)}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// SameMinor reports whether v and o name the same X.Y release.
func (v GitLab) SameMinor(o GitLab) bool {
	return v.Major == o.Major && max(v.Minor, 0) == max(o.Minor, 0)
}

// AtLeast reports v >= X.Y (patch ignored).
func (v GitLab) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && max(v.Minor, 0) >= minor)
}

// Range is an inclusive range of minor releases; a zero To means open-ended.
type Range struct {
	From GitLab
	To   GitLab
	Open bool
}

// ParseRange reads "17.2-17.4", "18.5-" (open) or a single "17.5".
func ParseRange(s string) (Range, error) {
	from, to, found := strings.Cut(strings.TrimSpace(s), "-")
	f, err := Parse(from)
	if err != nil || !f.HasMinor() {
		return Range{}, fmt.Errorf("bad version range %q: want X.Y-X.Y, X.Y- or X.Y", s)
	}
	if !found {
		return Range{From: f, To: f}, nil
	}
	if strings.TrimSpace(to) == "" {
		return Range{From: f, Open: true}, nil
	}
	t, err := Parse(to)
	if err != nil || !t.HasMinor() || t.Compare(f) < 0 {
		return Range{}, fmt.Errorf("bad version range %q: want X.Y-X.Y with the first not after the second", s)
	}
	return Range{From: f, To: t}, nil
}

// Contains reports whether v's minor release lies in r.
func (r Range) Contains(v GitLab) bool {
	m := GitLab{Major: v.Major, Minor: max(v.Minor, 0)}
	if m.Compare(GitLab{Major: r.From.Major, Minor: r.From.Minor}) < 0 {
		return false
	}
	return r.Open || m.Compare(GitLab{Major: r.To.Major, Minor: r.To.Minor}) <= 0
}

func (r Range) String() string {
	switch {
	case r.Open:
		return r.From.MinorString() + "+"
	case r.From.Compare(r.To) == 0:
		return r.From.MinorString()
	}
	return r.From.MinorString() + "–" + r.To.MinorString()
}
