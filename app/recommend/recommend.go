// Package recommend decides which GitLab-listed models fit this machine and
// which to run. For each model it gives a verdict with the memory breakdown
// (weights, KV cache at the chosen context, runtime overhead) against free
// VRAM × the utilisation fraction, per vLLM's memory model; then it picks one
// model, or two sharing the GPU, that cover code completion, code generation
// and chat as far as the machine allows.
package recommend

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/units"
	"github.com/duobox/duobox/app/version"
)

// Verdicts.
const (
	Fits          = "fits"            // runs in its own dtype (on one GPU, or tensor-parallel over the GPUs present)
	FitsQuantized = "fits-quantized"  // runs only as the named quantized variant
	NeedsMoreGPUs = "needs-more-gpus" // would run on more cards like this one (GPUsNeeded)
	TooLarge      = "too-large"       // does not fit even on 8 cards like this one
	NeedsGPU      = "needs-gpu"       // the machine has no usable NVIDIA GPU; see MinGPUMemory
)

// Defaults.
const (
	DefaultUtilization = 0.90
	DefaultContext     = 16384
	minUsefulContext   = 4096 // below this, code suggestions lose too much of the file
	maxTensorParallel  = 8
)

// Options tune a recommendation.
type Options struct {
	GitLab      version.GitLab // which GitLab listings apply
	Context     int            // requested context (0: DefaultContext, capped at each model's maximum)
	Utilization float64        // fraction of free VRAM vLLM may use (0: DefaultUtilization)
	// vLLM settings the prediction follows (zero values: vLLM's defaults).
	Engine           string // vLLM version ("": DefaultEngine)
	KVCacheDType     string // --kv-cache-dtype: "" / auto, or fp8
	MaxBatchedTokens int    // --max-num-batched-tokens
	EnforceEager     bool   // --enforce-eager
	// GPUMemoryUtilization is the user's own --gpu-memory-utilization (a
	// fraction of each card's total memory); 0: DuoBox chooses from Utilization.
	GPUMemoryUtilization float64
	TensorParallel       int    // the user's --tensor-parallel-size (0: DuoBox chooses)
	GPUs                 []int  // the GPU indexes to use (nil: all)
	Variant              string // "" (any), "own" (no quantized variant), a method (awq, fp8) or a variant repo
	// Calibrations are real starts measured on this machine's GPU with this
	// vLLM version, by model id: the next prediction follows them.
	Calibrations map[string]Calibration
}

