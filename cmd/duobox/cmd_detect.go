package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/units"
)

func init() { register(newDetectCommand) }

func newDetectCommand(g *globals) *cobra.Command {
	var flags machineFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "detect",
		Short: "Show this machine's GPUs, memory, disk and Docker engine",
		Long: `Detect probes the GPUs (NVML, else nvidia-smi; AMD through sysfs), RAM (cgroup limits
respected), CPU, free disk at Docker's data root, host addresses and the Docker engine,
all in parallel. Every probe reports its source and, when it fails, why and what to do.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rec := g.core().StartRecorder(cmd.Context())
			defer rec.Close()
			m, err := flags.detectRecording(cmd.Context(), g, rec)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), m)
			}
			printMachine(cmd.OutOrStdout(), m)
			return nil
		},
	}
	flags.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printMachine(w io.Writer, m hardware.Machine) {
	fmt.Fprintln(w, "GPUs")
	if len(m.GPUs) == 0 {
		fmt.Fprintln(w, "  none found")
	}
	for _, gpu := range m.GPUs {
		extra := []string{}
		if gpu.ComputeCapability != "" {
			extra = append(extra, "compute "+gpu.ComputeCapability)
		}
		if gpu.DriverVersion != "" {
			extra = append(extra, "driver "+gpu.DriverVersion)
		}
		if gpu.CUDAVersion != "" {
			extra = append(extra, "CUDA "+gpu.CUDAVersion)
		}
		if gpu.MIG != "" {
			extra = append(extra, "MIG "+gpu.MIG)
		}
		fmt.Fprintf(w, "  %d  %-28s %s free of %s  (%s; %s)\n", gpu.Index, gpu.Name, units.GiB(gpu.MemoryFree), units.GiB(gpu.MemoryTotal), strings.Join(extra, ", "), gpu.Source)
	}
	fmt.Fprintf(w, "Memory   %s available of %s (%s)\n", units.GiB(m.Memory.Available), units.GiB(m.Memory.Total), m.Memory.Source)
	fmt.Fprintf(w, "CPU      %s, %d cores, %d threads\n", m.CPU.Model, m.CPU.Cores, m.CPU.Threads)
	fmt.Fprintf(w, "Disk     %s free of %s at %s\n", units.GiB(m.Disk.Free), units.GiB(m.Disk.Total), m.Disk.Path)
	fmt.Fprintf(w, "Host     %s  addresses: %s\n", m.Host.Name, strings.Join(m.Host.Addresses, ", "))
	e := m.Engine
	if e.Reachable {
		fmt.Fprintf(w, "Docker   %s (API %s) at %s, data root %s, runtimes %s\n", e.Version, e.APIVersion, e.Endpoint, e.DataRoot, strings.Join(e.Runtimes, ", "))
	} else {
		fmt.Fprintf(w, "Docker   not reachable: %s\n", e.Error)
	}
	fmt.Fprintln(w, "Probes")
	for _, p := range m.Probes {
		mark := "ok  "
		if !p.OK {
			mark = "FAIL"
		}
		line := fmt.Sprintf("  %s %-11s %-26s %s", mark, p.Name, p.Source, p.Detail)
		fmt.Fprintln(w, strings.TrimRight(line, " "))
		if !p.OK && p.Fix != "" {
			fmt.Fprintf(w, "       fix: %s\n", p.Fix)
		}
	}
}
