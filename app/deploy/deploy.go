// Package deploy brings the stack spec to life and keeps it in line: up
// (create what is missing, recreate what drifted, leave what is right alone),
// down, status, restart and reconcile, over app/engine's Engine interface
// that runtime/docker implements. It never touches an object without
// DuoBox's label, and it records what it created in the state database.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/diskspace"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/units"
)

// Deployer runs the stack on an engine. The function fields are seams for
// the machine's facts (disk, ports, registry); nil means the real probe.
type Deployer struct {
	Engine        engine.Engine
	Store         *store.Store  // optional: records objects and runs
	OnEvent       func(Event)   // optional: steps, warnings and pull progress, for the CLI and the GUI
	HealthTimeout time.Duration // how long up waits for health; default 20 minutes

	FreeDisk  func(path string) (uint64, error)                    // free bytes at path
	ImageSize func(ctx context.Context, ref string) (int64, error) // compressed size in the registry
	PortFree  func(hostIP string, port int) error                  // nil when the port can be bound
}

// Event is something the user should see while deploy works.
type Event struct {
	Kind      string           `json:"kind"` // EventStep, EventWarning, EventPull
	Container string           `json:"container,omitempty"`
	Message   string           `json:"message,omitempty"`
	Pull      *engine.Progress `json:"pull,omitempty"`
	// Step is the upgrade or rollback step this event reports (upgrade.Step
	// values such as "rolling_back"); "" for other events.
	Step string `json:"step,omitempty"`
}

// Event kinds.
const (
	EventStep    = "step"
	EventWarning = "warning"
	EventPull    = "pull"
)

// Action is what up/down/restart did to one object.
type Action struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	Did  string `json:"did"` // created, recreated, started, kept, removed, restarted
	Why  string `json:"why,omitempty"`
}

// Report is the result of up, down or restart.
type Report struct {
	Stack   string   `json:"stack"`
	Actions []Action `json:"actions"`
}

func (d *Deployer) emit(ev Event) {
	if d.OnEvent != nil {
		d.OnEvent(ev)
	}
}

func (d *Deployer) step(container, format string, args ...any) {
	d.emit(Event{Kind: EventStep, Container: container, Message: fmt.Sprintf(format, args...)})
}

