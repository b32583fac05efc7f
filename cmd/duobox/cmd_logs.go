package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

func init() { register(newLogsCommand) }

// logsOptions are the flags of duobox logs.
type logsOptions struct {
	follow    bool
	since     string
	tail      string
	grep      string
	ignore    bool
	level     string
	stream    string
	asJSON    bool
	fromFile  string
	export    string
	summary   bool
	ringLines int
	stack     string
	noCopy    bool
	times     bool
}

func newLogsCommand(g *globals) *cobra.Command {
	var o logsOptions
	cmd := &cobra.Command{
		Use:   "logs [flags] model|gateway|CONTAINER",
		Short: "Show, follow, search and explain the model server's or the gateway's log",
		Long: `Logs reads a DuoBox container's log through DuoBox's pipeline: lines are
parsed (the gateway's JSON lines and vLLM's plain lines, with their level),
very long lines are cut and marked, binary bytes are replaced, and known
failures are explained with a fix ("KV cache is needed …", CUDA out of memory,
gated Hugging Face models, the gateway's 401s, …).

  duobox logs model                      the last 200 lines
  duobox logs -f gateway --level warning follow; re-attaches after restarts
  duobox logs model --grep 'KV cache|CUDA' --since 1h
  duobox logs model --summary            counts by level and the failures found
  duobox logs --from-file saved.log      the same parser over a saved log

With --json every line is one JSON object with at least level, message and,
when a recogniser fired, event {kind, summary, fix}. Following keeps at most
--ring-lines lines in memory and a rotated copy in the log directory.
Only containers carrying DuoBox's label are read.
` + exitStatusHelp,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.fromFile != "" {
				if len(args) > 0 {
					return app.BadInput("give either a container or --from-file", "--from-file reads a saved log; drop %q", args[0])
				}
				return runLogsFromFile(cmd.Context(), cmd.OutOrStdout(), o)
			}
			if len(args) != 1 {
				return app.BadInput("for example: duobox logs model", "say whose log to show: model, gateway or a DuoBox container name")
			}
			return runLogs(cmd.Context(), g, cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "keep printing new lines; re-attach after restarts (Ctrl-C stops)")
	f.StringVar(&o.since, "since", "", "only lines since a duration ago (10m, 2h) or a time (2026-11-27T03:00:00Z)")
	f.StringVar(&o.tail, "tail", "", "how many of the newest (matching) lines to show: a number or all (default 200; all with --from-file)")
	f.StringVar(&o.grep, "grep", "", "only lines matching this regular expression (Go RE2 syntax)")
	f.BoolVarP(&o.ignore, "ignore-case", "i", false, "--grep ignores case")
	f.StringVar(&o.level, "level", "", "only lines at this level or above: debug, info, warning, error, critical")
	f.StringVar(&o.stream, "stream", "", "only stdout or stderr")
	f.BoolVar(&o.asJSON, "json", false, "one JSON object per line")
	f.StringVar(&o.fromFile, "from-file", "", "parse a saved log (docker logs output, with or without -t; - for stdin)")
	f.StringVar(&o.export, "export", "", "write the selected lines to this file (0600) instead of the terminal")
	f.BoolVar(&o.summary, "summary", false, "print counts by level and the recognised events instead of the lines")
	f.IntVar(&o.ringLines, "ring-lines", logs.DefaultRingLines, "lines kept in memory per container")
	f.StringVar(&o.stack, "stack", "", "stack name (default: the config's, or duobox)")
	f.BoolVar(&o.noCopy, "no-copy", false, "with -f: do not keep a rotated copy in the log directory")
	f.BoolVarP(&o.times, "timestamps", "t", false, "ask the engine for each line's time (always on with -f)")
	return cmd
}

// logsQuery turns the filter flags into a query; tail < 0 means all.
func (o logsOptions) query(defaultTail int) (logs.Query, int, error) {
	pattern := o.grep
	if pattern != "" && o.ignore {
		pattern = "(?i)" + pattern
	}
	q, err := logs.CompileQuery(pattern, o.level, o.stream)
	if err != nil {
		return q, 0, app.BadInput("fix the flag", "%v", err)
	}
	if o.since != "" {
		if d, err := time.ParseDuration(o.since); err == nil {
			q.Since = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, o.since); err == nil {
			q.Since = t
		} else {
			return q, 0, app.BadInput("write a duration such as 10m or 2h, or an RFC 3339 time such as 2026-11-27T03:00:00Z", "--since %q is neither a duration nor a time", o.since)
		}
	}
	tail := defaultTail
	switch strings.ToLower(o.tail) {
	case "":
	case "all", "-1":
		tail = -1
	default:
		n, err := strconv.Atoi(o.tail)
		if err != nil || n < 0 {
			return q, 0, app.BadInput("give a number of lines or all", "--tail %q is not a number of lines", o.tail)
		}
		tail = n
	}
	if o.ringLines <= 0 {
		return q, 0, app.BadInput("give a positive number", "--ring-lines %d must be positive", o.ringLines)
	}
	return q, tail, nil
}

func (o logsOptions) filtering(q logs.Query) bool {
	return q.Regexp != nil || q.MinLevel != 0 || q.Stream != 0 || !q.Since.IsZero()
}

// recordPrinter writes records as text or JSON lines.
type recordPrinter struct {
	w      *bufio.Writer
	asJSON bool
}

func (p *recordPrinter) print(recs []logs.Record) error {
	if err := logs.Export(p.w, recs, p.asJSON); err != nil {
		return err
	}
	return p.w.Flush()
}

func runLogsFromFile(ctx context.Context, stdout io.Writer, o logsOptions) error {
	q, tail, err := o.query(-1)
	if err != nil {
		return err
	}
	var in io.Reader = os.Stdin
	if o.fromFile != "-" {
		if st, err := os.Stat(o.fromFile); err == nil && !st.Mode().IsRegular() {
			return app.BadInput("give the path of a saved log file (docker logs NAME > FILE), not a folder", "--from-file %s is not a regular file", o.fromFile)
		}
		f, err := os.Open(o.fromFile)
		if err != nil {
			return app.BadInput("give the path of a saved log file", "cannot read %s: %v", o.fromFile, err)
		}
		defer f.Close()
		in = f
	}
	out, closeOut, err := logsOutput(stdout, o.export)
	if err != nil {
		return err
	}
	defer closeOut()
	pr := &recordPrinter{w: bufio.NewWriterSize(out, 256<<10), asJSON: o.asJSON}
	p := logs.NewPipeline(logs.Options{Ring: logs.RingOptions{MaxLines: o.ringLines}})
	streaming := tail < 0 && !o.summary
	if streaming {
		var line []byte
		p.OnRecord(func(r *logs.Record) {
			if !q.Match(r) {
				return
			}
			if o.asJSON {
				_ = logs.Export(pr.w, []logs.Record{*r}, true)
				return
			}
			line = append(r.AppendText(line[:0]), '\n')
			pr.w.Write(line)
		})
	}
	if err := p.Feed(contextReader{ctx, in}); err != nil {
		return fmt.Errorf("read %s: %w", o.fromFile, err)
	}
	if o.summary {
		return printLogSummary(out, p, o.asJSON)
	}
	if !streaming {
		q.Tail = tail
		return pr.print(p.Ring().Search(q))
	}
	return pr.w.Flush()
}

// contextReader stops a long read when ctx ends (Ctrl-C).
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// logsOutput is stdout, or the --export file (0600).
func logsOutput(stdout io.Writer, export string) (io.Writer, func(), error) {
	if export == "" {
		return stdout, func() {}, nil
	}
	f, err := os.OpenFile(export, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, app.BadInput("choose a writable path", "cannot write --export %s: %v", export, err)
	}
	return f, func() { f.Close() }, nil
}

// logSummary is --summary's shape.
type logSummary struct {
	logs.Stats
	Explained []logs.JSONRecord `json:"explained"`
}

func printLogSummary(w io.Writer, p *logs.Pipeline, asJSON bool) error {
	evs := p.Ring().Search(logs.Query{EventsOnly: true})
	s := logSummary{Stats: p.Stats()}
	for i := range evs {
		s.Explained = append(s.Explained, evs[i].ToJSON())
	}
	if asJSON {
		return writeJSON(w, s)
	}
	fmt.Fprintf(w, "%d lines (%d cut, %d with invalid UTF-8, %d binary)\n", s.Lines, s.Truncated, s.Invalid, s.Binary)
	for _, l := range []string{"critical", "error", "warning", "info", "debug", "unknown"} {
		if n := s.Levels[l]; n > 0 {
			fmt.Fprintf(w, "  %-8s %d\n", l, n)
		}
	}
	if len(evs) == 0 {
		fmt.Fprintln(w, "No known failure recognised.")
		return nil
	}
	fmt.Fprintln(w, "Recognised:")
	bw := bufio.NewWriter(w)
	if err := logs.Export(bw, evs, false); err != nil {
		return err
	}
	return bw.Flush()
}

func runLogs(ctx context.Context, g *globals, stdout, stderr io.Writer, arg string, o logsOptions) error {
	q, tail, err := o.query(200)
	if err != nil {
		return err
	}
	t, err := g.core().ResolveLogs(ctx, o.stack, arg)
	if err != nil {
		return err
	}
	defer t.Close()
	src := t.Engine.LogSource()
	name := t.Container.Name
	p := logs.NewPipeline(logs.Options{Ring: logs.RingOptions{MaxLines: o.ringLines}})

	// --since filters on each line's time too, so it needs the engine's timestamps.
	req := logs.Request{Tail: tail, Since: q.Since, Timestamps: o.times || !q.Since.IsZero()}
	if o.filtering(q) || o.summary {
		req.Tail = -1 // filter the whole log (the ring bounds memory), then keep the newest matches
	}
	out, closeOut, err := logsOutput(stdout, o.export)
	if err != nil {
		return err
	}
	defer closeOut()
	pr := &recordPrinter{w: bufio.NewWriterSize(out, 256<<10), asJSON: o.asJSON}

	if o.follow {
		req.Timestamps = true // the re-attach after a restart starts from the last line's time
	}
	if err := src.StreamLogs(ctx, name, req, p); err != nil {
		return err
	}
	if !o.follow {
		p.End() // the stream is over: a last line without newline is complete
	}
	if o.summary {
		return printLogSummary(out, p, o.asJSON)
	}
	q.Tail = max(tail, 0)
	if err := pr.print(p.Ring().Search(q)); err != nil || !o.follow {
		return err
	}

	// Follow from the last line shown: new lines only, across restarts.
	if !o.noCopy {
		if cp := rotatedCopy(g, t, stderr); cp != nil {
			defer cp.Close()
			p.OnRecord(cp.Write)
		}
	}
	if st, err := g.core().OpenStore(ctx); err == nil {
		defer st.Close()
		p.OnRecord(health.EventRecorder(ctx, health.Recorder{Store: st}, t.StackName, t.Role, name))
	}
	q.Tail = 0
	view := logs.NewView(p.Ring(), q, false)
	f := &logs.Follower{Source: src, Container: name, Pipeline: p, Since: p.Resume(), Tail: 0,
		OnNotice: func(n logs.Notice) {
			if n.Err != nil {
				fmt.Fprintf(stderr, "duobox: %s: %s (%v)\n", name, n.Message, n.Err)
			} else {
				fmt.Fprintf(stderr, "duobox: %s: %s\n", name, n.Message)
			}
		}}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case <-tick.C:
		}
		recs, missed := view.Poll(0)
		if missed > 0 {
			fmt.Fprintf(stderr, "duobox: %d lines went by faster than they could be shown (kept in the rotated copy)\n", missed)
		}
		if len(recs) > 0 {
			if err := pr.print(recs); err != nil {
				return err
			}
		}
	}
}

