package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/weights"
)

func init() { register(newUpCommand) }

func newUpCommand(g *globals) *cobra.Command {
	var asJSON bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Start the model server and the AI Gateway (create, repair or leave alone) and wait until healthy",
		Long: `Up makes the Docker engine match the deployment config: it removes DuoBox's own
leftovers, pulls missing images (one progress bar per image: bytes, rate, ETA), creates
the network and the Hugging Face cache volume, creates missing containers, recreates
those whose config changed, starts stopped ones and leaves the right ones alone; then
it waits until both are healthy. Run it again at any time: it only repairs. Objects
without DuoBox's label are never touched. When up fails, what it created is removed.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout <= 0 { // checked first: bad input writes nothing and touches no engine
				return app.BadInput("give how long to wait as a positive duration, for example --timeout 30m", "--timeout %s is not a positive duration", timeout)
			}
			weightsBar := newProgressBar(cmd.ErrOrStderr())
			bar := newProgressPrinter(cmd.ErrOrStderr(), !asJSON)
			o := actions.UpOptions{HealthTimeout: timeout, OnEvent: bar.event,
				OnPrepared: func(p deploy.Prepared) {
					for _, w := range p.Warnings {
						fmt.Fprintf(cmd.ErrOrStderr(), "duobox: warning: %s\n", w)
					}
					for _, k := range p.NewKeys {
						fmt.Fprintf(cmd.ErrOrStderr(), "duobox: generated key %s (0600)\n", k)
					}
				}}
			if !asJSON {
				o.OnWeights = func(p weights.Progress) { weightsBar.update(p) }
			}
			var learned []recommend.StartRecord
			o.AfterUp = func(ctx context.Context, s *actions.Stack) { learned = g.core().LearnFromStart(ctx, s) }
			rep, err := g.core().Up(cmd.Context(), o)
			weightsBar.end()
			bar.done()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			w := cmd.OutOrStdout()
			for _, a := range rep.Actions {
				fmt.Fprintf(w, "%-9s %-8s %s %s\n", a.Did, a.Kind, a.Name, a.Why)
			}
			printEndpoints(w, rep.Config, rep.Spec)
			printStartRecords(w, learned)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the actions as JSON (up returns only once every container is healthy)")
	cmd.Flags().DurationVar(&timeout, "timeout", 20*time.Minute, "how long to wait for the containers to become healthy (a first model download takes long)")
	return cmd
}

// printEndpoints tells the user where things are and what GitLab needs.
func printEndpoints(w io.Writer, cfg config.Deployment, s stack.Spec) {
	fmt.Fprintf(w, "\nAI Gateway:      http://%s:%d  (health: /monitoring/healthz)\n", config.HostForURL(cfg.Host), cfg.Gateway.Port)
	for i, m := range cfg.Models {
		fmt.Fprintf(w, "Model endpoint:  %s  (for GitLab's self-hosted model; reached by the gateway on the %s network)\n", stack.ModelEndpoint(cfg.Name, i), s.Network.Name)
		fmt.Fprintf(w, "Model identifier: custom_openai/%s\n", m.Name())
	}
}

// progressPrinter draws deploy events: steps as lines, pulls as one bar per
// image (redrawn in place on a terminal, every few seconds otherwise).
type progressPrinter struct {
	w        io.Writer
	on       bool
	tty      bool
	barShown bool
	lastLine time.Time
}

func newProgressPrinter(w io.Writer, on bool) *progressPrinter {
	tty := false
	if f, ok := w.(*os.File); ok {
		st, err := f.Stat()
		tty = err == nil && st.Mode()&os.ModeCharDevice != 0
	}
	return &progressPrinter{w: w, on: on, tty: tty}
}

func (p *progressPrinter) event(ev deploy.Event) {
	if !p.on {
		return
	}
	switch ev.Kind {
	case deploy.EventPull:
		line := ev.Pull.Bar(30)
		if p.tty {
			fmt.Fprintf(p.w, "\r\033[K%s", line)
			p.barShown = true
			if ev.Pull.Finished {
				fmt.Fprintln(p.w)
				p.barShown = false
			}
			return
		}
		if ev.Pull.Finished || time.Since(p.lastLine) > 2*time.Second || strings.HasPrefix(ev.Pull.Status, "Retrying") {
			fmt.Fprintln(p.w, line)
			p.lastLine = time.Now()
		}
	case deploy.EventWarning:
		p.endBar()
		fmt.Fprintf(p.w, "warning: %s\n", ev.Message)
	default:
		p.endBar()
		fmt.Fprintln(p.w, ev.Message)
	}
}

func (p *progressPrinter) endBar() {
	if p.barShown {
		fmt.Fprintln(p.w)
		p.barShown = false
	}
}

func (p *progressPrinter) done() { p.endBar() }

// printStartRecords shows what the model servers' starts measured against
// the prediction (issue 14).
func printStartRecords(w io.Writer, recs []recommend.StartRecord) {
	for _, r := range recs {
		fmt.Fprintf(w, "Memory at start of %s (vLLM %s), predicted vs measured:\n", r.ModelID, r.Predicted.Engine)
		for _, d := range r.Differences {
			fmt.Fprintf(w, "  %s\n", d)
		}
		if r.Calibration != nil {
			fmt.Fprintln(w, "  DuoBox's next prediction for this model on this machine follows these figures.")
		}
	}
}