// Up makes the engine match spec: it removes the stack's orphans and
// duplicates, pulls missing images, creates the network and volumes, creates
// missing containers, recreates drifted ones, starts stopped ones, leaves the
// right ones alone, and waits until every container is healthy. When it
// fails, what this run created is removed again.
func (d *Deployer) Up(ctx context.Context, spec stack.Spec) (rep Report, err error) {
	rep.Stack = spec.Stack
	spec = spec.Clone() // platform decisions below must not change the caller's spec
	rec := recorder{d.Store}
	run := rec.begin(ctx, spec.Stack, "up")
	defer func() { rec.finish(ctx, run, err) }()

	facts, err := d.preflight(ctx, spec)
	if err != nil {
		return rep, err
	}
	secrets := map[string]map[string]string{}
	for _, c := range spec.Containers {
		if secrets[c.Name], err = stack.ReadSecrets(c); err != nil {
			return rep, err
		}
	}
	if err := d.removeOrphans(ctx, spec, &rep); err != nil {
		return rep, err
	}
	if err := d.ensureImages(ctx, facts, spec.Containers); err != nil {
		return rep, err
	}

	var created []engine.Object // this run's creations, undone on failure
	defer func() {
		if err == nil {
			return
		}
		cleanup := context.WithoutCancel(ctx)
		for i := len(created) - 1; i >= 0; i-- {
			if rmErr := d.Engine.Remove(cleanup, created[i]); rmErr == nil {
				rec.drop(cleanup, spec.Stack, created[i].Kind, created[i].Name)
			}
		}
	}()
	var mu sync.Mutex // guards created and rep while the network and volumes are ensured concurrently
	ensure := func(kind, objName string, labels map[string]string, create func() error) error {
		o, err := d.Engine.Lookup(ctx, kind, objName)
		switch {
		case errors.Is(err, app.ErrNotFound):
			if err := create(); err != nil {
				return err
			}
			o = engine.Object{Kind: kind, ID: objName, Name: objName, Labels: labels} // a volume's ID is its name
			if kind == engine.KindNetwork {
				if o, err = d.Engine.Lookup(ctx, kind, objName); err != nil {
					return err
				}
			}
			rec.put(ctx, spec.Stack, o, labels[stack.LabelRole], "", "")
			mu.Lock()
			created = append(created, o)
			rep.Actions = append(rep.Actions, Action{Kind: kind, Name: objName, Did: "created"})
			mu.Unlock()
			return nil
		case err != nil:
			return err
		}
		if err := checkOwned(o, spec.Stack); err != nil {
			return err
		}
		mu.Lock()
		rep.Actions = append(rep.Actions, Action{Kind: kind, Name: objName, Did: "kept"})
		mu.Unlock()
		return nil
	}
	jobs := []func() error{func() error {
		return ensure(engine.KindNetwork, spec.Network.Name, spec.Network.Labels, func() error { return d.Engine.CreateNetwork(ctx, spec.Network) })
	}}
	for _, v := range spec.Volumes {
		jobs = append(jobs, func() error {
			return ensure(engine.KindVolume, v.Name, v.Labels, func() error { return d.Engine.CreateVolume(ctx, v) })
		})
	}
	if err = runAll(jobs); err != nil {
		return rep, err
	}
	// Create (or recreate) each container and start it as soon as it is
	// created, all containers at once: the gateway calls the model only on
	// request, so it needs the model's name on the network, not its
	// readiness. Health is awaited for all together.
	type outcome struct {
		obj      engine.Object
		act      Action
		created  []engine.Object
		err      error
		startErr error
		started  time.Time
	}
	outcomes := make([]outcome, len(spec.Containers))
	var wg sync.WaitGroup
	for i, c := range spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outcomes[i]
			o.obj, o.act, o.err = d.ensureContainer(ctx, spec, c, secrets[c.Name], &o.created)
			if o.err != nil || o.act.Did == "kept" {
				return
			}
			o.started = time.Now()
			o.startErr = d.Engine.Start(ctx, o.obj.ID)
		}()
	}
	wg.Wait()
	ids := map[string]string{}
	started := map[string]time.Time{}
	errs := make([]error, 0, 2*len(spec.Containers))
	for i, c := range spec.Containers {
		o := outcomes[i]
		created = append(created, o.created...)
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		ids[c.Name] = o.obj.ID
		rep.Actions = append(rep.Actions, o.act)
		if !o.started.IsZero() {
			started[c.Name] = o.started
		}
	}
	for _, o := range outcomes {
		errs = append(errs, o.startErr)
	}
	if err = firstProblem(errs); err != nil {
		return rep, err
	}
	err = d.waitHealthy(ctx, spec.Containers, ids, started)
	return rep, err
}

// runAll runs jobs concurrently and returns the first error in job order.
func runAll(jobs []func() error) error {
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = job()
		}()
	}
	wg.Wait()
	return firstProblem(errs)
}

