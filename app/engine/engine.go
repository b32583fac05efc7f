// Package engine is DuoBox's container-engine vocabulary: the Engine
// interface that runtime/docker implements, and the plain values it speaks
// in (objects, container state, events, image pulls and their progress),
// shared by deploy, upgrade, health, bundle, the actions and the window.
// It holds no engine client: app/ stays free of the Docker SDK.
package engine

import (
	"context"
	"errors"
	"time"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
)

// Engine is what DuoBox needs from a container engine. Implementations turn
// engine errors into app.Problems with a fix; "not found" is app.ErrNotFound.
type Engine interface {
	// Ping checks that the engine answers (cheap); an app.Problem with a fix when not.
	Ping(ctx context.Context) error
	// Probe asks the engine about itself (runtimes, architecture, data root).
	Probe(ctx context.Context) hardware.Engine
	// Objects lists the containers, networks and volumes labelled with
	// io.duobox.managed=true and io.duobox.stack=stackName.
	Objects(ctx context.Context, stackName string) ([]Object, error)
	// Lookup finds an object of kind by exact name, labelled or not (so that
	// deploy can refuse to touch a stranger).
	Lookup(ctx context.Context, kind, name string) (Object, error)
	Image(ctx context.Context, ref string) (ImageInfo, error)
	// Pull pulls ref (for platform, "" = the engine's), reporting per-layer progress.
	Pull(ctx context.Context, ref, platform string, progress func(LayerEvent)) error
	// CanEmulate reports whether the engine host can run platform (e.g. via binfmt/QEMU).
	CanEmulate(ctx context.Context, platform string) bool
	CreateNetwork(ctx context.Context, n stack.Network) error
	CreateVolume(ctx context.Context, v stack.Volume) error
	// CreateContainer creates c on network with the secret values for c.SecretEnv.
	CreateContainer(ctx context.Context, c stack.Container, network string, secrets map[string]string) (id string, err error)
	Start(ctx context.Context, id string) error
	// Restart stops and starts a container.
	Restart(ctx context.Context, id string) error
	// Remove stops and removes a managed object; it refuses one without the label.
	Remove(ctx context.Context, o Object) error
	Inspect(ctx context.Context, id string) (ContainerState, error)
	Logs(ctx context.Context, id string, tail int) ([]string, error)
	// Exec runs cmd in the container and returns its exit code.
	Exec(ctx context.Context, id string, cmd []string) (int, error)
}

// Object kinds.
const (
	KindContainer = "container"
	KindNetwork   = "network"
	KindVolume    = "volume"
)

// Object is a container, network or volume as the engine reports it.
type Object struct {
	Kind   string            `json:"kind"`
	ID     string            `json:"id"`
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	State  string            `json:"state,omitempty"` // containers: created, running, exited, …
}

// Managed reports whether the object carries DuoBox's label.
func (o Object) Managed() bool { return o.Labels[stack.LabelManaged] == "true" }

// ContainerState is what the engine reports about one container: one
// inspect mapped once (runtime/docker), read by deploy, upgrade and health.
// Its JSON is the container part of `duobox health --json`.
type ContainerState struct {
	ID         string    `json:"id,omitempty"`
	Name       string    `json:"name"`
	Role       string    `json:"role,omitempty"`
	Image      string    `json:"image,omitempty"` // the image reference it was created from
	Exists     bool      `json:"exists"`
	Status     string    `json:"status,omitempty"` // created, running, restarting, paused, exited, dead
	Running    bool      `json:"running"`
	Restarting bool      `json:"restarting,omitempty"`
	OOMKilled  bool      `json:"oom_killed,omitempty"`
	ExitCode   int       `json:"exit_code"`
	Error      string    `json:"error,omitempty"`
	Restarts   int       `json:"restart_count"`
	Health     string    `json:"docker_health,omitempty"` // "", starting, healthy, unhealthy
	HealthLog  string    `json:"docker_health_log,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"` // its last exit
	TTY        bool      `json:"tty,omitempty"`
	IPAddress  string    `json:"ip_address,omitempty"` // on the stack's network (reachable from a Linux host)
	// ImageID is the image ID it runs (upgrade and drift compare it).
	ImageID string `json:"-"`
	// Settings the engine lets `docker update` change on a running
	// container, which DuoBox sets at create time (drift is checked on them
	// too). Not part of the health report.
	RestartPolicy string `json:"-"`
	MemoryLimit   int64  `json:"-"`
	MemorySwap    int64  `json:"-"`
	NanoCPUs      int64  `json:"-"`
	CPUShares     int64  `json:"-"`
	PidsLimit     int64  `json:"-"`
}

// Event is one engine event about a DuoBox container. Action "resync" is
// synthetic: the subscription was re-established and the consumer should
// re-inspect everything, since events may have been missed meanwhile.
type Event struct {
	Time      time.Time `json:"time"`
	Action    string    `json:"action"` // start, die, oom, restart, health_status: healthy, destroy, …, resync
	Container string    `json:"container,omitempty"`
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role,omitempty"`
	ExitCode  string    `json:"exit_code,omitempty"`
}

// ResyncAction is the synthetic action sent after a re-subscription.
const ResyncAction = "resync"

// ImageInfo is a local image.
type ImageInfo struct {
	ID          string   `json:"id"`
	OS          string   `json:"os"`
	Arch        string   `json:"arch"`
	RepoDigests []string `json:"repo_digests,omitempty"`
	Size        int64    `json:"size"`
}

// LayerEvent is one progress message of a pull, per layer.
type LayerEvent struct {
	Image   string // the reference being pulled
	Layer   string // layer ID ("" for image-level messages)
	Status  string // "Pulling fs layer", "Downloading", "Download complete", "Pull complete", "Already exists", "Retrying in 5 seconds", …
	Current int64
	Total   int64
}

// ErrPlatform marks a pull that found no image variant for the requested platform.
var ErrPlatform = errors.New("image has no variant for this platform")
