package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/units"
	"github.com/duobox/duobox/app/weights"
)

func init() { register(newWeightsCommand) }

func newWeightsCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "weights",
		Short: "Download, import, list and remove model weights in the Hugging Face cache",
		Long: `Weights gets a model's weights into the Hugging Face cache the model container reads,
before the container starts, so that it starts with HF_HUB_OFFLINE=1.

The cache is $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub; the hub is
$HF_ENDPOINT (default https://huggingface.co). The token is $HF_TOKEN, else
$HUGGING_FACE_HUB_TOKEN, else DuoBox's secret file <config>/secrets/hf_token (mode 0600),
else huggingface-cli's token file. It is sent to the hub only, never printed.
` + exitStatusHelp,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newWeightsPullCommand(g), newWeightsImportCommand(g), newWeightsStatusCommand(g), newWeightsRmCommand(g))
	return cmd
}

// weightsEnv reads the hub settings, the token included.
func weightsEnv(g *globals) (weights.Env, error) { return g.core().WeightsEnv() }

// weightsTarget resolves MODEL (a catalog id or a repo id) through the catalog.
func weightsTarget(g *globals, model, revision string) (weights.Target, error) {
	c, err := g.core().Catalog()
	if err != nil {
		return weights.Target{}, err
	}
	return weights.ResolveTarget(c, model, revision)
}

func newWeightsPullCommand(g *globals) *cobra.Command {
	var revision string
	var jobs int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "pull MODEL",
		Short: "Download a model's weights with progress, resume and verification",
		Long: `Pull lists MODEL's files on the hub (MODEL is a catalog id such as mistral-7b-instruct-v0.3
or any repo id such as org/name) and downloads only what vLLM loads: the safetensors in one
format (the Hugging Face shards, or consolidated*.safetensors when the catalog runs the
model with --load-format mistral), the config, tokenizer and generation config. Files
download in parallel under one progress bar; an interrupted file resumes where it stopped,
in this run (retries with backoff) or the next. Every file is verified (sha256 for LFS
files) before it enters the cache; refs/<revision> is written only once all are in place.
Free disk space is checked first. A second pull of the same model waits for the first.
` + exitStatusHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target, err := weightsTarget(g, args[0], revision) // checked first: bad input writes nothing
			if err != nil {
				return err
			}
			env, err := weightsEnv(g)
			if err != nil {
				return err
			}
			bar := newProgressBar(cmd.ErrOrStderr())
			res, err := weights.Pull(cmd.Context(), weights.Options{Env: env, Target: target, Jobs: jobs}, bar.update)
			bar.end()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printWeightsResult(cmd.OutOrStdout(), env, res, "downloaded")
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "branch, tag or commit to pull (default main)")
	cmd.Flags().IntVar(&jobs, "jobs", 8, "files downloaded at once")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON (progress still goes to a terminal's stderr)")
	return cmd
}

func newWeightsImportCommand(g *globals) *cobra.Command {
	var revision, commit string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import MODEL DIR|ARCHIVE",
		Short: "Place a local copy of a model's weights into the cache (air-gapped machines)",
		Long: `Import copies a model brought in by hand into the Hugging Face cache, so that the model
container finds it offline. DIR is a folder holding config.json (or params.json) and the
weights — a huggingface-cli download, a git clone, a copied snapshots/<commit> or
models--org--name cache folder — and ARCHIVE is a .tar or .tar.gz of one.

Only what vLLM loads is imported, as pull selects it. Every file is verified before it
enters the cache: sizes, each safetensors file against its header, every shard of the
weight index present, and sha256 where huggingface-cli's metadata, a SHA256SUMS file or
a cache folder's blob names give it. A damaged copy is refused and the cache left as it was.
` + exitStatusHelp,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := weightsEnv(g)
			if err != nil {
				return err
			}
			target, err := weightsTarget(g, args[0], revision)
			if err != nil {
				return err
			}
			bar := newProgressBar(cmd.ErrOrStderr())
			res, err := weights.Import(cmd.Context(), weights.ImportOptions{Env: env, Target: target, Commit: commit}, args[1], bar.update)
			bar.end()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			printWeightsResult(cmd.OutOrStdout(), env, res, "imported")
			return nil
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "the ref to point at the imported files (default main)")
	cmd.Flags().StringVar(&commit, "commit", "", "the commit the files come from, when the source does not say")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newWeightsStatusCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status [MODEL]",
		Short: "List the models in the Hugging Face cache, their sizes and whether they are complete",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := weightsEnv(g)
			if err != nil {
				return err
			}
			repo := ""
			if len(args) == 1 {
				t, err := weightsTarget(g, args[0], "")
				if err != nil {
					return err
				}
				repo = t.Repo
			}
			models, err := weights.Status(env.HubCache, repo)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					HubCache string                `json:"hub_cache"`
					Models   []weights.CachedModel `json:"models"`
				}{env.HubCache, models})
			}
			printWeightsStatus(cmd.OutOrStdout(), env.HubCache, models)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newWeightsRmCommand(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rm MODEL",
		Short: "Remove a model's weights from the Hugging Face cache",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := weightsEnv(g)
			if err != nil {
				return err
			}
			t, err := weightsTarget(g, args[0], "")
			if err != nil {
				return err
			}
			removed, err := weights.Remove(env.HubCache, t.Repo)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), removed)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed %s from %s (%s freed).\n", removed.Repo, removed.Dir, units.HumanBytes(removed.Bytes))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printWeightsResult(w io.Writer, env weights.Env, r weights.Result, verb string) {
	fmt.Fprintf(w, "%s at %s (commit %s), %s format: %d files, %s, in %s\n",
		r.Repo, r.Revision, shortCommit(r.Commit), r.Format, len(r.Files), units.HumanBytes(r.Bytes), r.Snapshot)
	switch {
	case r.Fetched == 0:
		fmt.Fprintln(w, "Everything was already in the cache; nothing "+verb+".")
	default:
		rate := ""
		if r.Seconds > 0 {
			rate = fmt.Sprintf(" (%s/s)", units.HumanBytes(int64(float64(r.Fetched)/r.Seconds)))
		}
		fmt.Fprintf(w, "%s %s in %s%s", strings.ToUpper(verb[:1])+verb[1:], units.HumanBytes(r.Fetched), roundDuration(r.Seconds), rate)
		if r.Reused > 0 {
			fmt.Fprintf(w, "; %s was already there", units.HumanBytes(r.Reused))
		}
		fmt.Fprintln(w, ".")
	}
	if r.Waited {
		fmt.Fprintln(w, "Another pull of this model ran first; this one waited for it.")
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "Not needed by vLLM, skipped: %s\n", strings.Join(r.Skipped, ", "))
	}
	fmt.Fprintf(w, "The model container finds it offline with HF_HUB_OFFLINE=1 and %s mounted as its hub cache.\n", env.HubCache)
}

