package upgrade_test

import (
	"strings"
	"testing"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/upgrade"
)

func TestBesideFitCountsBothCopies(t *testing.T) {
	const g = 1 << 30
	cat := catalog.Catalog{Models: []catalog.Model{{ID: "m", HFRepo: "org/m", WeightBytes: 14 * g,
		Quantized: []catalog.Variant{{Repo: "org/m-awq", WeightBytes: 4 * g}}}}}
	gpu := func(free uint64) hardware.Machine {
		return hardware.Machine{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", MemoryTotal: 80 * g, MemoryFree: free}}}
	}
	cfg := func(mode string, m config.Model) config.Deployment {
		return config.Deployment{Name: "s", Mode: mode, Models: []config.Model{m}}
	}
	cases := []struct {
		name string
		m    hardware.Machine
		cfg  config.Deployment
		fits bool
		why  string
	}{
		{"gpu default 0.90 never fits twice", gpu(8 * g), cfg(config.ModeGPU, config.Model{HFRepo: "org/m"}), false, "GPU 0 has 8.0 GiB free, a second copy needs 72.5 GiB"},
		{"gpu 0.40 fits beside a running 0.40", gpu(47 * g), cfg(config.ModeGPU, config.Model{HFRepo: "org/m", GPUMemoryUtilization: 0.40}), true, "32.5 GiB"},
		{"gpu 0.40 with too little free", gpu(30 * g), cfg(config.ModeGPU, config.Model{HFRepo: "org/m", GPUMemoryUtilization: 0.40}), false, "30.0 GiB free"},
		{"gpu not readable", hardware.Machine{}, cfg(config.ModeGPU, config.Model{HFRepo: "org/m"}), false, "could not be read"},
		{"cpu weights+kv+1 fit", hardware.Machine{Memory: hardware.Memory{Available: 20 * g}}, cfg(config.ModeCPU, config.Model{HFRepo: "org/m"}), true, "needs 19.0 GiB"},
		{"cpu too little RAM", hardware.Machine{Memory: hardware.Memory{Available: 18 * g}}, cfg(config.ModeCPU, config.Model{HFRepo: "org/m"}), false, "18.0 GiB of RAM available"},
		{"cpu variant size", hardware.Machine{Memory: hardware.Memory{Available: 10 * g}}, cfg(config.ModeCPU, config.Model{HFRepo: "org/m", Variant: "org/m-awq"}), true, "weights 4.0 GiB"},
		{"cpu unknown size", hardware.Machine{Memory: hardware.Memory{Available: 100 * g}}, cfg(config.ModeCPU, config.Model{HFRepo: "x/unknown"}), false, "not in DuoBox's catalog"},
	}
	for _, c := range cases {
		got := upgrade.BesideFit(c.m, c.cfg, cat)
		if got.Fits != c.fits || !strings.Contains(got.Why, c.why) {
			t.Errorf("%s: %+v, want fits=%v and %q", c.name, got, c.fits, c.why)
		}
	}
}
