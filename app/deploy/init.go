package deploy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/version"
)

// InitInput is what 'duobox init' (and the GUI's Configure screen) decide from.
type InitInput struct {
	Name          string // stack name; "" = duobox
	GitLabURL     string
	GitLabVersion string
	Host          string
	Mode          string   // config.ModeGPU (default) or config.ModeCPU
	Models        []string // HF repos the user named; empty = take the recommendation
	MaxModelLen   int      // overrides the recommendation's context when > 0
	// VLLM holds the user's vLLM memory settings (GPU memory utilisation,
	// tensor-parallel size and GPUs, KV-cache dtype, max batched tokens,
	// variant); zero values keep DuoBox's choice. Recommended should have been
	// computed with them (Options.GitLab aside).
	VLLM        recommend.Options
	Catalog     catalog.Catalog
	Recommended recommend.Result
	// GatewayTags are the gateway registry's tags (nil when it could not be
	// listed); GatewayTag, when set, is used as is.
	GatewayTags []string
	GatewayTag  string
	// GatewayRegistry and ModelServerRegistry name another registry serving
	// the same repository (company mirror, private registry); "" = the image's own.
	GatewayRegistry     string
	ModelServerRegistry string
	AuthBypass          bool
	PublishAll          bool // publish the gateway on all addresses (asked explicitly)
	LogDir              string
	DocsIndex           string
	Port                int
	// Images a user points elsewhere (a mirror, a patched image, a CPU build):
	// GatewayRepository replaces the gateway's repository (the tag rules
	// stay); ModelServerImage is "repository[:tag]"; the health commands are
	// parsed by ParseHealthCmd ("" keeps DuoBox's probe).
	GatewayRepository    string
	ModelServerImage     string
	GatewayHealthCmd     string
	ModelServerHealthCmd string
	AgentPort            int // host port of the Agent Platform (0: 50052)
}

// ParseHealthCmd reads a health command as a person types it: "none"
// disables the image's Docker health check (DuoBox then probes the container
// from outside), "CMD-SHELL <line>" runs the line through the image's
// /bin/sh, anything else is split on spaces and run directly (no shell
// needed), e.g. "curl -fsS http://127.0.0.1:8000/health".
func ParseHealthCmd(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, nil
	case strings.EqualFold(s, "none"):
		return []string{"NONE"}, nil
	case strings.HasPrefix(s, "CMD-SHELL"):
		line := strings.TrimSpace(strings.TrimPrefix(s, "CMD-SHELL"))
		if line == "" {
			return nil, fmt.Errorf("CMD-SHELL needs a command line after it")
		}
		return []string{"CMD-SHELL", line}, nil
	}
	f := strings.Fields(s)
	if f[0] == "CMD" {
		f = f[1:]
	}
	if len(f) == 0 {
		return nil, fmt.Errorf("CMD needs a command after it")
	}
	return append([]string{"CMD"}, f...), nil
}