// firstProblem returns the first non-nil error (so a person reads one clear message).
func firstProblem(errs []error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// preflight checks that the engine answers and, when a container needs one,
// the GPU access, before anything is created. The full probe (an engine
// "info", slow on a busy engine) runs in the background meanwhile.
func (d *Deployer) preflight(ctx context.Context, spec stack.Spec) (*engineFacts, error) {
	if err := d.Engine.Ping(ctx); err != nil {
		return nil, err
	}
	facts := &engineFacts{done: make(chan struct{})}
	go func() {
		facts.info = d.Engine.Probe(context.WithoutCancel(ctx))
		close(facts.done)
	}()
	if a, ok := d.Engine.(archer); ok { // the engine's architecture alone comes faster than its whole probe
		facts.archDone = make(chan struct{})
		go func() {
			facts.serverArch, _ = a.ServerArch(context.WithoutCancel(ctx))
			close(facts.archDone)
		}()
	}
	for _, c := range spec.Containers {
		if c.GPU == nil {
			continue
		}
		if ok, fix := facts.get(ctx).GPUAccess(); !ok {
			return facts, app.Environment(nil, fix+"; or set 'mode: cpu' in the config to try the flow without a GPU",
				"the Docker engine cannot give %s an NVIDIA GPU: it has no nvidia runtime and no nvidia.com CDI device", c.Name)
		}
	}
	return facts, nil
}

// engineFacts is the engine's probe, fetched in the background.
type engineFacts struct {
	done chan struct{}
	info hardware.Engine

	archDone   chan struct{} // nil when the engine cannot tell its architecture alone
	serverArch string
}

// archer is an engine that tells its architecture with a cheap call (the
// Docker engine's /version) instead of the whole probe (/info).
type archer interface {
	ServerArch(ctx context.Context) (string, error)
}

// arch is the probe as far as the platform check needs it: the
// architecture, from the cheap call when there is one.
func (f *engineFacts) arch(ctx context.Context) hardware.Engine {
	if f.archDone != nil {
		select {
		case <-f.archDone:
		case <-ctx.Done():
		}
		if f.serverArch != "" {
			return hardware.Engine{Arch: f.serverArch}
		}
	}
	return f.get(ctx)
}

func (f *engineFacts) get(ctx context.Context) hardware.Engine {
	select {
	case <-f.done:
	case <-ctx.Done():
	}
	return f.info
}

// checkOwned refuses objects DuoBox did not create for this stack.
func checkOwned(o engine.Object, stackName string) error {
	if o.Managed() && o.Labels[stack.LabelStack] == stackName {
		return nil
	}
	owner := "was not created by DuoBox"
	if o.Managed() {
		owner = fmt.Sprintf("belongs to the DuoBox stack %q", o.Labels[stack.LabelStack])
	}
	return &app.Problem{Kind: app.KindConflict, Err: app.ErrNotManaged,
		What: fmt.Sprintf("a %s named %s already exists and %s", o.Kind, o.Name, owner),
		Fix:  "DuoBox leaves it alone: remove or rename it yourself, or give this deployment another 'name:' in the config"}
}

// removeOrphans removes the stack's containers and networks the spec no
// longer has (volumes are data and stay), and forgets recorded objects that
// are gone from the engine.
func (d *Deployer) removeOrphans(ctx context.Context, spec stack.Spec, rep *Report) error {
	objs, err := d.Engine.Objects(ctx, spec.Stack)
	if err != nil {
		return err
	}
	wanted := map[string]bool{engine.KindNetwork + "/" + spec.Network.Name: true}
	for _, c := range spec.Containers {
		wanted[engine.KindContainer+"/"+c.Name] = true
	}
	rec := recorder{d.Store}
	// Containers first: a network cannot go while containers use it.
	slices.SortStableFunc(objs, func(a, b engine.Object) int { return kindOrder(a.Kind) - kindOrder(b.Kind) })
	for _, o := range objs {
		if o.Kind == engine.KindVolume || wanted[o.Kind+"/"+o.Name] || (o.Kind == engine.KindContainer && spec.IsRollbackContainer(o.Name)) {
			continue // data, wanted, or an upgrade's rollback target
		}
		d.step(o.Name, "removing %s %s: not in the config any more", o.Kind, o.Name)
		if err := d.Engine.Remove(ctx, o); err != nil {
			return err
		}
		rec.drop(ctx, spec.Stack, o.Kind, o.Name)
		rep.Actions = append(rep.Actions, Action{Kind: o.Kind, Name: o.Name, Did: "removed", Why: "orphan: not in the config"})
	}
	if d.Store != nil {
		live := map[string]bool{}
		for _, o := range objs {
			live[o.Kind+"/"+o.Name] = true
		}
		recorded, err := Recorded(ctx, d.Store, spec.Stack)
		if err != nil {
			return err
		}
		for _, r := range recorded {
			if !live[r.Kind+"/"+r.Name] {
				rec.drop(ctx, spec.Stack, r.Kind, r.Name)
			}
		}
	}
	return nil
}

func kindOrder(kind string) int {
	switch kind {
	case engine.KindContainer:
		return 0
	case engine.KindNetwork:
		return 1
	}
	return 2
}

// ensureImage pulls c's image when missing (checking disk space first) and
// handles a platform mismatch: emulated when the host can, refused otherwise.
func (d *Deployer) ensureImage(ctx context.Context, facts *engineFacts, c *stack.Container) error {
	info, err := d.Engine.Image(ctx, c.Image)
	if errors.Is(err, app.ErrNotFound) {
		eng := facts.get(ctx)
		if err := d.checkDisk(ctx, eng, c.Image); err != nil {
			return err
		}
		err = d.pull(ctx, c, "")
		if errors.Is(err, engine.ErrPlatform) && hostArch(eng) != "amd64" && d.Engine.CanEmulate(ctx, "linux/amd64") {
			d.emit(Event{Kind: EventWarning, Container: c.Name, Message: fmt.Sprintf(
				"%s has no variant for this host (linux/%s); retrying with --platform linux/amd64, which runs under emulation (slower)", c.Image, hostArch(eng))})
			err = d.pull(ctx, c, "linux/amd64")
		}
		if err != nil {
			return err
		}
		info, err = d.Engine.Image(ctx, c.Image)
	}
	if err != nil {
		return err
	}
	return d.applyPlatform(ctx, facts.arch(ctx), c, info, true)
}

// ensureImages makes every container's image present. The usual case, all
// present, is checked for all images at once; any missing is pulled one
// after the other (one progress bar at a time).
func (d *Deployer) ensureImages(ctx context.Context, facts *engineFacts, cs []stack.Container) error {
	infos := make([]engine.ImageInfo, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = d.Engine.Image(ctx, cs[i].Image)
		}()
	}
	wg.Wait()
	for i := range cs {
		if errs[i] != nil {
			if err := d.ensureImage(ctx, facts, &cs[i]); err != nil {
				return err
			}
			continue
		}
		if err := d.applyPlatform(ctx, facts.arch(ctx), &cs[i], infos[i], true); err != nil {
			return err
		}
	}
	return nil
}

