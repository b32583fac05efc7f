package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/units"
)

func init() { register(newRecommendCommand) }

// recommendOutput is recommend --json: the machine and the verdicts.
type recommendOutput struct {
	Machine hardware.Machine `json:"machine"`
	recommend.Result
}

func newRecommendCommand(g *globals) *cobra.Command {
	var flags machineFlags
	var vf vllmFlags
	var asJSON bool
	var gitlabVersion string
	var context int
	cmd := &cobra.Command{
		Use:   "recommend",
		Short: "Say which GitLab-approved models fit this machine, and which to run",
		Long: `Recommend gives every model GitLab lists for your GitLab version a verdict — fits,
fits-quantized (naming the variant), needs-more-gpus (how many of this card), too-large,
or needs-gpu — with its memory breakdown (weights, KV cache at the context, overhead)
against the free GPU memory × the utilisation fraction, and the largest context it
could serve. It then recommends one model, or two sharing the GPU, covering code
completion, code generation and chat as far as the machine allows.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := recommend.CheckContext(context); err != nil {
				return err
			}
			opts, err := vf.options(recommend.Options{Context: context})
			if err != nil {
				return err
			}
			// Parse the catalog and GitLab's version table, and open the state
			// database, while the probes run.
			type loaded struct {
				c   catalog.Catalog
				err error
			}
			catalogDone := make(chan loaded, 1)
			go func() {
				c, err := g.core().Catalog()
				catalogDone <- loaded{c, err}
			}()
			go gitlabversions.Bundled() // parsed once; CheckGitLabVersion reads it
			rec := g.core().StartRecorder(cmd.Context())
			defer rec.Close()
			m, detectErr := flags.detectRecording(cmd.Context(), g, rec)
			cl := <-catalogDone
			if cl.err != nil {
				return cl.err
			}
			c := cl.c
			v, assumed, err := g.core().GitLabVersion(gitlabVersion, c, func(err error) error {
				return app.BadInput("pass --gitlab-version like 17.9 or 18.2.1-ee", "%v", err)
			})
			if err != nil {
				return err
			}
			if err := recommend.CheckGitLabVersion(v, c); err != nil {
				return err
			}
			if detectErr != nil {
				return detectErr
			}
			opts.GitLab = v
			if opts.Engine == "" {
				opts.Engine = g.core().ConfiguredEngine()
			}
			if st := rec.Store(); st != nil {
				opts.Calibrations = actions.Calibrations(cmd.Context(), st, m, opts.Engine)
			}
			res, err := recommend.Recommend(m, c, opts)
			if err != nil {
				return err
			}
			if assumed {
				res.Notes = append(res.Notes, fmt.Sprintf("No GitLab version given; assumed %s. Pass --gitlab-version X.Y for yours.", v))
			}
			rec.Save("recommendation", res)
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), recommendOutput{Machine: m, Result: res})
			}
			printRecommendation(cmd.OutOrStdout(), m, res)
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().StringVar(&gitlabVersion, "gitlab-version", "", "your GitLab version, X.Y or X.Y.Z (default: from the deployment config, else the newest this catalog knows)")
	cmd.Flags().IntVar(&context, "context", 0, "context length in tokens to size the KV cache for (default 16384, capped at each model's maximum)")
	cmd.Flags().IntVar(&context, "max-model-len", 0, "the same as --context (vLLM's name for it)")
	vf.add(cmd)
	return cmd
}

func printRecommendation(w io.Writer, m hardware.Machine, r recommend.Result) {
	gpus := m.NVIDIA()
	switch len(gpus) {
	case 0:
		fmt.Fprintln(w, "No NVIDIA GPU found.")
	default:
		for _, gpu := range gpus {
			fmt.Fprintf(w, "GPU %d: %s, %s free of %s\n", gpu.Index, gpu.Name, units.GiB(gpu.MemoryFree), units.GiB(gpu.MemoryTotal))
		}
	}
	fmt.Fprintf(w, "GitLab %s, context %s, utilisation %.2f, memory predicted for vLLM %s\n\n", r.GitLab, contextLabel(r.Context), r.Utilization, r.Engine)
	t := newTable("MODEL", "VERDICT", "FEATURES", "NEEDS", "MAX CTX", "LICENCE", "WHY")
	t.under = 2
	for _, f := range r.Models {
		var feats []string
		for _, ft := range f.Features {
			feats = append(feats, shortFeature(ft)+":"+string(f.Levels[ft]))
		}
		verdict := f.Verdict
		if f.Verdict == recommend.NeedsMoreGPUs {
			verdict = fmt.Sprintf("needs %d GPUs", f.GPUsNeeded)
		}
		if f.Tight {
			verdict += " (tight)"
		}
		maxCtx := "-"
		if f.MaxContext > 0 {
			maxCtx = fmt.Sprint(f.MaxContext)
		}
		licence, _, _ := strings.Cut(f.Licence, " (")
		if strings.Contains(strings.ToLower(f.Licence), "non-production") {
			licence += " (non-production)"
		}
		t.add(f.Name, verdict, strings.Join(feats, " "), units.GiB(f.FreeNeeded), maxCtx, licence, f.Why)
	}
	t.print(w, terminalWidth(w))
	fmt.Fprintln(w)
	if len(r.Recommendation) == 0 {
		fmt.Fprintf(w, "No recommendation: %s\n", r.Reason)
	} else {
		fmt.Fprintln(w, "Recommendation")
		for _, p := range r.Recommendation {
			repo := p.HFRepo
			if p.Variant != "" {
				repo = p.Variant
			}
			fmt.Fprintf(w, "  %s  (%s)  GPU %d, --gpu-memory-utilization %.2f, --max-model-len %d", p.Name, repo, p.GPUIndex, p.GPUMemoryUtilization, p.MaxModelLen)
			if p.TensorParallel > 1 {
				fmt.Fprintf(w, ", --tensor-parallel-size %d", p.TensorParallel)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  Why: %s\n", r.Reason)
	}
	for _, f := range r.Models {
		if f.Tight {
			fmt.Fprintf(w, "Tight: %s fits with under 3 %% to spare; %s\n", f.Name, f.Advice)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
}

func shortFeature(f catalog.Feature) string {
	return map[catalog.Feature]string{catalog.CodeCompletion: "completion", catalog.CodeGeneration: "generation", catalog.Chat: "chat", catalog.AgentPlatform: "agents"}[f]
}

func contextLabel(n int) string {
	if n == 0 {
		return fmt.Sprintf("%d (default)", recommend.DefaultContext)
	}
	return fmt.Sprint(n)
}