// Check refuses settings vLLM would refuse, saying which and what to do; it
// changes nothing.
func (o Options) Check() error {
	bad := func(v float64) bool { return math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(o.Utilization) || o.Utilization < 0 {
		return app.BadInput("use a fraction between 0.1 and 0.98, for example 0.9", "utilisation %v is not a fraction", o.Utilization)
	}
	if bad(o.GPUMemoryUtilization) || o.GPUMemoryUtilization < 0 || (o.GPUMemoryUtilization > 0 && (o.GPUMemoryUtilization < 0.1 || o.GPUMemoryUtilization > 0.98)) {
		return app.BadInput("give vLLM's --gpu-memory-utilization as a fraction of the GPU's memory between 0.1 and 0.98, for example 0.9, or leave it unset", "GPU memory utilisation %v is out of range", o.GPUMemoryUtilization)
	}
	if err := CheckContext(o.Context); err != nil {
		return err
	}
	if _, err := ParseEngine(o.Engine); err != nil {
		return err
	}
	if err := CheckKVCacheDType(o.KVCacheDType); err != nil {
		return err
	}
	if o.MaxBatchedTokens < 0 || (o.MaxBatchedTokens > 0 && o.MaxBatchedTokens < 256) {
		return app.BadInput("give at least 256 tokens, for example 8192, or leave it unset for vLLM's default", "max batched tokens %d is too small", o.MaxBatchedTokens)
	}
	if o.TensorParallel < 0 || o.TensorParallel > maxTensorParallel || (o.TensorParallel > 0 && o.TensorParallel&(o.TensorParallel-1) != 0) {
		return app.BadInput("use 1, 2, 4 or 8 GPUs, or leave it unset to let DuoBox choose", "tensor-parallel size %d is not one vLLM can split these models over", o.TensorParallel)
	}
	if o.TensorParallel > 0 && len(o.GPUs) > 0 && len(o.GPUs) != o.TensorParallel {
		return app.BadInput("name as many GPUs as the tensor-parallel size, for example --gpus 0,1 with --tensor-parallel-size 2", "%d GPUs named for tensor-parallel size %d", len(o.GPUs), o.TensorParallel)
	}
	seen := map[int]bool{}
	for _, g := range o.GPUs {
		if g < 0 || seen[g] {
			return app.BadInput("list GPU indexes as 'duobox detect' shows them, each once, for example 0,1", "GPU index %d is negative or repeated", g)
		}
		seen[g] = true
	}
	return nil
}

func (o Options) util() float64 {
	if o.Utilization == 0 {
		return DefaultUtilization
	}
	return o.Utilization
}

// ModelFit is one model's verdict.
type ModelFit struct {
	ID             string                            `json:"id"`
	Name           string                            `json:"name"`
	HFRepo         string                            `json:"hf_repo"`
	Status         catalog.Status                    `json:"status"`
	Licence        string                            `json:"licence"` // the catalog's licence (e.g. "MNPL-0.1 (Mistral Non-Production License)")
	Features       []catalog.Feature                 `json:"features"`
	Levels         map[catalog.Feature]catalog.Level `json:"levels"`
	Verdict        string                            `json:"verdict"`
	Variant        *catalog.Variant                  `json:"variant,omitempty"`
	GPUsNeeded     int                               `json:"gpus_needed,omitempty"`
	TensorParallel int                               `json:"tensor_parallel,omitempty"`
	Context        int                               `json:"context"`
	MaxContext     int                               `json:"max_context"` // the largest context it could serve here (0 when it does not fit)
	Memory         Breakdown                         `json:"memory"`
	Tight          bool                              `json:"tight,omitempty"`      // fits with under 3 % of the budget to spare
	Advice         string                            `json:"advice,omitempty"`     // what to change to get margin (or to fit)
	MinGPUMemory   uint64                            `json:"min_gpu_memory_bytes"` // smallest single idle card for its own dtype at Context
	// FreeNeeded is the one memory figure to set against this machine: the
	// free GPU memory (per GPU, when split) the model needs at these
	// settings, so that it fits exactly when FreeNeeded <= GPUFree. With no
	// GPU it is MinGPUMemory and GPUFree is 0.
	FreeNeeded uint64 `json:"free_needed_bytes"`
	GPUFree    uint64 `json:"gpu_free_bytes"` // the free memory of the GPU (the smallest of those split over) it is compared to
	Why        string `json:"why"`
	GPUIndex   int    `json:"gpu_index"`
	GPUs       []int  `json:"gpus,omitempty"` // the GPUs it runs on
	model      catalog.Model
	layout     layout
	gpu        gpuMem
	opts       Options
}

// Pick is one model of the recommendation, with the vLLM settings to use.
type Pick struct {
	ModelID              string            `json:"id"`
	Name                 string            `json:"name"`
	HFRepo               string            `json:"hf_repo"`
	Variant              string            `json:"variant,omitempty"`
	Features             []catalog.Feature `json:"features"`
	GPUMemoryUtilization float64           `json:"gpu_memory_utilization"`
	MaxModelLen          int               `json:"max_model_len"`
	GPUIndex             int               `json:"gpu_index"`
	TensorParallel       int               `json:"tensor_parallel"`
	GPUs                 []int             `json:"gpus,omitempty"` // the GPUs it runs on (tensor parallel over all of them)
	KVCacheDType         string            `json:"kv_cache_dtype,omitempty"`
	MaxBatchedTokens     int               `json:"max_num_batched_tokens,omitempty"`
	ExtraArgs            []string          `json:"extra_args,omitempty"`
}

// Result is the whole answer.
type Result struct {
	GitLab         string            `json:"gitlab_version"`
	Context        int               `json:"context"`
	Utilization    float64           `json:"utilization"`
	Models         []ModelFit        `json:"models"`
	Recommendation []Pick            `json:"recommendation"`
	Reason         string            `json:"reason"`
	Uncovered      []catalog.Feature `json:"uncovered"`
	Notes          []string          `json:"notes,omitempty"`
	Engine         string            `json:"vllm_version"` // the vLLM version the memory figures are predicted for
}

// CheckContext validates a --context value.
func CheckContext(n int) error {
	if n < 0 {
		return app.BadInput("give a positive number of tokens, for example --context 16384", "--context %d is negative", n)
	}
	if n > 0 && n < 256 {
		return app.BadInput("give at least 256 tokens; code suggestions need several thousand", "--context %d is too small to be useful", n)
	}
	if n > 1<<20 {
		return app.BadInput("no listed model serves more than 131072 tokens", "--context %d is larger than any model's context", n)
	}
	return nil
}

// Recommend evaluates every model GitLab lists at opts.GitLab on machine m.
func Recommend(m hardware.Machine, c catalog.Catalog, opts Options) (Result, error) {
	if err := opts.Check(); err != nil {
		return Result{}, err
	}
	if opts.Utilization == 0 {
		opts.Utilization = DefaultUtilization
	}
	if opts.Utilization < 0.1 || opts.Utilization > 0.98 {
		return Result{}, app.BadInput("use a fraction between 0.1 and 0.98, for example 0.9", "utilisation %.2f is out of range", opts.Utilization)
	}
	if err := CheckContext(opts.Context); err != nil {
		return Result{}, err
	}
	eng, _ := ParseEngine(opts.Engine)
	if err := CheckGitLabVersion(opts.GitLab, c); err != nil {
		return Result{}, err
	}
	res := Result{GitLab: opts.GitLab.String(), Context: opts.Context, Utilization: opts.Utilization,
		Recommendation: []Pick{}, Uncovered: []catalog.Feature{}, Engine: eng.String()}
	gpus := m.NVIDIA()
	if len(opts.GPUs) > 0 {
		var chosen []hardware.GPU
		for _, idx := range opts.GPUs {
			g := gpuByIndex(gpus, idx)
			if g.Name == "" && g.MemoryTotal == 0 {
				return Result{}, app.BadInput("name GPUs that 'duobox detect' lists", "GPU %d is not on this machine (it has %d NVIDIA GPUs)", idx, len(gpus))
			}
			chosen = append(chosen, g)
		}
		gpus = chosen
	}
	if opts.TensorParallel > len(gpus) && len(gpus) > 0 {
		return Result{}, app.BadInput(fmt.Sprintf("use a tensor-parallel size of at most %d here", len(gpus)), "tensor-parallel size %d needs %d GPUs; %d are available", opts.TensorParallel, opts.TensorParallel, len(gpus))
	}
	if len(gpus) == 0 {
		res.Notes = append(res.Notes, "No NVIDIA GPU was found; each model shows the smallest single GPU that would run it.")
		if amd := len(m.GPUs) - len(gpus); amd > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%d AMD GPU(s) found: DuoBox runs vLLM on NVIDIA only for now.", amd))
		}
	}
	for _, g := range gpus {
		if g.MIG == "enabled" {
			res.Notes = append(res.Notes, fmt.Sprintf("GPU %d has MIG enabled: vLLM sees one MIG slice, not the whole card; disable MIG (nvidia-smi -i %d -mig 0) to use it fully.", g.Index, g.Index))
		}
	}
	longest := 0
	for _, model := range c.ListedAt(opts.GitLab) {
		longest = max(longest, model.Architecture.MaxContext)
	}
	if longest > 0 && opts.Context > longest {
		return Result{}, app.BadInput(fmt.Sprintf("give a context of %d tokens or less", longest), "context %d is beyond every model GitLab %s lists (the longest serves %d tokens)", opts.Context, opts.GitLab, longest)
	}
	for _, model := range c.ListedAt(opts.GitLab) {
		f := evaluate(model, gpus, opts)
		f.Licence = model.Licence
		if len(gpus) == 0 {
			f.FreeNeeded = f.MinGPUMemory
		} else {
			g := f.gpu
			if f.layout.limit.free > 0 {
				g = f.layout.limit
			}
			f.GPUFree, f.FreeNeeded = g.free, freeNeeded(f.Memory, g, opts)
		}
		res.Models = append(res.Models, f)
	}
	if len(res.Models) == 0 {
		return res, app.BadInput("pick another --gitlab-version", "GitLab %s lists no self-hosted model this catalog knows", opts.GitLab)
	}
	recommendPicks(&res, gpus, opts)
	return res, nil
}

