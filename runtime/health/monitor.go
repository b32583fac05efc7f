package health

import (
	"context"
	"time"

	"github.com/duobox/duobox/runtime/logs"
)

// Monitor re-checks the stack whenever the engine reports an event about
// one of its containers (debounced) and every Interval, records each report
// when a Recorder is set, and hands it to the callback.
type Monitor struct {
	Checker  *Checker
	Recorder *Recorder     // optional
	Interval time.Duration // default 10 s
}

// Run checks until ctx ends, then returns ctx's error. onReport is called
// on Run's goroutine; a failed check is reported through onError (optional).
func (m *Monitor) Run(ctx context.Context, onReport func(Report), onError func(error)) error {
	interval := m.Interval
	if interval <= 0 {
		interval = 10 * time.Second
	}
	events := m.Checker.Engine.WatchManagedEvents(ctx, m.Checker.Target.Stack)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	check := func() {
		r, err := m.Checker.Check(ctx)
		if err != nil {
			if onError != nil && ctx.Err() == nil {
				onError(err)
			}
			return
		}
		if m.Recorder != nil {
			if err := m.Recorder.SaveReport(ctx, r); err != nil && onError != nil {
				onError(err)
			}
		}
		onReport(r)
	}
	check()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			check()
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			// Let a burst (die, restart, start, health_status) settle, then check once.
			debounce := time.After(300 * time.Millisecond)
		drain:
			for {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case _, ok := <-events:
					if !ok {
						events = nil
						break drain
					}
				case <-debounce:
					break drain
				}
			}
			check()
		}
	}
}

// ScanLogEvents reads a container's newest lines (up to lines, with the
// engine's timestamps) through the log pipeline and returns what the
// recognisers found, oldest first, with their records; the health check uses
// it to say why a container failed.
func ScanLogEvents(ctx context.Context, src logs.Source, container string, lines int) ([]logs.Event, []logs.Record, error) {
	p := logs.NewPipeline(logs.Options{Ring: logs.RingOptions{MaxLines: max(lines, 1)}})
	if err := src.StreamLogs(ctx, container, logs.Request{Tail: lines, Timestamps: true}, p); err != nil {
		return nil, nil, err
	}
	p.End()
	recs := p.Ring().Search(logs.Query{EventsOnly: true})
	evs := make([]logs.Event, 0, len(recs))
	for _, r := range recs {
		evs = append(evs, *r.Event)
	}
	return evs, recs, nil
}

// EventRecorder returns a pipeline sink that stores every recognised event of
// a stack's container (failures and the KV cache capacity vLLM reports).
// Storage errors are dropped: the log view must not stop for them.
func EventRecorder(ctx context.Context, rec Recorder, stackName, role, container string) func(*logs.Record) {
	return func(r *logs.Record) {
		if r.Event == nil {
			return
		}
		at := r.Time
		if at.IsZero() {
			at = time.Now()
		}
		_ = rec.SaveEvent(ctx, stackName, role, container, at, *r.Event)
	}
}
