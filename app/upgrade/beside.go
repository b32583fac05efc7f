package upgrade

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/units"
)

// A model server upgrade (or rollback) where two copies fit starts the new
// container beside the old one, waits for its health while the old one
// serves, gives it the name the gateway calls (a network alias: the engine's
// DNS then answers with both), takes the name off the old one (a rename) and
// only then stops it. Where two copies do not fit, the old one stops first,
// and DuoBox says beforehand for how long the model will be unavailable: its
// start-to-healthy time measured on this machine.

// Memory a second copy needs besides what the fit names, so that a run that
// would leave the machine at its last megabytes is not started.
const (
	gpuHeadroom = 512 << 20 // CUDA context and allocator slack per GPU
	cpuOverhead = 1 << 30   // the Python process, tokenizer, buffers
	gib         = 1 << 30
)

// BesideFit decides whether a second copy of the deployment's model server
// fits beside the running one, from a machine snapshot taken while the old
// one runs (so its memory counts as used). GPU mode: vLLM takes
// --gpu-memory-utilization × the card's total memory at start and refuses to
// start with less free, so every card the model uses needs that much free
// (plus headroom). CPU mode (the test bed too: the same rule, no exception for
// the stand-in): the weights (catalog size of the repo served) plus the KV
// cache (VLLM_CPU_KVCACHE_SPACE) plus 1 GiB must fit in available RAM. When
// a size is unknown, it does not fit.
func BesideFit(m hardware.Machine, cfg config.Deployment, cat catalog.Catalog) Fit {
	cfg = cfg.WithDefaults()
	if len(cfg.Models) != 1 {
		return Fit{Why: fmt.Sprintf("%d model servers: only a single one is started beside its successor", len(cfg.Models))}
	}
	model := cfg.Models[0]
	if cfg.Mode == config.ModeGPU {
		util := model.GPUMemoryUtilization
		if util == 0 {
			util = 0.90
		}
		var cards []hardware.GPU
		for _, g := range m.GPUs {
			if g.Vendor == "nvidia" && (len(model.GPUs) == 0 || slices.Contains(model.GPUs, g.Index)) {
				cards = append(cards, g)
			}
		}
		if len(cards) == 0 {
			return Fit{Why: "the GPU memory could not be read"}
		}
		var parts []string
		fits := true
		for _, g := range cards {
			need := uint64(util*float64(g.MemoryTotal)) + gpuHeadroom
			parts = append(parts, fmt.Sprintf("GPU %d has %s free, a second copy needs %s (%.2f × %s, --gpu-memory-utilization, + %s)",
				g.Index, units.GiB(g.MemoryFree), units.GiB(need), util, units.GiB(g.MemoryTotal), units.GiB(gpuHeadroom)))
			fits = fits && g.MemoryFree >= need
		}
		return Fit{Fits: fits, Why: strings.Join(parts, "; ")}
	}
	weights := weightBytes(cat, model)
	if weights == 0 {
		return Fit{Why: fmt.Sprintf("the size of %s is not in DuoBox's catalog", model.Repo())}
	}
	kv := uint64(stack.DefaultCPUKVCacheGiB) * gib
	if v, ok := cfg.ModelServer.Env[stack.CPUKVCacheEnv]; ok {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n > 0 {
			kv = uint64(n * gib)
		}
	}
	need := weights + kv + cpuOverhead
	avail := m.Memory.Available
	if avail == 0 {
		return Fit{Why: "the available memory could not be read"}
	}
	return Fit{Fits: avail >= need, Why: fmt.Sprintf("%s of RAM available, a second copy needs %s (weights %s + KV cache %s + %s)",
		units.GiB(avail), units.GiB(need), units.GiB(weights), units.GiB(kv), units.GiB(cpuOverhead))}
}

// weightBytes is the catalog size of the repository a model serves (0: unknown).
func weightBytes(cat catalog.Catalog, m config.Model) uint64 {
	entry, ok := cat.Find(m.HFRepo)
	if !ok {
		return 0
	}
	if strings.EqualFold(m.Repo(), entry.HFRepo) {
		return entry.WeightBytes
	}
	for _, q := range entry.Quantized {
		if strings.EqualFold(q.Repo, m.Repo()) {
			return q.WeightBytes
		}
	}
	return 0
}

// besideOrSay decides how a model server run goes and tells the user before
// anything changes: beside the old one (no downtime), or stop-start with the
// downtime measured on this machine.
func (u *Upgrader) besideOrSay(ctx context.Context, cfg config.Deployment, tg target, stopFirst bool) bool {
	if tg.role != stack.RoleModel {
		return false
	}
	why := "--stop-first was given"
	if !stopFirst {
		switch {
		case u.Beside == nil:
			why = "this DuoBox does not check memory"
		default:
			fit, err := u.Beside(ctx, cfg)
			switch {
			case err != nil:
				why = "the memory could not be checked: " + err.Error()
			case fit.Fits:
				u.emit(deploy.EventStep, tg.name, "two copies of the model server fit (%s): the new one starts beside the old one, which keeps serving; no downtime", fit.Why)
				return true
			default:
				why = "two copies do not fit: " + fit.Why
			}
		}
	}
	u.emit(deploy.EventWarning, tg.name, "%s: the old model server stops before the new one starts (%s); %s", tg.name, why, u.downtimeNotice(ctx, tg.name))
	return false
}

