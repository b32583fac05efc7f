package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/units"
)

func init() { register(newBundleCommand) }

func newBundleCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle",
		Short: "One file for an air-gapped workstation: create it online, inspect it, load it offline",
		Long: `A bundle carries everything 'duobox up' needs on a machine without internet: the AI
Gateway and model server images for the target platform ('docker save' archives), the
model weights in the Hugging Face cache layout, the docs index when the GitLab version
needs one (17.2–17.3), the gateway's tag list and the catalog, with a manifest of sha256
checksums.

  duobox bundle create --gitlab-version 18.5 --model mistralai/Mistral-Small-3.2-24B-Instruct-2506 -o duobox-18.5.bundle
  duobox bundle inspect duobox-18.5.bundle
  duobox bundle load duobox-18.5.bundle      (on the workstation; then 'duobox up' and 'duobox test')
` + exitStatusHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newBundleCreateCommand(g), newBundleLoadCommand(g), newBundleInspectCommand(g))
	return cmd
}

func newBundleCreateCommand(g *globals) *cobra.Command {
	var o bundle.CreateOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create -o FILE",
		Short: "Fetch the images, weights, tags and catalog into one bundle file (online; no GPU needed)",
		Long: `Create fetches, for the target platform, the gateway image whose tag matches the GitLab
version (chosen from the registry's tags by GitLab's rule), the model server image, the
model's weights (only what vLLM loads, verified), the docs index when the version needs
one, the gateway's tag list and the catalog, then writes them with a manifest of sha256
checksums into FILE.

What is fetched is kept in FILE.parts until FILE is complete: run the same command again
after an interruption and it resumes there (image layers and weight files already fetched
are not fetched again). Without --gitlab-version, --model or --mode the deployment config's
are used.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Output == "" {
				return usageErrorf(cmd, "-o FILE is required")
			}
			pr := newBundleProgress(cmd.ErrOrStderr(), !asJSON)
			res, err := g.core().CreateBundle(cmd.Context(), o, pr.show)
			pr.end()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: %s in %s\n", res.File, units.HumanBytes(res.Bytes), roundDuration(res.Seconds))
			printManifest(w, res.Manifest)
			for _, r := range res.Reused {
				fmt.Fprintf(w, "resumed: %s\n", r)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.Output, "output", "o", "", "the bundle file to write (must not exist)")
	f.StringVar(&o.GitLabVersion, "gitlab-version", "", "the GitLab version X.Y the workstation serves (default: the config's)")
	f.StringVar(&o.Model, "model", "", "catalog id or Hugging Face repo of the model (default: the config's)")
	f.StringVar(&o.Mode, "mode", "", "gpu or cpu: which model server image (default: the config's, else gpu)")
	f.StringVar(&o.Platform, "platform", "", "the workstation's platform (default linux/amd64)")
	f.StringVar(&o.GatewayImage, "gateway-image", "", "gateway image repository[:tag] instead of GitLab's (the tag is chosen when not given)")
	f.StringVar(&o.ModelServerImage, "model-server-image", "", "model server image repository[:tag] instead of vLLM's")
	f.StringVar(&o.GatewayRegistry, "gateway-registry", "", "fetch the gateway from this registry (a mirror) instead")
	f.StringVar(&o.ModelServerRegistry, "model-server-registry", "", "fetch the model server from this registry (a mirror) instead")
	f.StringVar(&o.DocsIndex, "docs-index", "", "a docs.db to include (GitLab 17.2–17.3; built from GitLab's docs when not given)")
	f.BoolVar(&asJSON, "json", false, "print the result (with the manifest) as JSON")
	return cmd
}

func newBundleLoadCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "load FILE",
		Short: "Verify a bundle, then load its images, weights and tags (offline)",
		Long: `Load reads the bundle once and checks every sha256 in it: the images the engine lacks
are loaded while the rest is read, and the weights, tags and config are changed only once
every checksum matched. A truncated or damaged bundle, one for another platform, or one for
another GitLab version than the deployment config's is refused with the reason, and nothing
is left behind (images it had loaded are removed). Then it imports the weights into the
Hugging Face cache the model server mounts, records the gateway's tags (for 'duobox upgrade
--check' and 'duobox init' offline) and points the deployment config at the bundle's
images. 'duobox up' and 'duobox test' then need no network. Loading the same bundle again
changes nothing.
` + exitStatusHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfgPath, err := g.configFile()
			if err != nil {
				return err
			}
			pr := newBundleProgress(cmd.ErrOrStderr(), !asJSON)
			res, err := g.core().LoadBundle(cmd.Context(), args[0], pr.show)
			pr.end()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "verified %s (%s) in %s\n", res.File, units.HumanBytes(res.Bytes), roundDuration(res.VerifySeconds))
			for _, i := range res.Images {
				fmt.Fprintf(w, "image    %-8s %s\n", i.Action, i.Ref)
			}
			if res.WeightsRepo != "" {
				fmt.Fprintf(w, "weights  %-8s %s  (%s)\n", res.Weights, res.WeightsRepo, res.Snapshot)
			}
			if res.DocsIndex != "" {
				fmt.Fprintf(w, "docs     %s\n", res.DocsIndex)
			}
			if res.ConfigUpdated {
				fmt.Fprintf(w, "config   now names the bundle's images: %s\n", cfgPath)
			}
			for _, n := range res.Notes {
				fmt.Fprintf(w, "note: %s\n", n)
			}
			if !res.Changed {
				fmt.Fprintln(w, "nothing changed: everything in the bundle was in place already")
			} else {
				fmt.Fprintf(w, "loaded in %s; now run 'duobox up' (no network needed)\n", roundDuration(res.Seconds))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print what was done as JSON")
	return cmd
}

func newBundleInspectCommand(g *globals) *cobra.Command {
	var asJSON bool
	var flags machineFlags
	cmd := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Say what a bundle holds, for which GitLab version and GPU, and whether this machine can run it",
		Long: `Inspect reads the bundle's manifest (quickly: the contents are verified by 'load') and
checks it against this machine: the engine's platform, the GPU the model needs, and the
deployment config's GitLab version. The exit status is 0 even when this machine cannot
run the bundle; "can_run" in --json says so.
` + exitStatusHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := flags.detect(cmd.Context(), g)
			if err != nil {
				return err
			}
			res, err := g.core().InspectBundle(args[0], m)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s: %s, made %s\n", res.File, units.HumanBytes(res.Bytes), res.Manifest.CreatedAt.Format(time.RFC3339))
			printManifest(w, res.Manifest)
			for _, c := range res.Checks {
				mark := "✓"
				if !c.OK {
					mark = "✗"
				}
				fmt.Fprintf(w, "%s %-8s %s\n", mark, c.Name, c.Detail)
			}
			if res.CanRun {
				fmt.Fprintln(w, "this machine can run it: 'duobox bundle load "+args[0]+"'")
			} else {
				fmt.Fprintln(w, "this machine cannot run it as it is (see ✗ above)")
			}
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print {manifest, can_run, checks} as JSON")
	return cmd
}

func printManifest(w io.Writer, m bundle.Manifest) {
	fmt.Fprintf(w, "GitLab   %s\nplatform %s (%s mode)\nGPU      %s\n", m.GitLabVersion, m.Platform, m.Mode, m.GPUClass)
	for _, i := range m.Images {
		fmt.Fprintf(w, "image    %-8s %s  %s\n", i.Role, i.Ref(), units.HumanBytes(i.Size))
	}
	if m.Model != nil {
		fmt.Fprintf(w, "weights  %s @ %s  %s\n", m.Model.Repo, shortCommit(m.Model.Commit), units.HumanBytes(m.Model.Bytes))
	}
	if m.DocsIndex != "" {
		fmt.Fprintln(w, "docs     docs index included")
	}
}

// bundleProgress draws bundle progress: one line per step, redrawn in place
// on a terminal, every few seconds otherwise.
type bundleProgress struct {
	w    io.Writer
	on   bool
	tty  bool
	open bool
	last time.Time
}

func newBundleProgress(w io.Writer, on bool) *bundleProgress {
	p := &bundleProgress{w: w, on: on}
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		p.tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return p
}

func (p *bundleProgress) show(pr bundle.Progress) {
	if !p.on {
		return
	}
	line := pr.Line()
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.open = !pr.Finished
		if pr.Finished {
			fmt.Fprintln(p.w)
		}
		return
	}
	if pr.Finished || time.Since(p.last) > 2*time.Second {
		fmt.Fprintln(p.w, line)
		p.last = time.Now()
	}
}

func (p *bundleProgress) end() {
	if p.open {
		fmt.Fprintln(p.w)
		p.open = false
	}
}
