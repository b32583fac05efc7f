package recommend

import (
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
)

// SettingsText is the vLLM settings as a person types them (the window's
// fields); empty fields keep DuoBox's choice.
type SettingsText struct {
	Utilization      string // vLLM's --gpu-memory-utilization, 0.1–0.98
	TensorParallel   string // 1, 2, 4 or 8
	GPUs             string // "0,1"
	MaxModelLen      string // tokens
	KVCacheDType     string // auto, fp8
	MaxBatchedTokens string // tokens
	Variant          string // own, awq, fp8 or a repo
}

// Options reads the text into base's vLLM settings, refusing what vLLM would
// refuse with the field named and what to type instead.
func (t SettingsText) Options(base Options) (Options, error) {
	o := base
	num := func(field, s string, out *int) error {
		s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
		if s == "" {
			*out = 0
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return app.BadInput("type a whole number above 0, or leave it empty for DuoBox's choice", "%s %q is not a positive whole number", field, s)
		}
		*out = n
		return nil
	}
	if s := strings.TrimSpace(t.Utilization); s != "" {
		u, err := strconv.ParseFloat(s, 64)
		if err != nil || u <= 0 {
			return base, app.BadInput("type a fraction such as 0.9, or leave it empty for DuoBox's choice", "GPU memory utilisation %q is not a fraction above 0", s)
		}
		o.GPUMemoryUtilization = u
	} else {
		o.GPUMemoryUtilization = 0
	}
	if err := num("tensor-parallel size", t.TensorParallel, &o.TensorParallel); err != nil {
		return base, err
	}
	if err := num("max model length", t.MaxModelLen, &o.Context); err != nil {
		return base, err
	}
	if err := num("max batched tokens", t.MaxBatchedTokens, &o.MaxBatchedTokens); err != nil {
		return base, err
	}
	o.GPUs = nil
	if s := strings.TrimSpace(t.GPUs); s != "" {
		for _, p := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return base, app.BadInput("list GPU indexes separated by commas, for example 0,1", "GPUs %q: %q is not a GPU index", s, p)
			}
			o.GPUs = append(o.GPUs, n)
		}
	}
	o.KVCacheDType = strings.TrimSpace(t.KVCacheDType)
	o.Variant = strings.TrimSpace(t.Variant)
	return o, o.Check()
}
