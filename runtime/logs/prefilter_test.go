package logs

import (
	"regexp"
	"slices"
	"testing"
)

func TestPrefilter_Literals(t *testing.T) {
	cases := []struct {
		re   string
		want []string
	}{
		{`KV cache|CUDA out of memory`, []string{"KV cache", "CUDA out of memory"}},
		{`status_code": 5\d\d`, []string{`status_code": 5`}},
		{`line 4\d{2}0$`, []string{"line 4"}},
		{`(?i)error`, nil},
		{`a*`, nil},
		{`x|y*`, nil},
		{`^\d+ (ERROR|WARNING) `, []string{"ERROR", "WARNING"}},
		{`(foo)+bar`, []string{"foo"}},
	}
	for _, c := range cases {
		got := newPrefilter(regexp.MustCompile(c.re)).any
		slices.Sort(got)
		want := slices.Clone(c.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", c.re, got, want)
		}
	}
}

// FuzzPrefilter_NeverHidesAMatch: a line the regexp matches always passes.
func FuzzPrefilter_NeverHidesAMatch(f *testing.F) {
	f.Add(`KV cache|CUDA`, "the KV cache is full")
	f.Add(`(a|b)c+d`, "xxbccd")
	f.Add(`^\d+ (ERROR|WARNING) `, "12 ERROR x")
	f.Fuzz(func(t *testing.T, pattern, line string) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		if re.MatchString(line) && !newPrefilter(re).pass(line) {
			t.Fatalf("prefilter %q hides a match of %q in %q", newPrefilter(re).any, pattern, line)
		}
	})
}