// copyDir is where logs -f keeps its copy: the gateway's log folder when the
// config gives one or the gateway logs to a file (then it exists anyway),
// else <data>/gitlab-agw — never a /srv/gitlab-agw made only for the copy.
func copyDir(cfg *config.Deployment, dirs paths.Dirs) (string, error) {
	if cfg == nil || (cfg.LogDir == "" && !stack.GatewayLogsToFile(*cfg)) {
		dir := filepath.Join(dirs.Data, "gitlab-agw")
		return dir, deploy.LogDirWritable(dir)
	}
	return stack.ResolveLogDir(cfg.LogDir, dirs.Data, dirs.Home, deploy.LogDirWritable)
}

// rotatedCopy opens <log dir>/duobox-<container>.log, or says why not.
func rotatedCopy(g *globals, t *actions.LogsTarget, stderr io.Writer) *logs.RotatedCopy {
	dirs, err := g.dirs()
	if err != nil {
		return nil
	}
	dir, err := copyDir(t.Config, dirs)
	if err == nil {
		var cp *logs.RotatedCopy
		if cp, err = logs.NewRotatedCopy(dir, "duobox-"+t.Container.Name, 10, 5); err == nil {
			cp.OnCut = func(file string, line int, err error) {
				fmt.Fprintln(stderr, "duobox: "+logs.CutNotice(file, line, err))
			}
			cp.OnResume = func(file string, line, lost int) {
				fmt.Fprintln(stderr, "duobox: "+logs.ResumeNotice(file, line, lost))
			}
			return cp
		}
	}
	fmt.Fprintf(stderr, "duobox: no rotated copy of the log: %v\n", err)
	return nil
}
