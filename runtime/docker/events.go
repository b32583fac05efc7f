package docker

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
)

// WatchManagedEvents implements health.Engine: one engine event subscription
// filtered to the stack's labelled containers. When the connection breaks it
// re-subscribes with capped exponential backoff, from the last event's time
// (so none is missed), and then sends a synthetic "resync" event telling the
// consumer to re-inspect everything (lazydocker's lesson: the engine may
// have restarted, and its event log with it). The channel closes when ctx ends.
func (e *Engine) WatchManagedEvents(ctx context.Context, stackName string) <-chan engine.Event {
	out := make(chan engine.Event, 64)
	go func() {
		defer close(out)
		f := client.Filters{}.Add("type", string(events.ContainerEventType)).
			Add("label", stack.LabelManaged+"=true", stack.LabelStack+"="+stackName)
		var since time.Time
		delay := 200 * time.Millisecond
		first := true
		for ctx.Err() == nil {
			opts := client.EventsListOptions{Filters: f}
			if !since.IsZero() {
				opts.Since = since.UTC().Format(time.RFC3339Nano)
			}
			sub := e.API.Events(ctx, opts)
			if !first && !send(ctx, out, engine.Event{Time: time.Now(), Action: engine.ResyncAction}) {
				return
			}
			first = false
		read:
			for {
				select {
				case <-ctx.Done():
					return
				case m, ok := <-sub.Messages:
					if !ok {
						break read
					}
					delay = 200 * time.Millisecond
					ev := engineEvent(m)
					if ev.Time.After(since) {
						since = ev.Time
					}
					if !send(ctx, out, ev) {
						return
					}
				case <-sub.Err:
					break read
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, 10*time.Second)
		}
	}()
	return out
}

func send(ctx context.Context, out chan<- engine.Event, ev engine.Event) bool {
	select {
	case out <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

func engineEvent(m events.Message) engine.Event {
	ev := engine.Event{Action: string(m.Action), Container: m.Actor.ID}
	if m.TimeNano != 0 {
		ev.Time = time.Unix(0, m.TimeNano)
	} else {
		ev.Time = time.Unix(m.Time, 0)
	}
	a := m.Actor.Attributes
	ev.Name, ev.Role, ev.ExitCode = a["name"], a[stack.LabelRole], a["exitCode"]
	ev.Action = strings.TrimSpace(ev.Action)
	return ev
}

// lastExit reads, from the engine's event log, the exit code of the most
// recent "die" of container id since the given time (its last exit, which
// inspect no longer shows once the restart policy started it again), and
// whether that exit was an OOM kill. ok is false when no such event is found
// within a second.
func (e *Engine) lastExit(ctx context.Context, id string, since time.Time) (code int, oom bool, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	f := client.Filters{}.Add("type", string(events.ContainerEventType)).Add("container", id).Add("event", "die", "oom")
	sub := e.API.Events(ctx, client.EventsListOptions{Filters: f,
		Since: since.Add(-time.Second).UTC().Format(time.RFC3339Nano), Until: time.Now().Add(time.Second).UTC().Format(time.RFC3339Nano)})
	for {
		select {
		case <-ctx.Done():
			return code, oom, ok
		case <-sub.Err:
			return code, oom, ok
		case m, more := <-sub.Messages:
			if !more {
				return code, oom, ok
			}
			switch strings.TrimSpace(string(m.Action)) {
			case "oom":
				oom = true
			case "die":
				if c, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
					code, ok = c, true
				}
			}
		}
	}
}