// CheckGitLabVersion refuses versions the catalog cannot speak for.
func CheckGitLabVersion(v version.GitLab, c catalog.Catalog) error {
	if !v.HasMinor() {
		return app.BadInput(fmt.Sprintf("write it as %d.Y, for example %d.9", v.Major, v.Major), "GitLab version %q needs a minor release: the approved models change from one minor release to the next", v.String())
	}
	return gitlabversions.Check(v)
}

// DefaultGitLab is the version assumed when none is given: the newest listing start in the catalog.
func DefaultGitLab(c catalog.Catalog) version.GitLab {
	var newest version.GitLab
	for _, m := range c.Models {
		for _, l := range m.GitLab {
			r, err := version.ParseRange(l.Versions)
			if err == nil && r.From.Compare(newest) > 0 {
				newest = r.From
			}
		}
	}
	return newest
}

func evaluate(model catalog.Model, gpus []hardware.GPU, opts Options) ModelFit {
	listing, _ := model.ListingFor(opts.GitLab)
	ctx := opts.Context
	if ctx == 0 {
		ctx = DefaultContext
	}
	ctx = min(ctx, model.Architecture.MaxContext)
	f := ModelFit{ID: model.ID, Name: model.Name, HFRepo: model.HFRepo, Status: listing.Status, Features: model.FeaturesAt(opts.GitLab),
		Levels: listing.Features, Context: ctx, MinGPUMemory: minGPUMemory(model, ctx, opts), model: model, opts: opts}
	if len(gpus) == 0 {
		f.Verdict = NeedsGPU
		f.Memory = need(model, layout{weights: model.WeightBytes, tp: 1}, ctx, gpuMem{}, opts)
		f.Why = fmt.Sprintf("needs an NVIDIA GPU with at least %s", units.GiB(f.MinGPUMemory))
		return f
	}
	best := gpus[0]
	for _, g := range gpus[1:] {
		if g.MemoryFree > best.MemoryFree {
			best = g
		}
	}
	f.GPUIndex = best.Index
	f.gpu = gpuMem{free: best.MemoryFree, total: best.MemoryTotal}
	own := layout{weights: model.WeightBytes, tp: 1}
	accept := func(verdict string, l layout, bd Breakdown, why string) ModelFit {
		f.Verdict, f.layout, f.TensorParallel, f.Memory, f.Variant = verdict, l, l.tp, bd, l.variant
		f.GPUs = l.gpus
		if len(f.GPUs) == 0 {
			f.GPUs = []int{best.Index}
		}
		f.MaxContext = maxContext(model, bd)
		f.Why = why
		if bd.Calibrated {
			f.Why += "; calibrated from a start measured on this machine"
		}
		if _, tight := bd.fits(); tight {
			f.Tight = true
			f.Advice = tightAdvice(f)
			f.Why += fmt.Sprintf("; tight: only %s to spare", units.GiB(bd.Budget-bd.Total))
		}
		return f
	}

	single := opts.TensorParallel <= 1
	parallel := opts.TensorParallel != 1
	ownOK := variantAllowed(opts, nil)
	// 1. Its own dtype on the best GPU.
	f.Memory = need(model, own, ctx, f.gpu, opts)
	if ok, _ := f.Memory.fits(); ok && single && ownOK {
		return accept(Fits, own, f.Memory, fmt.Sprintf("%s of weights, %s of KV cache at %s tokens and %s overhead fit the %s budget on GPU %d (%s)",
			units.GiB(f.Memory.Weights), units.GiB(f.Memory.KVCache), tokens(ctx), units.GiB(f.Memory.Overhead), units.GiB(f.Memory.Budget), best.Index, best.Name))
	}
	ownNeed := f.Memory
	// 2. Tensor parallel over the identical GPUs present.
	if tp, l, bd, ok := fitParallel(model, model.WeightBytes, nil, gpus, best, ctx, opts); ok && parallel && ownOK {
		return accept(Fits, l, bd, fmt.Sprintf("fits split over %d GPUs (tensor parallel): %s per GPU against %s", tp, units.GiB(bd.Total), units.GiB(bd.Budget)))
	}
	// 3. A quantized variant on the best GPU, then split over the GPUs
	// present, smallest loss of precision first.
	variants := slices.Clone(model.Quantized)
	sort.SliceStable(variants, func(i, j int) bool { return variants[i].Bits > variants[j].Bits })
	var skipped, usable []string
	var usableVariants []*catalog.Variant
	for i := range variants {
		v := &variants[i]
		if cc, err := strconv.ParseFloat(best.ComputeCapability, 64); err == nil && v.MinCompute > 0 && cc < v.MinCompute {
			skipped = append(skipped, fmt.Sprintf("%s needs compute capability %.1f (this GPU has %s)", strings.ToUpper(v.Method), v.MinCompute, best.ComputeCapability))
			continue
		}
		if !variantAllowed(opts, v) {
			continue
		}
		usable = append(usable, v.Repo)
		usableVariants = append(usableVariants, v)
	}
	for _, v := range usableVariants {
		if !single {
			break
		}
		l := layout{weights: v.WeightBytes, tp: 1, variant: v}
		bd := need(model, l, ctx, f.gpu, opts)
		if ok, _ := bd.fits(); ok {
			return accept(FitsQuantized, l, bd, fmt.Sprintf("only as %s (%d-bit %s, %s): %s total against the %s budget", v.Repo, v.Bits, strings.ToUpper(v.Method), units.GiB(v.WeightBytes), units.GiB(bd.Total), units.GiB(bd.Budget)))
		}
	}
	for _, v := range usableVariants {
		if !parallel {
			break
		}
		if tp, l, bd, ok := fitParallel(model, v.WeightBytes, v, gpus, best, ctx, opts); ok {
			return accept(FitsQuantized, l, bd, fmt.Sprintf("only as %s (%d-bit %s) split over %d GPUs (tensor parallel): %s per GPU against %s",
				v.Repo, v.Bits, strings.ToUpper(v.Method), tp, units.GiB(bd.Total), units.GiB(bd.Budget)))
		}
	}
	_ = usable
	if opts.GPUMemoryUtilization > 0 && f.Memory.Budget == 0 {
		f.Verdict = TooLarge
		f.Why = fmt.Sprintf("GPU %d has %s free, less than --gpu-memory-utilization %.2f asks of its %s (vLLM refuses to start)", best.Index, units.GiB(best.MemoryFree), opts.GPUMemoryUtilization, units.GiB(best.MemoryTotal))
		if !f.Memory.GraphsInBudget {
			f.Why += fmt.Sprintf(" with %s of CUDA graphs beside it", units.GiB(f.Memory.Graphs))
		}
		f.Advice = "lower the GPU memory utilisation, or stop what else uses the GPU"
		return f
	}
	if !ownOK || opts.TensorParallel > 0 {
		f.Verdict = TooLarge
		f.Why = fmt.Sprintf("does not fit with the settings given (%s): %s needed against %s", settingsText(opts), units.GiB(f.Memory.Total), units.GiB(f.Memory.Budget))
		f.Advice = shortAdvice(f)
		return f
	}
	// 4. How many cards like the best one it would take.
	f.layout, f.Memory = own, ownNeed
	for tp := 2; tp <= maxTensorParallel; tp *= 2 {
		if model.Architecture.AttentionHeads%tp != 0 {
			continue
		}
		l := layout{weights: model.WeightBytes, tp: tp}
		bd := need(model, l, ctx, f.gpu, opts)
		if ok, _ := bd.fits(); ok {
			f.Verdict, f.GPUsNeeded = NeedsMoreGPUs, tp
			f.Why = fmt.Sprintf("needs %s; on %d cards like GPU %d (%s) it would need %s each", units.GiB(f.Memory.Total), tp, best.Index, best.Name, units.GiB(bd.Total))
			if len(skipped) > 0 {
				f.Why += "; " + strings.Join(skipped, "; ")
			}
			f.Advice = shortAdvice(f)
			return f
		}
	}
	f.Verdict = TooLarge
	f.Why = fmt.Sprintf("needs %s in its own dtype; even 8 cards like GPU %d (%s) would not hold it", units.GiB(f.Memory.Total), best.Index, best.Name)
	if len(skipped) > 0 {
		f.Why += "; " + strings.Join(skipped, "; ")
	}
	return f
}

