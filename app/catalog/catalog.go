// Package catalog holds the GitLab-approved models DuoBox can run: for each,
// where GitLab lists it and for which features, the numbers its memory needs
// depend on, its quantized variants and the vLLM arguments it needs. The data
// itself is embedded in bundles/; a user overlay file can add or override
// entries without ever hiding the bundled ones.
package catalog

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/duobox/duobox/app/version"
)

// Feature is a GitLab Duo feature a model can serve.
type Feature string

// The features DuoBox plans for, in display order.
const (
	CodeCompletion Feature = "code_completion"
	CodeGeneration Feature = "code_generation"
	Chat           Feature = "chat"
	AgentPlatform  Feature = "agent_platform"
)

// CoreFeatures are the three the seed's table lists; recommendations try to cover them.
var CoreFeatures = []Feature{CodeCompletion, CodeGeneration, Chat}

// Label is the feature's name as GitLab's tables write it.
func (f Feature) Label() string {
	switch f {
	case CodeCompletion:
		return "Code Completion"
	case CodeGeneration:
		return "Code Generation"
	case Chat:
		return "Duo Chat"
	case AgentPlatform:
		return "Agent Platform"
	}
	return string(f)
}

// Level is GitLab's word for how well a model serves a feature.
type Level string

// Levels GitLab uses across versions. "yes" is the seed's ✅ (17.2–17.4, no grading).
const (
	LevelYes     Level = "yes"
	LevelFull    Level = "full"
	LevelLargely Level = "largely"
	LevelPartial Level = "partial"
	LevelLimited Level = "limited"
	LevelBeta    Level = "beta"
)

var levelRank = map[Level]int{LevelFull: 5, LevelYes: 5, LevelLargely: 4, LevelPartial: 3, LevelBeta: 2, LevelLimited: 1}

// Rank orders levels: higher is better; 0 for unknown.
func (l Level) Rank() int { return levelRank[l] }

// Status is GitLab's standing of a model in a version range.
type Status string

// Statuses GitLab has used.
const (
	StatusApproved        Status = "approved"
	StatusSupported       Status = "supported"
	StatusBeta            Status = "beta"
	StatusCompatible      Status = "compatible"
	StatusUnderEvaluation Status = "under-evaluation"
)

// Listing is one row of GitLab's model list for a range of versions.
type Listing struct {
	Versions string            `yaml:"versions" json:"versions"` // "17.2-17.4", "18.5-"
	Status   Status            `yaml:"status" json:"status"`
	Features map[Feature]Level `yaml:"features" json:"features"`
	Note     string            `yaml:"note,omitempty" json:"note,omitempty"`
	rng      version.Range
}

// Architecture holds the config.json numbers memory depends on.
type Architecture struct {
	Layers         int    `yaml:"layers" json:"layers"`
	AttentionHeads int    `yaml:"attention_heads" json:"attention_heads"`
	KVHeads        int    `yaml:"kv_heads" json:"kv_heads"`
	HeadDim        int    `yaml:"head_dim" json:"head_dim"`
	MaxContext     int    `yaml:"max_context" json:"max_context"`
	Vocab          int    `yaml:"vocab" json:"vocab"`
	DType          string `yaml:"dtype" json:"dtype"`
	MoE            bool   `yaml:"moe,omitempty" json:"moe,omitempty"`
	// SlidingWindowShare is the fraction of layers with a small sliding window
	// (their KV does not grow with context); 0 for plain full attention.
	SlidingWindowShare float64 `yaml:"sliding_window_share,omitempty" json:"sliding_window_share,omitempty"`
	// SlidingWindow is those layers' window in tokens (config.json sliding_window).
	SlidingWindow int `yaml:"sliding_window,omitempty" json:"sliding_window,omitempty"`
	// Hidden is config.json hidden_size (0: attention_heads × head_dim).
	Hidden int `yaml:"hidden,omitempty" json:"hidden,omitempty"`
	// Experts and ExpertIntermediate describe an MoE whose expert weights are
	// stored in MXFP4 (gpt-oss): vLLM pads them when it loads them, so the
	// loaded size is not the file size.
	Experts            int `yaml:"experts,omitempty" json:"experts,omitempty"`
	ExpertIntermediate int `yaml:"expert_intermediate,omitempty" json:"expert_intermediate,omitempty"`
}

