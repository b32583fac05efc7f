package bundle

import (
	"fmt"
	"strings"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/version"
)

// Check is one answer to "can this machine run the bundle".
type Check struct {
	Name   string `json:"name"` // platform, gpu, gitlab
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// InspectResult is what a bundle holds and whether this machine can run it.
type InspectResult struct {
	File     string   `json:"file"`
	Manifest Manifest `json:"manifest"`
	Bytes    int64    `json:"bytes"`
	CanRun   bool     `json:"can_run"`
	Checks   []Check  `json:"checks"`
}

// InspectInput is the machine to judge the bundle against.
type InspectInput struct {
	Machine hardware.Machine
	Catalog catalog.Catalog
	// GitLabVersion is the configured deployment's version ("" when there is none).
	GitLabVersion string
}

// Inspect reads a bundle's manifest (quickly: contents are skipped, not
// verified) and judges it against the machine: the engine's platform, the
// GPU the model needs, and the configured GitLab version.
func Inspect(file string, in InspectInput) (InspectResult, error) {
	m, err := OpenManifest(file)
	if err != nil {
		return InspectResult{}, err
	}
	r := InspectResult{File: file, Manifest: m, Bytes: m.Bytes(), CanRun: true}
	add := func(c Check) {
		r.Checks = append(r.Checks, c)
		r.CanRun = r.CanRun && c.OK
	}
	eng := in.Machine.Engine
	switch have := "linux/" + hostArch(eng.Arch); {
	case !eng.Reachable:
		add(Check{Name: "platform", OK: false, Detail: "the Docker engine does not answer, so its platform is unknown: " + cmpOr(eng.Fix, "start it")})
	case eng.Arch == "" || have == m.Platform:
		add(Check{Name: "platform", OK: true, Detail: fmt.Sprintf("images for %s; the engine runs %s", m.Platform, have)})
	default:
		add(Check{Name: "platform", OK: false, Detail: fmt.Sprintf("images for %s; the engine runs %s: make a bundle with --platform %s", m.Platform, have, have)})
	}
	add(gpuCheck(m, in))
	if in.GitLabVersion != "" {
		v, err := version.Parse(in.GitLabVersion)
		ok := err == nil && v.MinorString() == m.GitLabVersion
		d := fmt.Sprintf("for GitLab %s; the deployment serves GitLab %s", m.GitLabVersion, in.GitLabVersion)
		if !ok {
			d += ": make a bundle with --gitlab-version " + in.GitLabVersion
		}
		add(Check{Name: "gitlab", OK: ok, Detail: d})
	}
	return r, nil
}

func gpuCheck(m Manifest, in InspectInput) Check {
	if m.Mode == config.ModeCPU {
		return Check{Name: "gpu", OK: true, Detail: "CPU mode: no GPU needed"}
	}
	gpus := in.Machine.NVIDIA()
	if len(gpus) == 0 {
		return Check{Name: "gpu", OK: false, Detail: "no NVIDIA GPU found; the bundle needs an " + m.GPUClass}
	}
	if m.Model == nil {
		return Check{Name: "gpu", OK: true, Detail: fmt.Sprintf("%d NVIDIA GPU(s)", len(gpus))}
	}
	v, err := version.Parse(m.GitLabVersion)
	if err == nil {
		if res, err := recommend.Recommend(in.Machine, in.Catalog, recommend.Options{GitLab: v}); err == nil {
			for _, f := range res.Models {
				if strings.EqualFold(f.HFRepo, m.Model.Repo) || (f.Variant != nil && strings.EqualFold(f.Variant.Repo, m.Model.Repo)) {
					ok := f.Verdict == recommend.Fits || f.Verdict == recommend.FitsQuantized
					return Check{Name: "gpu", OK: ok, Detail: fmt.Sprintf("%s on %s: %s (%s)", m.Model.Repo, gpus[0].Name, f.Verdict, f.Why)}
				}
			}
		}
	}
	best := gpus[0]
	for _, g := range gpus {
		if g.MemoryFree > best.MemoryFree {
			best = g
		}
	}
	ok := m.MinGPUMemory == 0 || best.MemoryFree >= m.MinGPUMemory
	return Check{Name: "gpu", OK: ok, Detail: fmt.Sprintf("%s has %.1f GiB free; the bundle needs an %s", best.Name, float64(best.MemoryFree)/(1<<30), m.GPUClass)}
}