// settingsText names the user's settings that constrained a verdict.
func settingsText(o Options) string {
	var out []string
	if o.Variant != "" {
		out = append(out, "variant "+o.Variant)
	}
	if o.TensorParallel > 0 {
		out = append(out, fmt.Sprintf("tensor-parallel size %d", o.TensorParallel))
	}
	if o.GPUMemoryUtilization > 0 {
		out = append(out, fmt.Sprintf("utilisation %.2f", o.GPUMemoryUtilization))
	}
	if len(out) == 0 {
		return "defaults"
	}
	return strings.Join(out, ", ")
}

// tightAdvice says what to change for margin on a tight fit.
func tightAdvice(f ModelFit) string {
	var out []string
	if f.Context > minUsefulContext {
		out = append(out, fmt.Sprintf("a context of %s instead of %s", tokens(roundUp(f.Context*3/4, 1024)), tokens(f.Context)))
	}
	if f.opts.util() < 0.95 {
		out = append(out, fmt.Sprintf("utilisation %.2f if nothing else uses the GPU", min(0.95, f.opts.util()+0.03)))
	}
	if f.Variant == nil && len(f.model.Quantized) > 0 {
		out = append(out, "the "+strings.ToUpper(f.model.Quantized[0].Method)+" variant")
	}
	if len(out) == 0 {
		return "vLLM may refuse it if its own figures come out a few percent higher; free GPU memory first"
	}
	return "for margin, choose " + strings.Join(out, ", or ")
}