// HiddenSize is Hidden, or attention heads × head dim when the catalog gives none.
func (a Architecture) HiddenSize() int {
	if a.Hidden > 0 {
		return a.Hidden
	}
	return a.AttentionHeads * a.HeadDim
}

// SlidingLayers is how many layers use the sliding window.
func (a Architecture) SlidingLayers() int {
	return int(float64(a.Layers)*a.SlidingWindowShare + 0.5)
}

// KVBytesPerToken is 2 × layers × KV heads per GPU × head dim × dtype bytes,
// KV heads per GPU being max(1, KV heads / tp) (facts/models.md §3.2).
func (a Architecture) KVBytesPerToken(tp, dtypeBytes int) uint64 {
	if tp < 1 {
		tp = 1
	}
	kv := max(1, a.KVHeads/tp)
	layers := float64(a.Layers) * (1 - a.SlidingWindowShare)
	return uint64(2 * layers * float64(kv*a.HeadDim*dtypeBytes))
}

// Upper bounds of the catalog's numbers: well above any model published
// (Llama 3.1 405B has 126 layers, 128 heads, hidden 16384, 128k context;
// DeepSeek-V3 256 experts) and low enough that the memory arithmetic, which
// multiplies them, cannot overflow 64 bits.
const (
	MaxLayers        = 1024
	MaxHeads         = 1024
	MaxHeadDim       = 4096
	MaxContextTokens = 1 << 25 // 32 Mi tokens
	MaxVocab         = 1 << 22
	MaxHidden        = 1 << 17
	MaxExperts       = 4096
	MaxWeightBytes   = 1 << 46 // 64 TiB
)

// outOfRange names each architecture number beyond its bound.
func (a Architecture) outOfRange() []string {
	var out []string
	for _, f := range []struct {
		name     string
		v, limit int
	}{
		{"layers", a.Layers, MaxLayers}, {"attention_heads", a.AttentionHeads, MaxHeads}, {"kv_heads", a.KVHeads, MaxHeads},
		{"head_dim", a.HeadDim, MaxHeadDim}, {"max_context", a.MaxContext, MaxContextTokens}, {"vocab", a.Vocab, MaxVocab},
		{"hidden", a.Hidden, MaxHidden}, {"experts", a.Experts, MaxExperts}, {"expert_intermediate", a.ExpertIntermediate, MaxHidden},
		{"sliding_window", a.SlidingWindow, MaxContextTokens},
	} {
		if f.v > f.limit || f.v < 0 {
			out = append(out, fmt.Sprintf("%s %d is out of range (0–%d)", f.name, f.v, f.limit))
		}
	}
	return out
}

// Variant is a quantized build of a model, an attribute of its model.
type Variant struct {
	Repo        string  `yaml:"repo" json:"repo"`
	Method      string  `yaml:"method" json:"method"` // awq, gptq, fp8
	Bits        int     `yaml:"bits" json:"bits"`
	WeightBytes uint64  `yaml:"weight_bytes" json:"weight_bytes"`
	MinCompute  float64 `yaml:"min_compute_capability,omitempty" json:"min_compute_capability,omitempty"`
	// VLLMArgs are the arguments this checkpoint is served with; required
	// (an empty list is a declaration too). The model's own vllm_args are
	// never added: they describe the original repo's files, not this one's
	// (--load-format mistral reads only consolidated*.safetensors).
	VLLMArgs []string `yaml:"vllm_args" json:"vllm_args"`
	Note     string   `yaml:"note,omitempty" json:"note,omitempty"`
}

