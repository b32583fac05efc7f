// Package health tells whether DuoBox's stack works and, when not, why. It
// combines what the engine says about each container (state, restarts,
// OOM kill, exit code, Docker health), HTTP probes of the gateway and the
// model server, GPU memory and utilisation samples, and what the log
// recognisers explained, into one overall status with its reason. Samples
// are kept in SQLite for plots. The smoke test (Smoke) sends a real
// completion and GitLab's own "Test connection" call.
//
// The package does not talk to the engine itself: runtime/docker fills the
// plain types below and implements the Engine interface.
package health

import (
	"context"
	"time"
)

// ContainerState is what the engine reports about one container.
type ContainerState struct {
	ID           string    `json:"id,omitempty"`
	Name         string    `json:"name"`
	Role         string    `json:"role,omitempty"`
	Image        string    `json:"image,omitempty"`
	Exists       bool      `json:"exists"`
	Status       string    `json:"status,omitempty"` // created, running, restarting, paused, exited, dead
	Running      bool      `json:"running"`
	Restarting   bool      `json:"restarting,omitempty"`
	OOMKilled    bool      `json:"oom_killed,omitempty"`
	ExitCode     int       `json:"exit_code"`
	Error        string    `json:"error,omitempty"`
	RestartCount int       `json:"restart_count"`
	Health       string    `json:"docker_health,omitempty"` // "", starting, healthy, unhealthy
	HealthLog    string    `json:"docker_health_log,omitempty"`
	StartedAt    time.Time `json:"started_at,omitzero"`
	FinishedAt   time.Time `json:"finished_at,omitzero"`
	TTY          bool      `json:"tty,omitempty"`
	IPAddress    string    `json:"ip_address,omitempty"` // on the stack's network (reachable from a Linux host)
}

// EngineEvent is one engine event about a DuoBox container. Action "resync"
// is synthetic: the subscription was re-established and the consumer should
// re-inspect everything, since events may have been missed meanwhile.
type EngineEvent struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"` // start, die, oom, restart, health_status: healthy, destroy, …, resync
	Container string    `json:"container,omitempty"`
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role,omitempty"`
	ExitCode  string    `json:"exit_code,omitempty"`
}

// ResyncAction is the synthetic action sent after a re-subscription.
const ResyncAction = "resync"

// Engine is what health needs from the container engine; runtime/docker implements it.
type Engine interface {
	// ManagedContainer inspects the stack's container with the given role
	// (Exists is false when there is none).
	ManagedContainer(ctx context.Context, stack, role string) (ContainerState, error)
	// WatchManagedEvents streams events of the stack's containers until ctx
	// ends, re-subscribing with backoff when the engine connection breaks.
	WatchManagedEvents(ctx context.Context, stack string) <-chan EngineEvent
}
