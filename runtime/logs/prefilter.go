package logs

import (
	"regexp"
	"regexp/syntax"
	"strings"
)

// prefilter is a cheap test a line must pass before a regexp can match it:
// the line contains at least one of the literals. It lets a search skip the
// regexp engine for most lines (grep does the same), so searching the whole
// ring stays close to grep's speed.
type prefilter struct {
	any []string // nil: no prefilter, run the regexp on every line
}

// newPrefilter derives the literals from the regexp's syntax tree; when it
// cannot tell (for example `a*`, case-insensitive parts, classes), it returns
// a prefilter that passes everything.
func newPrefilter(re *regexp.Regexp) prefilter {
	if re == nil {
		return prefilter{}
	}
	tree, err := syntax.Parse(re.String(), syntax.Perl)
	if err != nil {
		return prefilter{}
	}
	lits := requiredAny(tree.Simplify())
	if len(lits) == 0 || len(lits) > 16 {
		return prefilter{}
	}
	for _, l := range lits {
		if l == "" {
			return prefilter{}
		}
	}
	return prefilter{any: lits}
}

func (p prefilter) pass(s string) bool {
	if p.any == nil {
		return true
	}
	for _, l := range p.any {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// requiredAny returns literals of which every match contains at least one,
// or nil when no such set is known.
func requiredAny(re *syntax.Regexp) []string {
	switch re.Op {
	case syntax.OpLiteral:
		if re.Flags&syntax.FoldCase != 0 {
			return nil
		}
		return []string{string(re.Rune)}
	case syntax.OpCapture, syntax.OpPlus:
		return requiredAny(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredAny(re.Sub[0])
		}
		return nil
	case syntax.OpConcat:
		// Adjacent literals form one longer literal; otherwise take the
		// child whose shortest literal is longest (the most selective).
		var best []string
		bestScore := 0
		var run strings.Builder
		consider := func(set []string) {
			if s := shortest(set); s > bestScore {
				best, bestScore = set, s
			}
		}
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
				run.WriteString(string(sub.Rune))
				continue
			}
			if run.Len() > 0 {
				consider([]string{run.String()})
				run.Reset()
			}
			consider(requiredAny(sub))
		}
		if run.Len() > 0 {
			consider([]string{run.String()})
		}
		return best
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			set := requiredAny(sub)
			if set == nil {
				return nil
			}
			out = append(out, set...)
		}
		return out
	}
	return nil
}

func shortest(set []string) int {
	if len(set) == 0 {
		return 0
	}
	n := len(set[0])
	for _, s := range set[1:] {
		n = min(n, len(s))
	}
	return n
}