// NewDeployment builds a validated deployment config from the input. Notes
// say what was assumed.
func NewDeployment(in InitInput) (config.Deployment, []string, error) {
	var notes []string
	if err := config.CheckHostSyntax(in.Host); err != nil {
		return config.Deployment{}, nil, app.BadInput("pass --host with the name or address GitLab uses to reach this machine (see 'duobox detect')", "--host: %v", err)
	}
	url, err := config.NormalizeGitLabURL(in.GitLabURL)
	if err != nil {
		return config.Deployment{}, nil, app.BadInput("pass --gitlab-url like https://gitlab.example.com", "--gitlab-url: %v", err)
	}
	v, err := version.Parse(in.GitLabVersion)
	if err != nil {
		return config.Deployment{}, nil, app.BadInput("pass --gitlab-version like 17.9 or 18.2.1-ee", "--gitlab-version: %v", err)
	}
	rel, err := gitlabversions.For(v)
	if err != nil {
		return config.Deployment{}, nil, err
	}
	notes = append(notes, rel.Unconfirmed()...)
	d := config.Deployment{Name: in.Name, GitLab: config.GitLab{URL: url, Version: in.GitLabVersion}, Host: strings.TrimSpace(in.Host),
		Mode: in.Mode, LogDir: in.LogDir, DocsIndex: in.DocsIndex}
	d.Gateway.AuthBypass = in.AuthBypass
	d.Gateway.PublishAll = in.PublishAll
	d.Gateway.Port = in.Port
	d.Gateway.Image.Tag = in.GatewayTag
	d.Gateway.Image.Registry = in.GatewayRegistry
	d.ModelServer.Registry = in.ModelServerRegistry
	d.Gateway.Image.Repository = strings.TrimSpace(in.GatewayRepository)
	d.Gateway.AgentPort = in.AgentPort
	if in.AgentPort != 0 && in.AgentPort == in.Port {
		return d, nil, app.BadInput("choose another --agent-port (or --port): two stacks on one engine need different ports too",
			"--agent-port %d is the gateway's --port as well", in.AgentPort)
	}
	if img := strings.TrimSpace(in.ModelServerImage); img != "" {
		repo, tag := img, ""
		if i := strings.LastIndex(img, ":"); i > strings.LastIndex(img, "/") {
			repo, tag = img[:i], img[i+1:]
		}
		if strings.Contains(img, "@") || repo == "" {
			return d, nil, app.BadInput("pass --model-server-image like vllm/vllm-openai:v0.18.1 or mirror.example.com/vllm-cpu:v0.18.1",
				"--model-server-image %q is not repository[:tag]", img)
		}
		d.ModelServer.Repository, d.ModelServer.Tag = repo, tag
	}
	for _, h := range []struct {
		flag, val string
		dst       *[]string
	}{{"--gateway-health-cmd", in.GatewayHealthCmd, &d.Gateway.Image.HealthCmd}, {"--model-server-health-cmd", in.ModelServerHealthCmd, &d.ModelServer.HealthCmd}} {
		cmd, err := ParseHealthCmd(h.val)
		if err != nil {
			return d, nil, app.BadInput("pass a command such as \"curl -fsS http://127.0.0.1:8000/health\", \"CMD-SHELL <line>\" or \"none\"", "%s: %v", h.flag, err)
		}
		*h.dst = cmd
	}
	if d.Gateway.Image.Tag == "" {
		if in.GatewayTags != nil {
			if d.Gateway.Image.Tag, err = release.GatewayTag(v, in.GatewayTags); err != nil {
				return d, nil, err
			}
		} else {
			if d.Gateway.Image.Tag, err = release.OfflineTag(v); err != nil {
				return d, nil, err
			}
			if release.SelfHostedTags(v) {
				notes = append(notes, fmt.Sprintf("the gateway registry could not be listed, so the tag is %s; a newer %s patch may exist (save the config again when online)", d.Gateway.Image.Tag, v.MinorString()))
			}
		}
	}
	picks := in.Recommended.Recommendation
	if len(in.Models) == 0 {
		if len(picks) == 0 {
			why := in.Recommended.Reason
			if why == "" {
				why = "no model fits"
			}
			if d.Mode != config.ModeCPU {
				return d, nil, app.BadInput("name a model with --model HF_REPO (and --gpu NAME:MiB to plan for a card), or use --mode cpu to try the flow without a GPU",
					"no recommendation to deploy: %s", why)
			}
		}
		for _, p := range picks {
			d.Models = append(d.Models, modelFromPick(p, in.Catalog))
		}
		if len(d.Models) == 0 { // CPU mode without a fitting model: the smallest listed model
			if m, ok := smallestListed(in.Catalog, v); ok {
				d.Models = append(d.Models, config.Model{HFRepo: m.HFRepo, ServedName: m.ID, MaxModelLen: 4096})
				notes = append(notes, "CPU mode: "+m.Name+" is set up for trying the flow; vLLM on CPU is slow")
			}
		}
	}
	for _, repo := range in.Models {
		m := config.Model{HFRepo: repo, ServedName: servedName(repo, in.Catalog)}
		found := false
		for _, p := range picks {
			if p.HFRepo == repo || p.Variant == repo {
				m, found = modelFromPick(p, in.Catalog), true
			}
		}
		if !found {
			for _, f := range in.Recommended.Models {
				if f.HFRepo != repo {
					continue
				}
				found = true
				switch f.Verdict {
				case recommend.Fits, recommend.FitsQuantized:
					m.MaxModelLen = f.Context
					m.GPUMemoryUtilization = in.Recommended.Utilization
					m.GPUs = []int{f.GPUIndex}
					if f.Variant != nil {
						m.Variant = f.Variant.Repo
					}
				default:
					notes = append(notes, fmt.Sprintf("%s: %s (%s); writing it anyway as you asked", repo, f.Verdict, f.Why))
				}
			}
		}
		if _, ok := in.Catalog.Find(repo); !ok {
			notes = append(notes, fmt.Sprintf("%s is not in DuoBox's catalog of GitLab-listed models; check GitLab supports it", repo))
		} else if !found {
			notes = append(notes, fmt.Sprintf("%s is not listed by GitLab %s", repo, v.MinorString()))
		}
		d.Models = append(d.Models, m)
	}
	if in.MaxModelLen > 0 {
		for i := range d.Models {
			d.Models[i].MaxModelLen = in.MaxModelLen
		}
	}
	if err := applyVLLMSettings(d.Models, in.VLLM, in.Catalog); err != nil {
		return d, nil, err
	}
	for i := range d.Models {
		if d.Models[i].MaxModelLen == 0 {
			d.Models[i].MaxModelLen = 8192
			notes = append(notes, fmt.Sprintf("%s: no fit computed, a maximum context length of 8192 tokens assumed", d.Models[i].HFRepo))
		}
	}
	d = d.WithDefaults()
	if d.Mode == config.ModeCPU {
		for i := range d.Models {
			d.Models[i].GPUs, d.Models[i].GPUMemoryUtilization = nil, 0
		}
	}
	if err := d.Validate(); err != nil {
		return d, nil, err
	}
	return d, notes, nil
}

