package main

import (
	"context"
	"encoding/json"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/docker"
)

// machineFlags are the detection overrides shared by detect, recommend and init.
type machineFlags struct {
	nvidiaSMI string
	gpus      []string
	ramGiB    float64
}

func (f *machineFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.nvidiaSMI, "nvidia-smi", "", "use a saved output of 'nvidia-smi --query-gpu=index,name,uuid,memory.total,memory.used,memory.free,driver_version,compute_cap --format=csv' instead of probing")
	cmd.Flags().StringArrayVar(&f.gpus, "gpu", nil, "pretend this GPU is present, as NAME:MiB (repeatable), e.g. --gpu \"RTX 4090:24564\"")
	cmd.Flags().Float64Var(&f.ramGiB, "ram", 0, "pretend the machine has this much RAM, in GiB")
}

// overrides validates the flags into detection overrides.
func (f *machineFlags) overrides() (hardware.Overrides, error) {
	var o hardware.Overrides
	if f.nvidiaSMI != "" && len(f.gpus) > 0 {
		return o, app.BadInput("use one of them", "--nvidia-smi and --gpu both describe the GPUs")
	}
	if f.nvidiaSMI != "" {
		b, err := os.ReadFile(f.nvidiaSMI)
		if err != nil {
			return o, app.BadInput("give the path of a file holding nvidia-smi's CSV output", "--nvidia-smi %s cannot be read: %v", f.nvidiaSMI, err)
		}
		o.NvidiaSMIOutput, o.NvidiaSMIFile = b, f.nvidiaSMI
	}
	for i, s := range f.gpus {
		g, err := hardware.ParseGPUOverride(s, i)
		if err != nil {
			return o, app.BadInput("write NAME:MiB", "%v", err)
		}
		o.GPUs = append(o.GPUs, g)
	}
	if f.ramGiB < 0 {
		return o, app.BadInput("give a positive number of GiB, e.g. --ram 64", "--ram %g is negative", f.ramGiB)
	}
	o.RAMBytes = uint64(f.ramGiB * (1 << 30))
	return o, nil
}

// detect probes the machine (engine included) and records the snapshot.
func (f *machineFlags) detect(ctx context.Context, g *globals) (hardware.Machine, error) {
	rec := startRecorder(ctx, g)
	defer rec.close()
	return f.detectRecording(ctx, rec)
}

// detectRecording is detect with the caller's recorder (nil: not recorded).
// Start rec before detecting so the database opens while the probes run.
func (f *machineFlags) detectRecording(ctx context.Context, rec *recorder) (hardware.Machine, error) {
	o, err := f.overrides()
	if err != nil {
		return hardware.Machine{}, err
	}
	d := hardware.Detector{Overrides: o}
	if engine, err := docker.Connect(); err == nil {
		defer engine.Close()
		d.Engine = engine.Probe
	} else {
		d.Engine = func(context.Context) hardware.Engine {
			return hardware.Engine{Error: err.Error(), Fix: "check DOCKER_HOST and 'docker context ls'"}
		}
	}
	m, err := d.Detect(ctx)
	if err != nil {
		return m, app.BadInput("fix the override flag", "%v", err)
	}
	rec.save("machine", m)
	return m, nil
}

// recorder opens the state database in the background and, on close,
// records the snapshots saved meanwhile in one transaction; failures only
// warn, since the command itself succeeded.
type recorder struct {
	g       *globals
	ctx     context.Context
	opened  chan struct{}
	store   *store.Store
	err     error
	pending []store.Snapshot
}

func startRecorder(ctx context.Context, g *globals) *recorder {
	r := &recorder{g: g, ctx: ctx, opened: make(chan struct{})}
	go func() {
		defer close(r.opened)
		dirs, err := g.dirs()
		if err != nil {
			r.err = err
			return
		}
		r.store, r.err = store.Open(ctx, dirs.Database())
	}()
	return r
}

// save queues v as the newest snapshot of kind (safe on a nil recorder: does nothing).
func (r *recorder) save(kind string, v any) {
	if r == nil {
		return
	}
	body, _ := json.Marshal(v)
	r.pending = append(r.pending, store.Snapshot{Kind: kind, Body: body})
}

// close writes the queued snapshots and closes the database.
func (r *recorder) close() {
	<-r.opened
	if r.err != nil {
		if len(r.pending) > 0 {
			r.g.warnf("not recorded in the state database: %v", r.err)
		}
		return
	}
	if len(r.pending) > 0 {
		if err := r.store.SaveSnapshots(r.ctx, time.Now(), r.pending...); err != nil {
			r.g.warnf("not recorded in the state database: %v", err)
		}
	}
	r.store.Close()
}