// shortAdvice says what would make a model that does not fit here fit.
func shortAdvice(f ModelFit) string {
	over := f.Memory.Total - min(f.Memory.Total, f.Memory.Budget)
	s := fmt.Sprintf("%s short on GPU %d", units.GiB(over), f.GPUIndex)
	if kv := f.Memory.KVCache; kv > over && f.Context > minUsefulContext {
		per := kv / uint64(f.Context)
		if per > 0 {
			if c := f.Context - int((over+per-1)/per); c >= minUsefulContext {
				s += fmt.Sprintf("; a context of %s or less would fit", tokens(c-c%1024))
			}
		}
	}
	return s
}

// fitParallel tries tensor parallelism over the GPUs with at least the best
// GPU's total memory class (vLLM splits evenly, so the smallest free one limits).
func fitParallel(model catalog.Model, weights uint64, variant *catalog.Variant, gpus []hardware.GPU, best hardware.GPU, ctx int, opts Options) (int, layout, Breakdown, bool) {
	var similar []hardware.GPU
	for _, g := range gpus {
		if g.MemoryTotal+g.MemoryTotal/20 >= best.MemoryTotal && g.MemoryTotal <= best.MemoryTotal+best.MemoryTotal/20 {
			similar = append(similar, g)
		}
	}
	for tp := 2; tp <= min(len(similar), maxTensorParallel); tp *= 2 {
		if model.Architecture.AttentionHeads%tp != 0 || (opts.TensorParallel > 0 && tp != opts.TensorParallel) {
			continue
		}
		sort.Slice(similar, func(i, j int) bool { return similar[i].MemoryFree > similar[j].MemoryFree })
		g := similar[tp-1]
		l := layout{weights: weights, tp: tp, variant: variant}
		for _, s := range similar[:tp] {
			l.gpus = append(l.gpus, s.Index)
		}
		sort.Ints(l.gpus)
		l.limit = gpuMem{free: g.MemoryFree, total: g.MemoryTotal}
		bd := need(model, l, ctx, l.limit, opts)
		if ok, _ := bd.fits(); ok {
			return tp, l, bd, true
		}
	}
	return 0, layout{}, Breakdown{}, false
}