// applyPlatform sets c.Platform (and its hash) when the local image is built
// for another architecture than the engine's and the host can emulate it;
// without emulation it refuses with the fix. tell emits the warning.
func (d *Deployer) applyPlatform(ctx context.Context, eng hardware.Engine, c *stack.Container, info engine.ImageInfo, tell bool) error {
	if info.Arch == "" || hostArch(eng) == "" || info.Arch == hostArch(eng) {
		return nil
	}
	platform := "linux/" + info.Arch
	if !d.Engine.CanEmulate(ctx, platform) {
		return app.Environment(nil, "install QEMU emulation ('docker run --privileged --rm tonistiigi/binfmt --install "+info.Arch+"') or use an image built for linux/"+hostArch(eng),
			"the requested image's platform (%s) does not match the detected host platform (linux/%s) and this host cannot emulate it: %s", platform, hostArch(eng), c.Image)
	}
	if c.Platform != platform {
		if tell {
			d.emit(Event{Kind: EventWarning, Container: c.Name, Message: fmt.Sprintf(
				"the requested image's platform (%s) does not match the detected host platform (linux/%s); running %s with --platform %s under emulation", platform, hostArch(eng), c.Image, platform)})
		}
		c.Platform = platform
		c.Labels[stack.LabelConfigHash] = c.Hash()
	}
	return nil
}

