package actions

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

// LogsTarget is the container a logs action reads, resolved on the engine.
type LogsTarget struct {
	Engine    Engine
	Config    *config.Deployment // nil when there is no config
	StackName string
	Role      string
	Container engine.ContainerState
}

// Close releases the engine.
func (t *LogsTarget) Close() { t.Engine.Close() }

// ResolveLogs connects and finds the container: a role (model, gateway) of
// the stack, or a DuoBox container's name. stackName "" is the config's.
func (c *Core) ResolveLogs(ctx context.Context, stackName, which string) (*LogsTarget, error) {
	t := &LogsTarget{StackName: stackName}
	if cfg, err := c.LoadConfig(); err == nil {
		t.Config = &cfg
		if t.StackName == "" {
			t.StackName = cfg.Name
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if t.StackName == "" {
		t.StackName = config.DefaultName
	}
	eng, err := c.connectLive(ctx)
	if err != nil {
		return nil, err
	}
	t.Engine = eng
	switch which {
	case stack.RoleModel, stack.RoleGateway:
		t.Role = which
		t.Container, err = eng.ManagedContainer(ctx, t.StackName, which)
		if err == nil && !t.Container.Exists {
			err = NotDeployed(t.StackName)
			if other, oerr := eng.ManagedContainer(ctx, t.StackName, otherRole(which)); oerr == nil && other.Exists {
				err = &app.Problem{Kind: app.KindNotReady, Remedy: app.RemedyDeploy,
					What: "the stack " + t.StackName + " has no " + which + " container"}
			}
		}
	default:
		t.Container, err = eng.ContainerHealthState(ctx, which)
		if errors.Is(err, app.ErrNotFound) {
			err = &app.Problem{Kind: app.KindBadInput, Remedy: app.RemedyChooseStack, What: "there is no container " + which}
		}
		t.Role = t.Container.Role
	}
	if err != nil {
		eng.Close()
		return nil, err
	}
	return t, nil
}

func otherRole(role string) string {
	if role == stack.RoleModel {
		return stack.RoleGateway
	}
	return stack.RoleModel
}

// LogContainers lists the stack's DuoBox containers a log can be read from
// (the serving ones and those an upgrade kept), by name.
func (c *Core) LogContainers(ctx context.Context) ([]engine.ContainerState, error) {
	cfg, err := c.LoadConfig()
	name := config.DefaultName
	if err == nil {
		name = cfg.Name
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	eng, err := c.Connect()
	if err != nil {
		return nil, err
	}
	defer eng.Close()
	objs, err := eng.Objects(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []engine.ContainerState
	for _, o := range objs {
		if o.Kind != "container" {
			continue
		}
		if st, err := eng.ContainerHealthState(ctx, o.Name); err == nil {
			out = append(out, st)
		}
	}
	return out, nil
}

// LogLine is one parsed log line.
type LogLine struct {
	Seq     uint64
	Time    time.Time
	Stream  string // stdout or stderr
	Level   string // debug, info, warning, error, critical, or ""
	Text    string
	Summary string // what a recogniser made of the line, with its fix
	Fix     string
}

// LogFilter selects lines: a regular expression, a minimum level and a
// stream; empty fields select everything.
type LogFilter struct {
	Pattern string
	Level   string
	Stream  string
}

// LogStream is one followed container log. Safe for concurrent use.
type LogStream struct {
	ring   *logs.Ring
	cancel context.CancelFunc
	// Target is the container followed.
	Target *LogsTarget
}

// FollowLogs follows a container (a role or a DuoBox container's name)
// through the log pipeline, as 'duobox logs -f' does: parsed lines in a
// ring of 100,000, re-attached after restarts, recognised failures stored
// for the dashboard. Close stops it.
func (c *Core) FollowLogs(ctx context.Context, which string) (*LogStream, error) {
	t, err := c.ResolveLogs(ctx, "", which)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	p := logs.NewPipeline(logs.Options{Ring: logs.RingOptions{Preallocate: true}})
	if st, err := c.OpenStore(ctx); err == nil {
		p.OnRecord(health.EventRecorder(ctx, health.Recorder{Store: st}, t.StackName, t.Role, t.Container.Name))
		context.AfterFunc(ctx, func() { st.Close() })
	}
	f := &logs.Follower{Source: t.Engine.LogSource(), Container: t.Container.Name, Pipeline: p, Tail: -1}
	go func() {
		_ = f.Run(ctx)
		t.Close()
	}()
	return &LogStream{ring: p.Ring(), cancel: cancel, Target: t}, nil
}

func (l *LogStream) query(f LogFilter, after uint64) (logs.Query, error) {
	q, err := logs.CompileQuery(f.Pattern, f.Level, f.Stream)
	if err != nil {
		return q, app.BadInput("fix the search", "%v", err)
	}
	q.AfterSeq = after
	return q, nil
}

// Lines returns the held lines matching f with Seq above after, oldest
// first; a bad pattern is an error saying what is wrong.
func (l *LogStream) Lines(f LogFilter, after uint64) ([]LogLine, error) {
	q, err := l.query(f, after)
	if err != nil {
		return nil, err
	}
	recs := l.ring.Search(q)
	out := make([]LogLine, len(recs))
	for i := range recs {
		out[i] = logLine(&recs[i])
	}
	return out, nil
}

// Line returns the held line with sequence number seq (false once it left the ring).
func (l *LogStream) Line(seq uint64) (LogLine, bool) {
	r, ok := l.ring.BySeq(seq)
	if !ok {
		return LogLine{}, false
	}
	return logLine(&r), true
}

func logLine(r *logs.Record) LogLine {
	l := LogLine{Seq: r.Seq, Time: r.Time, Stream: r.Stream.String(), Level: r.Level.String(), Text: r.Text}
	if r.Event != nil {
		l.Summary, l.Fix = r.Event.Summary, r.Event.Fix
	}
	return l
}

// Export writes the lines matching f to path (0600).
func (l *LogStream) Export(path string, f LogFilter) error {
	q, err := l.query(f, 0)
	if err != nil {
		return err
	}
	return logs.ExportFile(path, l.ring.Search(q), false)
}

// Close stops following.
func (l *LogStream) Close() { l.cancel() }