// variantAllowed says whether the user's variant setting admits v (nil: the model's own weights).
func variantAllowed(opts Options, v *catalog.Variant) bool {
	switch want := strings.ToLower(opts.Variant); {
	case want == "" || want == "auto":
		return true
	case want == "own" || want == "none":
		return v == nil
	case v == nil:
		return false
	default:
		return want == strings.ToLower(v.Method) || want == strings.ToLower(v.Repo)
	}
}

// recommendPicks chooses the best single model or pair and fills the result.
func recommendPicks(res *Result, gpus []hardware.GPU, opts Options) {
	var runnable []ModelFit
	for _, f := range res.Models {
		if f.Verdict == Fits || f.Verdict == FitsQuantized {
			runnable = append(runnable, f)
		}
	}
	if len(runnable) == 0 {
		res.Uncovered = slices.Clone(catalog.CoreFeatures)
		if len(gpus) == 0 {
			res.Reason = "This machine has no NVIDIA GPU, so DuoBox cannot run a model here; add a GPU (see each model's minimum) or use CPU mode only to try the flow."
		} else {
			smallest := smallestNeed(res.Models)
			res.Reason = fmt.Sprintf("No GitLab-listed model fits the free GPU memory here; the smallest needs %s.", units.GiB(smallest))
		}
		return
	}
	var best []ModelFit
	bestScore := score{}
	for i := range runnable {
		s := scoreOf([]ModelFit{runnable[i]})
		if best == nil || s.better(bestScore) {
			best, bestScore = []ModelFit{runnable[i]}, s
		}
	}
	var bestShares []float64
	var bestGPUs []int
	if len(gpus) > 0 {
		for i := range runnable {
			for j := i + 1; j < len(runnable); j++ {
				pair := []ModelFit{runnable[i], runnable[j]}
				s := scoreOf(pair)
				if s.covered <= bestScore.covered || !s.better(bestScore) {
					continue
				}
				if shares, onGPU, ok := placePair(pair, gpus, opts); ok {
					best, bestScore, bestShares, bestGPUs = pair, s, shares, onGPU
				}
			}
		}
	}
	covered := map[catalog.Feature]bool{}
	for i, f := range best {
		p := Pick{ModelID: f.ID, Name: f.Name, HFRepo: f.HFRepo, Features: coreFeatures(f), GPUIndex: f.GPUIndex, TensorParallel: max(f.TensorParallel, 1),
			GPUs: slices.Clone(f.GPUs), MaxBatchedTokens: opts.MaxBatchedTokens}
		if d := strings.ToLower(opts.KVCacheDType); d != "" && d != "auto" {
			p.KVCacheDType = d
		}
		if f.Variant != nil {
			p.Variant = f.Variant.Repo
		}
		gpu := gpuByIndex(gpus, f.GPUIndex)
		if bestShares != nil {
			gpu = gpuByIndex(gpus, bestGPUs[i])
			p.GPUIndex = gpu.Index
			p.GPUs = []int{gpu.Index}
			p.GPUMemoryUtilization = bestShares[i]
			bd := f.Memory
			bd.Budget = uint64(bestShares[i] * float64(gpu.MemoryTotal))
			p.MaxModelLen = min(f.Context, maxContext(f.model, bd))
		} else {
			p.GPUMemoryUtilization = flagUtilization(f.Memory.Budget, gpu.MemoryTotal)
			if opts.GPUMemoryUtilization > 0 {
				p.GPUMemoryUtilization = opts.GPUMemoryUtilization
			}
			p.MaxModelLen = f.Context
		}
		if cc, err := strconv.ParseFloat(gpu.ComputeCapability, 64); err == nil && cc < 8.0 {
			p.ExtraArgs = append(p.ExtraArgs, "--dtype", "float16") // no bfloat16 before Ampere
		}
		for _, ft := range p.Features {
			covered[ft] = true
		}
		res.Recommendation = append(res.Recommendation, p)
	}
	for _, ft := range catalog.CoreFeatures {
		if !covered[ft] {
			res.Uncovered = append(res.Uncovered, ft)
		}
	}
	res.Reason = reasonFor(best, res.Uncovered, bestShares != nil)
}

