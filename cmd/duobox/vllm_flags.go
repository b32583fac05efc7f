package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/recommend"
)

// vllmFlags are the vLLM memory settings 'recommend' and 'init' accept
// (issue 14); unset flags keep DuoBox's choice.
type vllmFlags struct {
	utilization      float64
	tensorParallel   int
	gpus             string
	kvCacheDType     string
	maxBatchedTokens int
	variant          string
	engine           string
}

func (f *vllmFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.Float64Var(&f.utilization, "gpu-memory-utilization", 0, "vLLM's --gpu-memory-utilization: the share of each GPU's total memory vLLM may use, 0.1–0.98 (default: DuoBox chooses from the free memory)")
	fs.IntVar(&f.tensorParallel, "tensor-parallel-size", 0, "split each model over this many GPUs: 1, 2, 4 or 8 (default: DuoBox chooses)")
	fs.StringVar(&f.gpus, "gpus", "", "the GPUs to use, by index as 'duobox detect' lists them, e.g. 0,1 (default: all)")
	fs.StringVar(&f.kvCacheDType, "kv-cache-dtype", "", "vLLM's --kv-cache-dtype: auto (the model's) or fp8 (half the bytes per token)")
	fs.IntVar(&f.maxBatchedTokens, "max-num-batched-tokens", 0, "vLLM's --max-num-batched-tokens (chunked prefill; drives activation memory; default: vLLM's)")
	fs.StringVar(&f.variant, "variant", "", "which weights: own (no quantization), awq, fp8, or a variant's repo (default: DuoBox chooses)")
	fs.StringVar(&f.engine, "vllm-version", "", "predict memory for this vLLM version (default: the model server DuoBox runs, "+recommend.DefaultEngine+")")
}

// options fills the vLLM settings into o, refusing bad values with a clear message.
func (f *vllmFlags) options(o recommend.Options) (recommend.Options, error) {
	o.GPUMemoryUtilization = f.utilization
	o.TensorParallel = f.tensorParallel
	o.KVCacheDType = f.kvCacheDType
	o.MaxBatchedTokens = f.maxBatchedTokens
	o.Variant = f.variant
	if f.engine != "" {
		o.Engine = f.engine
	}
	if f.gpus != "" {
		for _, s := range strings.Split(f.gpus, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return o, app.BadInput("list GPU indexes separated by commas, for example --gpus 0,1", "--gpus %q: %q is not a GPU index", f.gpus, s)
			}
			o.GPUs = append(o.GPUs, n)
		}
	}
	return o, o.Check()
}
