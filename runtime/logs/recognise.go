package logs

import (
	_ "embed"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Event is what a recogniser made of a line: a stable Kind, a plain-language
// Summary and the Fix to apply. Values holds the numbers the line carried
// (for example the KV cache size vLLM reported), keyed by the pattern's
// group names.
type Event struct {
	Kind     string            `json:"kind"`
	Severity Level             `json:"severity"`
	Summary  string            `json:"summary"`
	Fix      string            `json:"fix"`
	Values   map[string]string `json:"values,omitempty"`
}

//go:embed recognisers.yaml
var builtinRules []byte

// Rule is one recogniser as written in recognisers.yaml.
type Rule struct {
	Kind     string    `yaml:"kind"`
	Source   string    `yaml:"source"`
	Severity string    `yaml:"severity"`
	Hint     Hints     `yaml:"hint"`
	Pattern  string    `yaml:"pattern"`
	Summary  string    `yaml:"summary"`
	Fix      string    `yaml:"fix"`
	Examples []Example `yaml:"examples"`
	Not      []string  `yaml:"not"`
}

// Hints are literals of which a line must contain one before the rule's
// regexp runs; YAML gives one string or a list.
type Hints []string

// UnmarshalYAML accepts a string or a list of strings.
func (h *Hints) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*h = Hints{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*h = list
	return nil
}

func (h Hints) in(text string) bool {
	for _, s := range h {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}

// byteSet is the set of the byte values a text contains, each folded onto
// its low 7 bits (so a byte above 127 also marks the ASCII byte it folds
// onto). A text can contain a literal only if its set holds every byte of the
// literal, so one pass over a line rules out most hints without searching
// for each; folding only ever lets a line through, never rules one out.
type byteSet [2]uint64

func bytesOf(text string) byteSet {
	var low, high uint64 // bytes 0–63 and 64–127, in registers
	for i := 0; i < len(text); i++ {
		c := text[i]
		bit := uint64(1) << (c & 63)
		upper := -uint64(c >> 6 & 1) // all ones for 64–127 (and 192–255)
		low |= bit &^ upper
		high |= bit & upper
	}
	return byteSet{low, high}
}

// holds reports whether every byte of sub is in s.
func (s *byteSet) holds(sub *byteSet) bool {
	return sub[0]&^s[0]|sub[1]&^s[1] == 0
}

// Example is a line a rule must fire on, with the values it must yield.
type Example struct {
	Text   string            `yaml:"text"`
	Values map[string]string `yaml:"values"`
}

// Recognisers matches lines against a rule set. Safe for concurrent use.
type Recognisers struct {
	rules []compiledRule
}

type compiledRule struct {
	Rule
	hintBytes []byteSet // one per hint
	severity  Level
	re        *regexp.Regexp
	summary   *template.Template
	fix       *template.Template
}

// Builtin returns the recognisers embedded from recognisers.yaml.
func Builtin() *Recognisers {
	r, err := ParseRules(builtinRules)
	if err != nil {
		panic("runtime/logs: embedded recognisers.yaml: " + err.Error()) // a test guards this
	}
	return r
}

// ParseRules compiles a YAML rule list; every rule needs a kind, a hint the
// pattern's matches contain, a valid pattern and valid templates.
func ParseRules(data []byte) (*Recognisers, error) {
	var rules []Rule
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("parse recognisers: %w", err)
	}
	out := &Recognisers{}
	for i, r := range rules {
		if r.Kind == "" || len(r.Hint) == 0 || slices.Contains(r.Hint, "") || r.Pattern == "" || r.Summary == "" {
			return nil, fmt.Errorf("recogniser %d (%q): kind, hint, pattern and summary are required", i+1, r.Kind)
		}
		sev, ok := ParseLevel(r.Severity)
		if !ok {
			return nil, fmt.Errorf("recogniser %q: severity %q is not a level", r.Kind, r.Severity)
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("recogniser %q: pattern: %w", r.Kind, err)
		}
		sum, err := template.New("summary").Option("missingkey=zero").Parse(r.Summary)
		if err != nil {
			return nil, fmt.Errorf("recogniser %q: summary: %w", r.Kind, err)
		}
		fix, err := template.New("fix").Option("missingkey=zero").Parse(r.Fix)
		if err != nil {
			return nil, fmt.Errorf("recogniser %q: fix: %w", r.Kind, err)
		}
		hintBytes := make([]byteSet, len(r.Hint))
		for j, h := range r.Hint {
			hintBytes[j] = bytesOf(h)
		}
		out.rules = append(out.rules, compiledRule{Rule: r, hintBytes: hintBytes, severity: sev, re: re, summary: sum, fix: fix})
	}
	return out, nil
}

// Rules returns the rules as written (for tests and documentation).
func (rs *Recognisers) Rules() []Rule {
	out := make([]Rule, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = r.Rule
	}
	return out
}

// Recognise returns the event of the first rule that matches text, or nil.
func (rs *Recognisers) Recognise(text string) *Event {
	if rs == nil {
		return nil
	}
	line := bytesOf(text)
	for i := range rs.rules {
		r := &rs.rules[i]
		if !r.mayContainHint(&line) || !r.Hint.in(text) {
			continue
		}
		m := r.re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		values := map[string]string{}
		for j, name := range r.re.SubexpNames() {
			if name != "" {
				values[name] = m[j]
			}
		}
		ev := &Event{Kind: r.Kind, Severity: r.severity, Values: values}
		ev.Summary = render(r.summary, values)
		ev.Fix = render(r.fix, values)
		if len(values) == 0 {
			ev.Values = nil
		}
		return ev
	}
	return nil
}

// mayContainHint reports whether a line with these bytes could contain one
// of the rule's hints (false: it cannot; true: search for them).
func (r *compiledRule) mayContainHint(line *byteSet) bool {
	for j := range r.hintBytes {
		if line.holds(&r.hintBytes[j]) {
			return true
		}
	}
	return false
}

func render(t *template.Template, values map[string]string) string {
	var b strings.Builder
	if err := t.Execute(&b, values); err != nil {
		return t.Root.String()
	}
	return b.String()
}
