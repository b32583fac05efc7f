package logs

import (
	"context"
	"errors"
	"time"
)

// Request says which part of a container's log to stream.
type Request struct {
	Since  time.Time // inclusive; zero: from Tail
	Tail   int       // newest lines to start with; < 0: all (ignored when Since is set)
	Follow bool      // keep streaming until the container stops; implies Timestamps
	// Timestamps asks the engine to prefix each message with its time. A
	// follower needs them to re-attach without loss or repeats; a one-shot
	// read can do without (the engine serves it about a third faster).
	Timestamps bool
}

// Source is the engine side of log streaming; runtime/docker implements it.
type Source interface {
	// StreamLogs streams the container's log with the engine's timestamps
	// into out (Frame for multiplexed streams, Raw for TTY containers) and
	// returns nil when the stream ended (with Follow: the container
	// stopped), an error wrapping app.ErrNotFound when there is no such
	// container, or another error when the engine connection broke.
	StreamLogs(ctx context.Context, container string, req Request, out Output) error
	// WaitRunning returns once the container (by name, so a recreated one
	// counts) is running, or ctx ends.
	WaitRunning(ctx context.Context, container string) error
}

// Notice is something a follower wants a person to know (the container
// stopped, the engine went away, it re-attached).
type Notice struct {
	Time    time.Time
	Message string
	Err     error
}

// Follower keeps a pipeline fed from one container: it re-attaches after the
// container restarts or is recreated and after the engine connection breaks,
// streaming from the last engine timestamp it took so no line is lost or
// repeated.
type Follower struct {
	Source    Source
	Container string
	Pipeline  *Pipeline
	Tail      int          // lines to start with; < 0: all
	Since     time.Time    // start here instead of Tail
	OnNotice  func(Notice) // optional
	MaxDelay  time.Duration
}

// Run follows until ctx ends; it returns ctx's error.
func (f *Follower) Run(ctx context.Context) error {
	maxDelay := f.MaxDelay
	if maxDelay <= 0 {
		maxDelay = 2 * time.Second
	}
	req := Request{Follow: true, Timestamps: true, Tail: f.Tail, Since: f.Since}
	delay := 100 * time.Millisecond
	for {
		before := f.Pipeline.Ring().LastSeq()
		err := f.Source.StreamLogs(ctx, f.Container, req, f.Pipeline)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		got := f.Pipeline.Ring().LastSeq() != before
		switch {
		case err == nil:
			f.Pipeline.End()
			f.notice(Notice{Message: "the container stopped; waiting for it to run again"})
		default:
			f.notice(Notice{Message: "the log stream broke; re-attaching", Err: err})
		}
		if got {
			delay = 100 * time.Millisecond
		} else {
			delay = min(2*delay, maxDelay)
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
		if err := f.Source.WaitRunning(ctx, f.Container); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				f.notice(Notice{Message: "cannot check the container", Err: err})
			}
		}
		req = Request{Follow: true, Timestamps: true, Since: f.Pipeline.Resume(), Tail: -1}
		if req.Since.IsZero() {
			req.Tail = f.Tail
		}
	}
}

func (f *Follower) notice(n Notice) {
	if f.OnNotice != nil {
		n.Time = time.Now()
		f.OnNotice(n)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