func hostArch(eng hardware.Engine) string {
	switch eng.Arch {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return eng.Arch
}

// pull pulls c's image, turning layer events into aggregated progress events.
func (d *Deployer) pull(ctx context.Context, c *stack.Container, platform string) error {
	d.step(c.Name, "pulling %s", c.Image)
	agg := engine.NewAggregator(c.Image, nil)
	var last time.Time
	err := d.Engine.Pull(ctx, c.Image, platform, func(ev engine.LayerEvent) {
		p := agg.Add(ev)
		if time.Since(last) >= 100*time.Millisecond || strings.HasPrefix(ev.Status, "Retrying") {
			last = time.Now()
			d.emit(Event{Kind: EventPull, Container: c.Name, Pull: &p})
		}
	})
	if err != nil {
		return err
	}
	if platform != "" {
		c.Platform = platform
		c.Labels[stack.LabelConfigHash] = c.Hash()
	}
	p := agg.Finish()
	d.emit(Event{Kind: EventPull, Container: c.Name, Pull: &p})
	return nil
}

// checkDisk refuses a pull that cannot fit: it needs about twice the
// compressed size (download plus unpacked layers) and 1 GiB to spare.
func (d *Deployer) checkDisk(ctx context.Context, eng hardware.Engine, ref string) error {
	sizeOf := d.ImageSize
	if sizeOf == nil {
		sizeOf = RegistryImageSize
	}
	freeAt := d.FreeDisk
	if freeAt == nil {
		freeAt = func(path string) (uint64, error) {
			_, free, err := diskspace.Usage(path)
			return free, err
		}
	}
	size, err := sizeOf(ctx, ref)
	if err != nil || size <= 0 {
		return nil // the registry will not say; the engine reports ENOSPC if it comes to that
	}
	path := eng.DataRoot
	if path == "" {
		path = "/var/lib/docker"
	}
	free, err := freeAt(path)
	if err != nil {
		return nil
	}
	need := uint64(2*size) + 1<<30
	if free < need {
		return app.Environment(nil, "free disk space there ('docker system df', 'docker image prune') and run 'duobox up' again",
			"too little disk for %s: it needs about %s at %s, only %s is free", ref, units.HumanBytes(int64(need)), path, units.HumanBytes(int64(free)))
	}
	return nil
}

// RegistryImageSize asks the image's registry for the compressed size of the
// image for this machine's platform (manifest layers plus config).
func RegistryImageSize(ctx context.Context, ref string) (int64, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	img, err := remote.Image(r, remote.WithContext(ctx))
	if err != nil {
		return 0, err
	}
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	return total, nil
}

// ensureContainer creates, recreates or keeps one container, or marks it to
// be started; the caller starts what is not "kept".
func (d *Deployer) ensureContainer(ctx context.Context, spec stack.Spec, c stack.Container, secrets map[string]string, created *[]engine.Object) (engine.Object, Action, error) {
	rec := recorder{d.Store}
	act := Action{Kind: engine.KindContainer, Name: c.Name}
	o, err := d.Engine.Lookup(ctx, engine.KindContainer, c.Name)
	switch {
	case errors.Is(err, app.ErrNotFound):
		act.Did = "created"
	case err != nil:
		return o, act, err
	default:
		if err := checkOwned(o, spec.Stack); err != nil {
			return o, act, err
		}
		why := "configuration changed"
		same := o.Labels[stack.LabelConfigHash] == c.Labels[stack.LabelConfigHash]
		if same {
			// settings changed behind DuoBox's back (`docker update`) are drift too
			if st, err := d.Engine.Inspect(ctx, o.ID); err == nil {
				if drift := SettingsDrift(c, st); drift != "" {
					same, why = false, drift
				}
			}
		}
		if same {
			if o.State == "running" {
				act.Did = "kept"
				return o, act, nil
			}
			d.step(c.Name, "starting %s (was %s)", c.Name, o.State)
			act.Did = "started"
			return o, act, nil
		}
		d.step(c.Name, "recreating %s: its %s", c.Name, why)
		if err := d.Engine.Remove(ctx, o); err != nil {
			return o, act, err
		}
		rec.drop(ctx, spec.Stack, engine.KindContainer, c.Name)
		act.Did, act.Why = "recreated", why
	}
	for _, p := range c.Ports {
		if err := d.portFree(p.HostIP, p.HostPort); err != nil {
			return o, act, app.Environment(err, fmt.Sprintf("stop the program using it ('ss -ltnp | grep :%d'), or set another port in the config (gateway.port / gateway.agent_port)", p.HostPort),
				"port %d on %s is already taken, so %s cannot publish it", p.HostPort, hostOrAll(p.HostIP), c.Name)
		}
	}
	d.step(c.Name, "creating %s from %s", c.Name, c.Image)
	id, err := d.Engine.CreateContainer(ctx, c, spec.Network.Name, secrets)
	if err != nil {
		return o, act, err
	}
	o = engine.Object{Kind: engine.KindContainer, ID: id, Name: c.Name, Labels: c.Labels, State: "created"}
	*created = append(*created, o)
	rec.put(ctx, spec.Stack, o, c.Role, c.Labels[stack.LabelConfigHash], c.Image)
	return o, act, nil
}

func (d *Deployer) portFree(hostIP string, port int) error {
	if d.PortFree != nil {
		return d.PortFree(hostIP, port)
	}
	l, err := net.Listen("tcp", net.JoinHostPort(hostIP, strconv.Itoa(port)))
	if err != nil {
		return err
	}
	return l.Close()
}

func hostOrAll(ip string) string {
	if ip == "" {
		return "all addresses"
	}
	return ip
}

// waitHealthy waits until each container is healthy: Docker's own health
// status, or DuoBox running the same health command itself (so a healthy
// container is seen at once instead of after Docker's interval). A container
// that exits or restarts fails the wait with its exit code and last log lines.
// started maps the containers this run started to when (their start-to-healthy
// time is recorded, for the downtime an upgrade announces).
func (d *Deployer) waitHealthy(ctx context.Context, containers []stack.Container, ids map[string]string, started map[string]time.Time) error {
	timeout := d.HealthTimeout
	if timeout == 0 {
		timeout = 20 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	pending := slices.Clone(containers)
	for _, c := range pending {
		d.step(c.Name, "waiting for %s to become healthy", c.Name)
	}
	outside := map[string]bool{} // containers probed from outside, said once
	base := map[string]int{}     // restarts before this wait: history, not this run's failure
	for len(pending) > 0 {
		var still []stack.Container
		oks := make([]bool, len(pending))
		errs := make([]error, len(pending))
		seen := make([]map[string]bool, len(pending))
		bases := make([]map[string]int, len(pending))
		var wg sync.WaitGroup
		for i, c := range pending { // all at once: a health exec takes a while on a busy engine
			// each its own maps (maps are not for sharing between goroutines)
			seen[i] = map[string]bool{c.Name: outside[c.Name]}
			bases[i] = map[string]int{}
			if n, ok := base[c.Name]; ok {
				bases[i][c.Name] = n
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				oks[i], errs[i] = d.healthy(ctx, c, ids[c.Name], seen[i], bases[i])
			}()
		}
		wg.Wait()
		for i, c := range pending {
			outside[c.Name] = seen[i][c.Name]
			if n, ok := bases[i][c.Name]; ok {
				base[c.Name] = n
			}
		}
		if err := firstProblem(errs); err != nil {
			return err
		}
		for i, c := range pending {
			if ok := oks[i]; ok {
				d.step(c.Name, "%s is healthy", c.Name)
				if at, ok := started[c.Name]; ok {
					SaveStartTime(ctx, d.Store, c.Name, c.Image, time.Since(at))
				}
				continue
			}
			still = append(still, c)
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		wait := min(50*time.Millisecond+time.Since(start)/20, 3*time.Second)
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				c := pending[0]
				return app.NotReady(ctx.Err(), "read the lines above: they are the container's own, kept here because a container this run created is removed again; a model download can take long: run 'duobox up --timeout 1h' to wait longer",
					"%s did not become healthy within %s; last log lines:\n%s", c.Name, timeout, d.tail(c.Name, ids[c.Name], 15))
			}
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// healthy checks one container once. When the image lacks the health
// command (no python3 in a user's image) or the check is NONE, it reads the
// health URL from outside, at the container's address on the stack's
// network; outside records (and says once) which containers that is.
func (d *Deployer) healthy(ctx context.Context, c stack.Container, id string, outside map[string]bool, base map[string]int) (bool, error) {
	st, err := d.Engine.Inspect(ctx, id)
	if err != nil {
		return false, err
	}
	// The container is judged by its present state: restarts the engine made
	// before this wait (an OOM kill an hour ago, brought back by the restart
	// policy) are history, unless they make it crash-looping now.
	before, seen := base[c.Name]
	if !seen {
		before, base[c.Name] = st.Restarts, st.Restarts
		if now := time.Now(); engine.CrashLooping(st.Restarting, st.Restarts, st.FinishedAt, now) {
			return false, app.NotReady(nil, "read the lines above; fix the config or the image (or give it more memory), then run 'duobox up' again",
				"%s is %s; last log lines:\n%s", c.Name, engine.CrashLoopSummary(st.Restarts, st.ExitCode, st.OOMKilled, st.FinishedAt, now), d.tail(c.Name, id, 15))
		}
	}
	if st.Restarts > before || st.Restarting || (!st.Running && st.Status != "created") {
		st = d.stoppedState(ctx, id, st)
		return false, app.NotReady(nil, "read the lines above; fix the config or the image, then run 'duobox up' again",
			"%s exited with code %d right after starting%s; last log lines:\n%s", c.Name, st.ExitCode, oom(st), d.tail(c.Name, id, 15))
	}
	if st.Health == "healthy" {
		return true, nil
	}
	none := len(c.Health.Test) == 0 || c.Health.Test[0] == "NONE"
	if none && c.Health.URL == "" {
		return st.Running, nil
	}
	if !none && !outside[c.Name] {
		ectx, cancel := context.WithTimeout(ctx, max(c.Health.Timeout, time.Second))
		code, err := d.Engine.Exec(ectx, id, c.Health.Test)
		cancel()
		if !CommandMissing(code, err) || c.Health.URL == "" {
			return err == nil && code == 0, nil
		}
	}
	if !outside[c.Name] {
		outside[c.Name] = true
		why := "its health check is off (NONE)"
		if !none {
			why = fmt.Sprintf("the image has no %q for its health check", healthCommandName(c.Health.Test))
		}
		d.step(c.Name, "%s: %s, so DuoBox probes %s from outside", c.Name, why, OutsideURL(c.Health.URL, st.IPAddress))
	}
	return st.Running && probeOutside(ctx, OutsideURL(c.Health.URL, st.IPAddress)), nil
}

// CommandMissing reports whether a health command failed because the image
// does not have it: the runtime's "executable file not found" or the shell's
// 126/127 exit codes.
func CommandMissing(code int, err error) bool {
	if err != nil {
		msg := err.Error()
		return strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory")
	}
	return code == 126 || code == 127
}

func healthCommandName(test []string) string {
	if len(test) > 0 && (test[0] == "CMD" || test[0] == "CMD-SHELL") {
		test = test[1:]
	}
	if len(test) == 0 {
		return ""
	}
	if f := strings.Fields(test[0]); len(f) > 0 {
		return f[0]
	}
	return test[0]
}

// OutsideURL is the in-container health URL (http://127.0.0.1:PORT/path) at
// the container's address instead; "" when the container has none.
func OutsideURL(inside, ip string) string {
	if ip == "" || inside == "" {
		return ""
	}
	rest := strings.TrimPrefix(inside, "http://")
	hostPort, path, _ := strings.Cut(rest, "/")
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return ""
	}
	return "http://" + net.JoinHostPort(ip, port) + "/" + path
}

// probeOutside is one GET of url; 200 is healthy.
func probeOutside(ctx context.Context, url string) bool {
	if url == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stoppedState catches a crash-looping container between two runs (the
// restart policy brings it back at once), where its exit code is visible.
func (d *Deployer) stoppedState(ctx context.Context, id string, st engine.ContainerState) engine.ContainerState {
	for i := 0; i < 150 && st.Running; i++ {
		time.Sleep(20 * time.Millisecond)
		next, err := d.Engine.Inspect(ctx, id)
		if err != nil {
			break
		}
		st = next
	}
	return st
}

func oom(st engine.ContainerState) string {
	if st.OOMKilled {
		return " (killed: out of memory)"
	}
	return ""
}

// tail returns a container's own last n log lines, indented, for error
// messages: the access-log lines of health checks (DuoBox's probes and the
// engine's HEALTHCHECK, one a second while a model never becomes healthy)
// are left out, and how many is said. The lines are read now: a container
// this run created is removed when the run fails.
func (d *Deployer) tail(name, id string, n int) string {
	lines, err := d.Engine.Logs(context.Background(), id, 40*n)
	own, probes := OwnLines(lines)
	if err != nil || len(own) == 0 {
		return "    (no log output from " + name + probesNote(probes) + ")"
	}
	own = own[max(0, len(own)-n):]
	out := "    " + strings.Join(own, "\n    ")
	if probes > 0 {
		out += "\n    (" + strings.TrimPrefix(probesNote(probes), "; ") + ")"
	}
	return out
}

func probesNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("; %d health-check request lines left out", n)
}

// healthProbeLine matches the access-log line a health check leaves: vLLM's
// uvicorn access log ('INFO:     127.0.0.1:40862 - "GET /health HTTP/1.1"
// 200 OK', vllm/entrypoints/openai/api_server.py serves /health) and the AI
// Gateway's api.access records for /monitoring/healthz and /monitoring/ready
// (ai_gateway/api/monitoring.py; quotes escaped inside its JSON lines).
var healthProbeLine = regexp.MustCompile(`"(GET|HEAD) /(health|monitoring/healthz|monitoring/ready)[ ?][^"]*" \d{3}`)

// OwnLines drops the health checks' access-log lines from a container's log
// lines, returning the rest and how many it dropped.
func OwnLines(lines []string) (own []string, probes int) {
	own = make([]string, 0, len(lines))
	for _, l := range lines {
		if healthProbeLine.MatchString(l) {
			probes++
			continue
		}
		own = append(own, l)
	}
	return own, probes
}

// Down stops and removes the stack's containers and network; volumes (model
// weights) stay unless removeVolumes. Objects without DuoBox's label are
// never listed, so never touched.
func (d *Deployer) Down(ctx context.Context, stackName string, removeVolumes bool) (rep Report, err error) {
	rep.Stack = stackName
	rec := recorder{d.Store}
	run := rec.begin(ctx, stackName, "down")
	defer func() { rec.finish(ctx, run, err) }()
	if err := d.Engine.Ping(ctx); err != nil {
		return rep, err
	}
	objs, err := d.Engine.Objects(ctx, stackName)
	if err != nil {
		return rep, err
	}
	slices.SortStableFunc(objs, func(a, b engine.Object) int { return kindOrder(a.Kind) - kindOrder(b.Kind) })
	for _, o := range objs {
		if o.Kind == engine.KindVolume && !removeVolumes {
			rep.Actions = append(rep.Actions, Action{Kind: o.Kind, Name: o.Name, Did: "kept", Why: "volumes stay unless --volumes"})
			continue
		}
		d.step(o.Name, "removing %s %s", o.Kind, o.Name)
		if err := d.Engine.Remove(ctx, o); err != nil {
			return rep, err
		}
		rec.drop(ctx, stackName, o.Kind, o.Name)
		rep.Actions = append(rep.Actions, Action{Kind: o.Kind, Name: o.Name, Did: "removed"})
	}
	return rep, nil
}

// Restart restarts the containers of a role (stack.RoleModel or
// stack.RoleGateway) and waits until they are healthy again.
func (d *Deployer) Restart(ctx context.Context, spec stack.Spec, role string) (rep Report, err error) {
	rep.Stack = spec.Stack
	rec := recorder{d.Store}
	run := rec.begin(ctx, spec.Stack, "restart "+role)
	defer func() { rec.finish(ctx, run, err) }()
	if role != stack.RoleModel && role != stack.RoleGateway {
		return rep, app.BadInput("say 'model' or 'gateway'", "cannot restart %q", role)
	}
	ids := map[string]string{}
	var targets []stack.Container
	for _, c := range spec.Containers {
		if c.Role != role {
			continue
		}
		o, err := d.Engine.Lookup(ctx, engine.KindContainer, c.Name)
		if errors.Is(err, app.ErrNotFound) {
			return rep, app.NotReady(err, "run 'duobox up' first", "%s does not exist", c.Name)
		}
		if err != nil {
			return rep, err
		}
		if err := checkOwned(o, spec.Stack); err != nil {
			return rep, err
		}
		d.step(c.Name, "restarting %s", c.Name)
		if err := d.Engine.Restart(ctx, o.ID); err != nil {
			return rep, err
		}
		ids[c.Name] = o.ID
		targets = append(targets, c)
		rep.Actions = append(rep.Actions, Action{Kind: engine.KindContainer, Name: c.Name, Did: "restarted"})
	}
	return rep, d.waitHealthy(ctx, targets, ids, nil)
}

// LogDirWritable checks that dir exists (creating it if needed) and that
// files can be created in it, with a message that says how to fix it.
func LogDirWritable(dir string) error {
	// private: the gateway's logs carry request metadata (0700, issue 16)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return app.Environment(err, fmt.Sprintf("run 'sudo mkdir -p %s && sudo chown $USER %s', or set log_dir in the config to a folder you own", dir, dir),
			"cannot create the gateway log directory %s: %v", dir, err)
	}
	f, err := os.CreateTemp(dir, ".duobox-write-check-*")
	if err != nil {
		return app.Environment(err, fmt.Sprintf("run 'sudo chown $USER %s' (the seed: 'ensure appropriate permissions have been granted to that directory'), or set log_dir in the config", dir),
			"the gateway log directory %s is not writable: %v", dir, err)
	}
	f.Close()
	return os.Remove(f.Name())
}
