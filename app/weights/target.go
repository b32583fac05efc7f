package weights

import (
	"strings"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
)

// Target is what to get: a repository at a revision, in the format vLLM will load.
type Target struct {
	Repo       string // org/name
	Revision   string // branch, tag or commit; "main" when empty
	LoadFormat string // "mistral" for consolidated*.safetensors; anything else for the HF shards
}

func (t Target) revision() string {
	if t.Revision == "" {
		return "main"
	}
	return t.Revision
}

// ResolveTarget turns a catalog id or a repo id into a Target. The vLLM
// arguments of the checkpoint served decide the weight format: the model's
// own for its repo, a quantized variant's own for that variant (never the
// original's); any other repo gets the HF shards.
func ResolveTarget(c catalog.Catalog, model, revision string) (Target, error) {
	if revision != "" {
		if err := CheckRevision(revision); err != nil {
			return Target{}, err
		}
	}
	if m, ok := c.Find(model); ok {
		t := Target{Repo: m.HFRepo, Revision: revision}
		for _, q := range m.Quantized {
			if strings.EqualFold(q.Repo, model) {
				t.Repo = q.Repo
			}
		}
		t.LoadFormat = LoadFormatFromArgs(m.ArgsFor(t.Repo))
		// a catalog overlay is user input too: its repo becomes a cache path
		if err := CheckRepoID(t.Repo); err != nil {
			return Target{}, err
		}
		return t, nil
	}
	if err := CheckRepoID(model); err != nil {
		return Target{}, err
	}
	return Target{Repo: model, Revision: revision}, nil
}

// TargetFor is the Target of a deployment's model, what `duobox up` passes
// to Ensure: the repo served (the quantized variant when set) in the format
// the model's vLLM arguments load — the catalog's vllm_args for the
// catalog's own repo, then the deployment's extra args, which win.
func TargetFor(c catalog.Catalog, m config.Model) (Target, error) {
	t, err := ResolveTarget(c, m.Repo(), "")
	if err != nil {
		return t, err
	}
	if f := LoadFormatFromArgs(m.ExtraArgs); f != "" {
		t.LoadFormat = f
	}
	return t, nil
}

// LoadFormatFromArgs returns the value of vLLM's --load-format (or
// --load_format) in args, the last one winning as in vLLM; "" when absent.
// Pass the catalog's vllm_args followed by the deployment's extra args.
func LoadFormatFromArgs(args ...[]string) string {
	format := ""
	for _, list := range args {
		for i, a := range list {
			for _, flag := range []string{"--load-format", "--load_format"} {
				switch {
				case a == flag && i+1 < len(list):
					format = list[i+1]
				case strings.HasPrefix(a, flag+"="):
					format = strings.TrimPrefix(a, flag+"=")
				}
			}
		}
	}
	return format
}
