// Package health tells whether DuoBox's stack works and, when not, why. It
// combines what the engine says about each container (state, restarts,
// OOM kill, exit code, Docker health), HTTP probes of the gateway and the
// model server, GPU memory and utilisation samples, and what the log
// recognisers explained, into one overall status with its reason. Samples
// are kept in SQLite for plots. The smoke test (Smoke) sends a real
// completion and GitLab's own "Test connection" call.
//
// The package does not talk to the engine itself: runtime/docker fills
// app/engine's plain types and implements the Engine interface below.
package health

import (
	"context"

	"github.com/duobox/duobox/app/engine"
)

// Engine is what health needs from the container engine; runtime/docker implements it.
type Engine interface {
	// ManagedContainer inspects the stack's container with the given role
	// (Exists is false when there is none).
	ManagedContainer(ctx context.Context, stack, role string) (engine.ContainerState, error)
	// WatchManagedEvents streams events of the stack's containers until ctx
	// ends, re-subscribing with backoff when the engine connection breaks.
	WatchManagedEvents(ctx context.Context, stack string) <-chan engine.Event
}
