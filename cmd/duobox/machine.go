package main

import (
	"context"
	"math"
	"os"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/hardware"
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
	if math.IsNaN(f.ramGiB) || math.IsInf(f.ramGiB, 0) || f.ramGiB > 1<<20 {
		return o, app.BadInput("give a number of GiB, e.g. --ram 64", "--ram %g is not a memory size", f.ramGiB)
	}
	if f.ramGiB < 0 {
		return o, app.BadInput("give a positive number of GiB, e.g. --ram 64", "--ram %g is negative", f.ramGiB)
	}
	o.RAMBytes = uint64(f.ramGiB * (1 << 30))
	return o, nil
}

// detectRecording probes the machine with the flags' overrides (the engine
// included) and queues the snapshot on rec (nil: not recorded). Start rec
// before detecting so the database opens while the probes run.
func (f *machineFlags) detectRecording(ctx context.Context, g *globals, rec *actions.Recorder) (hardware.Machine, error) {
	o, err := f.overrides()
	if err != nil {
		return hardware.Machine{}, err
	}
	return g.core().DetectRecording(ctx, o, rec)
}

// detect is detectRecording with its own recorder.
func (f *machineFlags) detect(ctx context.Context, g *globals) (hardware.Machine, error) {
	rec := g.core().StartRecorder(ctx)
	defer rec.Close()
	return f.detectRecording(ctx, g, rec)
}