// placePair fits two models: on two different GPUs when there are two, else
// sharing the best GPU, each with its own utilisation share (as vLLM's flag:
// a fraction of the card's total memory).
func placePair(pair []ModelFit, gpus []hardware.GPU, opts Options) ([]float64, []int, bool) {
	if pair[0].TensorParallel > 1 || pair[1].TensorParallel > 1 {
		return nil, nil, false
	}
	sorted := slices.Clone(gpus)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].MemoryFree > sorted[j].MemoryFree })
	if len(sorted) >= 2 {
		// One model per card when each fits its card.
		a, b := pair[0], pair[1]
		ba := budget(gpuMem{sorted[0].MemoryFree, sorted[0].MemoryTotal}, opts.util(), a.Memory.est)
		bb := budget(gpuMem{sorted[1].MemoryFree, sorted[1].MemoryTotal}, opts.util(), b.Memory.est)
		if a.Memory.Total <= ba && needAt(b, minUsefulContext) <= bb {
			return []float64{flagUtilization(ba, sorted[0].MemoryTotal), flagUtilization(bb, sorted[1].MemoryTotal)}, []int{sorted[0].Index, sorted[1].Index}, true
		}
	}
	if opts.GPUMemoryUtilization > 0 {
		return nil, nil, false // the user's one utilisation cannot be given to two models on one card
	}
	g := sorted[0]
	// Both processes' CUDA graphs need headroom next to the shared budget.
	graphs := pair[0].Memory.est
	graphs.Graphs += pair[1].Memory.est.Graphs
	total := budget(gpuMem{g.MemoryFree, g.MemoryTotal}, opts.util(), graphs)
	// The flag has two decimals: each share loses up to 1 % of the card to rounding.
	step := g.MemoryTotal / 100
	na, nb := needAt(pair[0], minUsefulContext)+step, needAt(pair[1], minUsefulContext)+step
	if na+nb > total {
		return nil, nil, false
	}
	// Share the budget in proportion to what each needs at its chosen context.
	fa, fb := needAt(pair[0], pair[0].Context), needAt(pair[1], pair[1].Context)
	sa := float64(total) * float64(fa) / float64(fa+fb)
	sa = math.Max(sa, float64(na))
	sa = math.Min(sa, float64(total-nb))
	return []float64{flagUtilization(uint64(sa), g.MemoryTotal), flagUtilization(total-uint64(sa), g.MemoryTotal)}, []int{g.Index, g.Index}, true
}

