package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

func init() { register(newHealthCommand) }

func newHealthCommand(g *globals) *cobra.Command {
	var watch, asJSON bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Say whether the model server and the gateway work, and if not why",
		Long: `Health inspects DuoBox's two containers (state, restarts, OOM kill, exit code,
Docker health), probes the gateway's /monitoring/healthz and the model server's
/health and /v1/models (the served name must be listed) and, when the gateway
runs the Agent Platform (GitLab 18.0 on), its gRPC health (grpc.health.v1) on
the agent port — the reason then says which half is down and why, samples the GPUs
(NVML, else nvidia-smi), reads the newest log lines for known failures, and
prints an overall status with its reason and fix. Each check is kept in the
state database for plots.

With --watch it re-checks on every engine event about the containers and every
--interval, until Ctrl-C.

Without --watch the exit status is 0 when the status is ok and 4 otherwise.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return app.BadInput("give a positive duration such as 10s", "--interval %s is not positive", interval)
			}
			return runHealth(cmd.Context(), g, cmd.OutOrStdout(), cmd.ErrOrStderr(), watch, asJSON, interval)
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "keep checking until Ctrl-C")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print each report as JSON (one object per line with --watch)")
	cmd.Flags().DurationVar(&interval, "interval", 10*time.Second, "with --watch: check at least this often")
	return cmd
}

func runHealth(ctx context.Context, g *globals, stdout, stderr io.Writer, watch, asJSON bool, interval time.Duration) error {
	if !watch {
		r, err := g.core().Health(ctx)
		if err != nil {
			return err
		}
		if asJSON {
			if err := writeJSON(stdout, r); err != nil {
				return err
			}
		} else {
			printHealth(stdout, r)
		}
		return actions.HealthError(r)
	}
	return g.core().WatchHealth(ctx, interval, func(r health.Report) {
		if asJSON {
			writeJSONLine(stdout, r)
			return
		}
		fmt.Fprintf(stdout, "── %s\n", r.Time.Local().Format("15:04:05"))
		printHealth(stdout, r)
	}, func(err error) { fmt.Fprintf(stderr, "duobox: %v\n", err) })
}

func writeJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err == nil {
		w.Write(append(b, '\n'))
	}
}

func printHealth(w io.Writer, r health.Report) {
	fmt.Fprintf(w, "Status: %s — %s\n", r.Status, r.Reason)
	if r.Fix != "" {
		fmt.Fprintf(w, "Fix:    %s\n", r.Fix)
	}
	for _, c := range r.Containers {
		if !c.Exists {
			fmt.Fprintf(w, "  %-8s (none)\n", c.Role)
			continue
		}
		state := c.Status
		if c.Health != "" {
			state += " (" + c.Health + ")"
		}
		if !c.Running && c.Status == "exited" {
			state += fmt.Sprintf(", exit code %d", c.ExitCode)
		}
		if c.OOMKilled {
			state += ", OOM killed"
		}
		fmt.Fprintf(w, "  %-8s %-24s %-28s restarts %d\n", c.Role, c.Name, state, c.Restarts)
	}
	for _, p := range r.Probes {
		mark := "✓"
		if !p.OK {
			mark = "✗"
		}
		fmt.Fprintf(w, "  %s %-18s %s %s", mark, p.Name, p.URL, p.Latency.Round(time.Millisecond))
		if p.Detail != "" {
			fmt.Fprintf(w, " — %s", p.Detail)
		}
		fmt.Fprintln(w)
	}
	for _, gpu := range r.GPUs {
		util := "?"
		if gpu.UtilizationPct != nil {
			util = fmt.Sprintf("%.0f%%", *gpu.UtilizationPct)
		}
		fmt.Fprintf(w, "  GPU %d %s: %.1f / %.1f GiB used, %s busy (%s)\n", gpu.Index, gpu.Name,
			float64(gpu.MemoryUsed)/(1<<30), float64(gpu.MemoryTotal)/(1<<30), util, gpu.Source)
	}
	if r.GPUError != "" {
		fmt.Fprintf(w, "  GPUs: %s\n", r.GPUError)
	}
	if c := r.KVCache; c != nil {
		fmt.Fprintf(w, "  KV cache (vLLM, %s): %.2f GiB, %d tokens", c.ReportedAt.Local().Format("Jan 2 15:04"), c.KVCacheGiB, c.KVCacheTokens)
		if c.MaxConcurrency > 0 {
			fmt.Fprintf(w, ", %.2fx full-length requests at once", c.MaxConcurrency)
		}
		fmt.Fprintln(w)
	}
	shown := map[string]bool{} // one line per kind: the same failure repeats in a crash loop
	for i := len(r.Events) - 1; i >= 0; i-- {
		e := r.Events[i]
		if e.Severity >= logs.LevelWarning && !shown[e.Role+e.Kind] {
			shown[e.Role+e.Kind] = true
			fmt.Fprintf(w, "  %s log: %s\n", e.Role, e.Summary)
		}
	}
}