// DowntimeNotice says how long a stop-start of the container leaves the model unavailable.
func (u *Upgrader) downtimeNotice(ctx context.Context, container string) string {
	rec, ok := deploy.LastStartTime(ctx, u.Store, container)
	if !ok {
		return "the model will be unavailable for the new one's whole start (DuoBox has not yet measured a start of it on this machine; with cached weights a vLLM start takes minutes)"
	}
	return fmt.Sprintf("the model will be unavailable for about %s (its last start on this machine, %s, took that long)",
		rec.Took.Round(time.Second), rec.At.Local().Format("2006-01-02 15:04"))
}

// besideSwap starts inID (stopped, not serving) beside outID (serving under
// the container's name), waits for its health, moves the name to it and
// stops outID, renamed outName. A non-empty why means inID was not healthy;
// outID then still serves and the caller undoes the run.
func (r *runner) besideSwap(ctx context.Context, c stack.Container, network string, outStep, inStep Step, outID, outName, inID string) (why string, err error) {
	u, x := r.u, r.run.Container
	err = r.doSteps(ctx,
		stepAction{StepStartingBeside, func() error {
			// A kept container that served through an alias must not answer
			// for the name before it is healthy.
			if err := u.Engine.ServeAs(ctx, inID, network, x, false); err != nil {
				return err
			}
			return u.Engine.Start(ctx, inID)
		}},
		stepAction{StepWaitingBeside, func() error { return nil }},
	)
	if err != nil {
		return "", err
	}
	began := time.Now()
	if why := u.waitHealthy(ctx, c, inID); why != "" {
		return why, nil
	}
	deploy.SaveStartTime(ctx, u.Store, x, c.Image, time.Since(began))
	return "", r.doSteps(ctx,
		stepAction{StepMovingAlias, func() error { return u.Engine.ServeAs(ctx, inID, network, x, true) }},
		stepAction{outStep, func() error { return u.Engine.Rename(ctx, outID, outName) }},
		stepAction{inStep, func() error { return u.Engine.Rename(ctx, inID, x) }},
		stepAction{StepStoppingOld, func() error { return u.retire(ctx, outID, network, x) }},
	)
}

// retire stops a container that no longer answers for name (in-flight
// requests finish within the grace) and takes the alias off it, so that a
// later start of it (a rollback) does not answer for name before it is healthy.
//
// A client that keeps a keep-alive connection to the old container (the
// gateway's HTTP pool) goes on using it after the name has moved, until the
// old server closes it at SIGTERM. A server that answers with "Connection:
// close" for a moment before it closes idle connections (the test bed's
// stand-in does) loses no request; one that closes idle connections at once
// (vLLM's uvicorn) leaves a request that the client sends at that very
// instant to fail with EOF. DuoBox cannot see into the gateway's pool, so it
// does not wait on it.
func (u *Upgrader) retire(ctx context.Context, id, network, name string) error {
	if err := u.Engine.Stop(ctx, id, u.stopGrace()); err != nil {
		return err
	}
	return u.Engine.ServeAs(ctx, id, network, name, false)
}

// besideHealthy reports whether a run had started its new container beside
// the old one and seen it healthy (so reconcile finishes it instead of
// undoing it): it recorded the health wait and a step after it.
func besideHealthy(run *Run) bool {
	switch run.Step {
	case StepMovingAlias, StepRenamingOld, StepRenamingNew, StepRenamingCurrent, StepRenamingTarget, StepStoppingOld, StepFinalizing:
	default:
		return false
	}
	for _, s := range run.Steps {
		if s.Step == StepWaitingBeside {
			return true
		}
	}
	return false
}

// completeBeside finishes, from wherever a crash left it, the part of a
// beside run that follows the health check: each action is repeatable.
func (u *Upgrader) completeBeside(ctx context.Context, run *Run) error {
	x, win, out := run.Container, winner(run), run.OldID
	outName := RollbackName(x)
	if run.Action == ActionRollback {
		outName = swapName(x)
	}
	network, err := u.networkOf(ctx, run.Stack)
	if err != nil {
		return err
	}
	if err := u.Engine.ServeAs(ctx, win, network, x, true); err != nil {
		return err
	}
	if o, err := u.Engine.Lookup(ctx, engine.KindContainer, x); err == nil && o.ID == out {
		if err := u.Engine.Rename(ctx, out, outName); err != nil {
			return err
		}
	}
	if o, err := u.Engine.Lookup(ctx, engine.KindContainer, x); err != nil || o.ID != win {
		if err := u.Engine.Rename(ctx, win, x); err != nil {
			return err
		}
	}
	return u.retire(ctx, out, network, x)
}

// networkOf is the stack's network.
func (u *Upgrader) networkOf(ctx context.Context, stackName string) (string, error) {
	objs, err := u.Engine.Objects(ctx, stackName)
	if err != nil {
		return "", err
	}
	for _, o := range objs {
		if o.Kind == engine.KindNetwork {
			return o.Name, nil
		}
	}
	return "", fmt.Errorf("the network of the stack %q is gone", stackName)
}

// running reports whether a container runs.
func (u *Upgrader) running(ctx context.Context, id string) bool {
	if id == "" {
		return false
	}
	st, err := u.Engine.Inspect(ctx, id)
	return err == nil && st.Running
}