// needAt is a fit's per-GPU need at another context.
func needAt(f ModelFit, ctx int) uint64 {
	return need(f.model, f.layout, min(ctx, f.model.Architecture.MaxContext), gpuMem{total: f.gpu.total}, f.opts).Total
}

// flagUtilization converts a byte budget to vLLM's --gpu-memory-utilization
// (a fraction of the card's total memory), rounded down to 2 decimals.
func flagUtilization(budgetBytes, total uint64) float64 {
	if total == 0 {
		return DefaultUtilization
	}
	return math.Floor(float64(budgetBytes)/float64(total)*100) / 100
}

func gpuByIndex(gpus []hardware.GPU, idx int) hardware.GPU {
	for _, g := range gpus {
		if g.Index == idx {
			return g
		}
	}
	return hardware.GPU{}
}

// coreFeatures are the fit's features among code completion, generation and chat.
func coreFeatures(f ModelFit) []catalog.Feature {
	var out []catalog.Feature
	for _, ft := range f.Features {
		if slices.Contains(catalog.CoreFeatures, ft) {
			out = append(out, ft)
		}
	}
	return out
}

func smallestNeed(fits []ModelFit) uint64 {
	var s uint64
	for _, f := range fits {
		if s == 0 || f.MinGPUMemory < s {
			s = f.MinGPUMemory
		}
	}
	return s
}

// score orders candidate sets: more core features covered, better GitLab
// standing, better feature levels, fewer models, own dtype, bigger model.
type score struct {
	covered, status, quality, models, ownDType int
	weights                                    uint64
}

func (a score) better(b score) bool {
	for _, d := range [][2]int{{a.covered, b.covered}, {a.status, b.status}, {a.quality, b.quality}, {-a.models, -b.models}, {a.ownDType, b.ownDType}} {
		if d[0] != d[1] {
			return d[0] > d[1]
		}
	}
	return a.weights > b.weights
}

var statusRank = map[catalog.Status]int{catalog.StatusApproved: 3, catalog.StatusSupported: 3, catalog.StatusBeta: 1, catalog.StatusCompatible: 1, catalog.StatusUnderEvaluation: 0}

func scoreOf(set []ModelFit) score {
	s := score{models: len(set), status: 3, ownDType: 1}
	best := map[catalog.Feature]int{}
	for _, f := range set {
		s.status = min(s.status, statusRank[f.Status])
		if f.Variant != nil {
			s.ownDType = 0
		}
		s.weights += f.model.WeightBytes
		for _, ft := range coreFeatures(f) {
			best[ft] = max(best[ft], f.Levels[ft].Rank())
		}
	}
	s.covered = len(best)
	for _, r := range best {
		s.quality += r
	}
	return s
}

func reasonFor(set []ModelFit, uncovered []catalog.Feature, shared bool) string {
	names := make([]string, len(set))
	for i, f := range set {
		names[i] = f.Name
		if f.Variant != nil {
			names[i] += " (" + strings.ToUpper(f.Variant.Method) + ")"
		}
	}
	var feats []string
	for _, ft := range catalog.CoreFeatures {
		if !slices.Contains(uncovered, ft) {
			feats = append(feats, sentenceLabel(ft))
		}
	}
	s := fmt.Sprintf("%s covers %s", strings.Join(names, " with "), joinAnd(feats))
	if len(set) == 2 {
		s = fmt.Sprintf("%s together cover %s", strings.Join(names, " and "), joinAnd(feats))
		if shared {
			s += ", each with its own share of the GPU memory"
		}
	}
	if len(uncovered) > 0 {
		var u []string
		for _, ft := range uncovered {
			u = append(u, sentenceLabel(ft))
		}
		s += "; no listed model that also serves " + joinAnd(u) + " fits beside it"
	}
	return s + "."
}

// sentenceLabel is the feature's name inside a sentence ("code completion", "Duo Chat").
func sentenceLabel(f catalog.Feature) string {
	if f == catalog.Chat {
		return f.Label()
	}
	return strings.ToLower(f.Label())
}

func joinAnd(xs []string) string {
	switch len(xs) {
	case 0:
		return "nothing"
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " and " + xs[len(xs)-1]
}

func tokens(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%dk", n/1024)
	}
	return strconv.Itoa(n)
}