// Model is one catalog entry.
type Model struct {
	ID           string       `yaml:"id" json:"id"`
	Name         string       `yaml:"name" json:"name"`
	SeedName     string       `yaml:"seed_name,omitempty" json:"seed_name,omitempty"` // the row name in the seed's table
	HFRepo       string       `yaml:"hf_repo" json:"hf_repo"`
	Family       string       `yaml:"family" json:"family"` // GitLab's model family (Admin UI)
	Gated        bool         `yaml:"gated" json:"gated"`
	Licence      string       `yaml:"licence" json:"licence"`
	Architecture Architecture `yaml:"architecture" json:"architecture"`
	WeightBytes  uint64       `yaml:"weight_bytes" json:"weight_bytes"`
	Quantized    []Variant    `yaml:"quantized,omitempty" json:"quantized,omitempty"`
	VLLMArgs     []string     `yaml:"vllm_args,omitempty" json:"vllm_args,omitempty"`
	// ToolCallParser is vLLM's --tool-call-parser for this family (a name in
	// vLLM's vllm/entrypoints/openai/tool_parsers/__init__.py registry); ""
	// when the model cannot serve Agent Platform tool calls.
	ToolCallParser string    `yaml:"tool_call_parser,omitempty" json:"tool_call_parser,omitempty"`
	GitLab         []Listing `yaml:"gitlab" json:"gitlab"`
	Notes          string    `yaml:"notes,omitempty" json:"notes,omitempty"`
	Source         string    `yaml:"-" json:"source"` // "bundled" or the overlay path
}

// ArgsFor returns the vLLM arguments of the checkpoint repo serves: the
// model's own for its repo, the variant's own for a variant; nil for a repo
// that is neither.
func (m Model) ArgsFor(repo string) []string {
	if strings.EqualFold(repo, m.HFRepo) {
		return m.VLLMArgs
	}
	for _, q := range m.Quantized {
		if strings.EqualFold(q.Repo, repo) {
			return q.VLLMArgs
		}
	}
	return nil
}

// ListingFor returns the listing that covers v, if any.
func (m Model) ListingFor(v version.GitLab) (Listing, bool) {
	for _, l := range m.GitLab {
		if l.rng.Contains(v) {
			return l, true
		}
	}
	return Listing{}, false
}

// FeaturesAt lists the features m serves at v, in display order.
func (m Model) FeaturesAt(v version.GitLab) []Feature {
	l, ok := m.ListingFor(v)
	if !ok {
		return nil
	}
	var out []Feature
	for _, f := range []Feature{CodeCompletion, CodeGeneration, Chat, AgentPlatform} {
		if _, ok := l.Features[f]; ok {
			out = append(out, f)
		}
	}
	return out
}

// Catalog is the validated set of models, in file order.
type Catalog struct {
	Models []Model
}

// File is the on-disk shape of the bundled catalog and of overlays.
type File struct {
	Models []Model `yaml:"models"`
}

// Parse decodes and validates a catalog file (strict: unknown fields are errors).
func Parse(data []byte, source string) (Catalog, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return Catalog{}, fmt.Errorf("%s: %v", source, err)
	}
	c := Catalog{Models: f.Models}
	for i := range c.Models {
		c.Models[i].Source = source
	}
	if err := c.prepare(); err != nil {
		return Catalog{}, fmt.Errorf("%s: %w", source, err)
	}
	return c, nil
}