// applyVLLMSettings writes the user's vLLM settings into every model,
// refusing values vLLM would refuse (beyond the model's context, a variant
// the model does not have); it changes nothing when it refuses.
func applyVLLMSettings(models []config.Model, o recommend.Options, c catalog.Catalog) error {
	if err := o.Check(); err != nil {
		return err
	}
	out := slices.Clone(models)
	for i := range out {
		m := &out[i]
		entry, known := c.Find(m.HFRepo)
		if known && m.MaxModelLen > entry.Architecture.MaxContext {
			return app.BadInput(fmt.Sprintf("give --max-model-len %d or less for %s", entry.Architecture.MaxContext, entry.Name),
				"max model length %d is beyond %s's own maximum (%d tokens)", m.MaxModelLen, entry.Name, entry.Architecture.MaxContext)
		}
		if o.GPUMemoryUtilization > 0 {
			m.GPUMemoryUtilization = o.GPUMemoryUtilization
		}
		if len(o.GPUs) > 0 {
			m.GPUs = slices.Clone(o.GPUs)
		}
		if o.TensorParallel > 0 {
			m.TensorParallelSize = o.TensorParallel
			if len(m.GPUs) != o.TensorParallel && len(o.GPUs) == 0 {
				m.GPUs = nil
				for g := 0; g < o.TensorParallel; g++ {
					m.GPUs = append(m.GPUs, g)
				}
			}
		}
		if d := strings.ToLower(o.KVCacheDType); d != "" {
			m.KVCacheDType = d
		}
		if o.MaxBatchedTokens > 0 {
			m.MaxNumBatchedTokens = o.MaxBatchedTokens
		}
		switch want := strings.ToLower(o.Variant); {
		case want == "" || want == "auto":
		case want == "own" || want == "none":
			m.Variant = ""
		case known:
			found := ""
			var have []string
			for _, v := range entry.Quantized {
				have = append(have, v.Repo)
				if want == strings.ToLower(v.Method) || want == strings.ToLower(v.Repo) {
					found = v.Repo
					break
				}
			}
			if found == "" {
				fix := "use --variant own"
				if len(have) > 0 {
					fix += " or one of: " + strings.Join(have, ", ")
				}
				return app.BadInput(fix, "%s has no %s variant in DuoBox's catalog", entry.Name, o.Variant)
			}
			m.Variant = found
		}
	}
	copy(models, out)
	return nil
}

func modelFromPick(p recommend.Pick, c catalog.Catalog) config.Model {
	m := config.Model{HFRepo: p.HFRepo, Variant: p.Variant, ServedName: servedName(p.HFRepo, c), MaxModelLen: p.MaxModelLen,
		GPUMemoryUtilization: p.GPUMemoryUtilization, ExtraArgs: p.ExtraArgs, KVCacheDType: p.KVCacheDType, MaxNumBatchedTokens: p.MaxBatchedTokens}
	tp := max(p.TensorParallel, 1)
	if len(p.GPUs) == tp {
		m.GPUs = slices.Clone(p.GPUs)
	} else {
		for i := 0; i < tp; i++ {
			m.GPUs = append(m.GPUs, p.GPUIndex+i)
		}
	}
	if tp > 1 {
		m.TensorParallelSize = tp
	}
	for _, f := range p.Features {
		m.Features = append(m.Features, string(f))
	}
	return m
}

var nonName = regexp.MustCompile(`[^a-z0-9.-]+`)

// servedName is the vLLM --served-model-name: the catalog id, else the repo's base name, lower-case.
func servedName(repo string, c catalog.Catalog) string {
	if m, ok := c.Find(repo); ok {
		return m.ID
	}
	base := repo[strings.LastIndex(repo, "/")+1:]
	return strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-")
}

func smallestListed(c catalog.Catalog, v version.GitLab) (catalog.Model, bool) {
	var best catalog.Model
	for _, m := range c.ListedAt(v) {
		if best.ID == "" || m.WeightBytes < best.WeightBytes {
			best = m
		}
	}
	return best, best.ID != ""
}