func printWeightsStatus(w io.Writer, hubCache string, models []weights.CachedModel) {
	if len(models) == 0 {
		fmt.Fprintf(w, "No models in %s.\n", hubCache)
		return
	}
	fmt.Fprintf(w, "Hugging Face cache: %s\n\n", hubCache)
	t := newTable("REPO", "STATE", "SIZE", "COMMIT", "REFS", "FORMAT", "NOTE")
	t.under = 1
	for _, m := range models {
		if len(m.Snapshots) == 0 {
			t.add(m.Repo, "empty", units.HumanBytes(m.Bytes), "-", "-", "-", "")
		}
		for i, s := range m.Snapshots {
			state, note := "complete", s.Problem
			if !s.Complete {
				state = "incomplete"
			}
			size := ""
			if i == 0 {
				size = units.HumanBytes(m.Bytes)
				if m.PartialBytes > 0 {
					size += fmt.Sprintf(" (+%s partial)", units.HumanBytes(m.PartialBytes))
				}
			}
			refs := strings.Join(s.Refs, ",")
			if refs == "" {
				refs = "-"
			}
			t.add(m.Repo, state, size, shortCommit(s.Commit), refs, string(s.Format), note)
		}
	}
	t.print(w, terminalWidth(w))
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

func roundDuration(seconds float64) time.Duration {
	d := time.Duration(seconds * float64(time.Second))
	if d > time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// progressBar draws weights.Progress as one line on a terminal (redrawn in
// place), or as a line per phase and per 10% when stderr is not a terminal.
type progressBar struct {
	w         io.Writer
	tty       bool
	drawn     bool
	lastPhase weights.Phase
	lastTenth int64
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progressBar{w: w, tty: tty, lastTenth: -1}
}

func (b *progressBar) update(p weights.Progress) {
	line := progressLine(p)
	if b.tty {
		fmt.Fprintf(b.w, "\r%s\x1b[K", line)
		b.drawn = true
		return
	}
	tenth := int64(-1)
	if p.BytesTotal > 0 {
		tenth = p.BytesDone * 10 / p.BytesTotal
	}
	if p.Phase != b.lastPhase || tenth > b.lastTenth {
		fmt.Fprintln(b.w, line)
		b.lastPhase, b.lastTenth = p.Phase, tenth
	}
}

// end finishes the line so that what follows starts on its own.
func (b *progressBar) end() {
	if b.tty && b.drawn {
		fmt.Fprintln(b.w)
	}
}

func progressLine(p weights.Progress) string {
	switch p.Phase {
	case weights.PhaseListing:
		return "Listing " + p.Repo + " on the hub…"
	case weights.PhaseExtracting:
		return "Unpacking the archive…"
	case weights.PhaseWaiting:
		return "Another pull of " + p.Repo + " is running; waiting for it to finish…"
	}
	const width = 24
	frac := 1.0
	if p.BytesTotal > 0 {
		frac = float64(p.BytesDone) / float64(p.BytesTotal)
	}
	filled := int(frac * width)
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	line := fmt.Sprintf("%s %s %3.0f%%  %s / %s", p.Repo, bar, frac*100, units.HumanBytes(p.BytesDone), units.HumanBytes(p.BytesTotal))
	if p.BytesPerSecond > 0 {
		line += fmt.Sprintf("  %s/s", units.HumanBytes(int64(p.BytesPerSecond)))
	}
	if p.ETA > 0 {
		line += "  ETA " + p.ETA.Round(time.Second).String()
	}
	return line + fmt.Sprintf("  %d/%d files", p.FilesDone, p.FilesTotal)
}