// prepare validates every entry and parses the version ranges.
func (c *Catalog) prepare() error {
	var errs []string
	ids := map[string]bool{}
	for i := range c.Models {
		m := &c.Models[i]
		where := fmt.Sprintf("model %d (%s)", i+1, m.ID)
		bad := func(format string, args ...any) { errs = append(errs, where+": "+fmt.Sprintf(format, args...)) }
		if m.ID == "" || strings.ContainsAny(m.ID, " /") {
			bad("id %q must be a non-empty slug without spaces or slashes", m.ID)
		}
		if ids[m.ID] {
			bad("id %q appears twice", m.ID)
		}
		ids[m.ID] = true
		if m.Name == "" {
			bad("name is empty")
		}
		if strings.Count(m.HFRepo, "/") != 1 {
			bad("hf_repo %q is not org/name", m.HFRepo)
		}
		a := m.Architecture
		if a.Layers <= 0 || a.KVHeads <= 0 || a.HeadDim <= 0 || a.MaxContext <= 0 || a.AttentionHeads <= 0 {
			bad("architecture needs positive layers, attention_heads, kv_heads, head_dim and max_context")
		}
		for _, r := range a.outOfRange() {
			bad("%s", r)
		}
		if m.WeightBytes > MaxWeightBytes {
			bad("weight_bytes %d is beyond any model (at most %d, 64 TiB)", m.WeightBytes, uint64(MaxWeightBytes))
		}
		if a.KVHeads > a.AttentionHeads {
			bad("kv_heads %d exceeds attention_heads %d", a.KVHeads, a.AttentionHeads)
		}
		if !(a.SlidingWindowShare >= 0 && a.SlidingWindowShare < 1) { // NaN too
			bad("sliding_window_share %.2f must be in [0,1)", a.SlidingWindowShare)
		}
		if (a.SlidingWindowShare > 0) != (a.SlidingWindow > 0) {
			bad("sliding_window_share and sliding_window go together")
		}
		if a.Hidden < 0 || a.Experts < 0 || a.ExpertIntermediate < 0 || (a.Experts > 0) != (a.ExpertIntermediate > 0) {
			bad("hidden, experts and expert_intermediate must be positive, experts with expert_intermediate")
		}
		if m.WeightBytes == 0 {
			bad("weight_bytes is 0")
		}
		for _, q := range m.Quantized {
			if strings.Count(q.Repo, "/") != 1 || q.WeightBytes == 0 || q.WeightBytes >= m.WeightBytes {
				bad("quantized variant %q needs an org/name repo and weight_bytes below the model's", q.Repo)
			}
			if q.Bits < 1 || q.Bits > 16 {
				bad("quantized variant %q: bits %d is not 1–16", q.Repo, q.Bits)
			}
			if !(q.MinCompute >= 0 && q.MinCompute < 100) {
				bad("quantized variant %q: min_compute_capability %v is not a CUDA compute capability", q.Repo, q.MinCompute)
			}
			if q.VLLMArgs == nil {
				bad("quantized variant %q declares no vllm_args: write the arguments this checkpoint is served with (vllm_args: [] when it needs none); the model's own are not used for a variant", q.Repo)
			}
		}
		if len(m.GitLab) == 0 {
			bad("gitlab listings are empty")
		}
		for j := range m.GitLab {
			l := &m.GitLab[j]
			r, err := version.ParseRange(l.Versions)
			if err != nil {
				bad("gitlab[%d]: %v", j, err)
				continue
			}
			l.rng = r
			if !slices.Contains([]Status{StatusApproved, StatusSupported, StatusBeta, StatusCompatible, StatusUnderEvaluation}, l.Status) {
				bad("gitlab[%d]: unknown status %q", j, l.Status)
			}
			for f, lv := range l.Features {
				if !slices.Contains([]Feature{CodeCompletion, CodeGeneration, Chat, AgentPlatform}, f) {
					bad("gitlab[%d]: unknown feature %q", j, f)
				}
				if lv.Rank() == 0 {
					bad("gitlab[%d]: unknown level %q for %s", j, lv, f)
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid catalog:\n  %s", strings.Join(errs, "\n  "))
	}
	return nil
}

// Overlay returns c with the overlay's entries added, an entry with an
// existing id replacing the bundled one. The overlay must be valid as a whole.
func (c Catalog) Overlay(o Catalog) Catalog {
	out := Catalog{Models: slices.Clone(c.Models)}
	for _, m := range o.Models {
		if i := slices.IndexFunc(out.Models, func(x Model) bool { return x.ID == m.ID }); i >= 0 {
			out.Models[i] = m
		} else {
			out.Models = append(out.Models, m)
		}
	}
	return out
}

// Find returns the model with this id or Hugging Face repo (case-insensitive),
// also matching a quantized variant's repo.
func (c Catalog) Find(idOrRepo string) (Model, bool) {
	for _, m := range c.Models {
		if strings.EqualFold(m.ID, idOrRepo) || strings.EqualFold(m.HFRepo, idOrRepo) {
			return m, true
		}
		for _, q := range m.Quantized {
			if strings.EqualFold(q.Repo, idOrRepo) {
				return m, true
			}
		}
	}
	return Model{}, false
}

// ListedAt returns the models GitLab lists (any status) at v.
func (c Catalog) ListedAt(v version.GitLab) []Model {
	var out []Model
	for _, m := range c.Models {
		if _, ok := m.ListingFor(v); ok {
			out = append(out, m)
		}
	}
	return out
}
