package hardware

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/duobox/duobox/app/diskspace"
	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
	psnet "github.com/shirou/gopsutil/v4/net"
)

// CommandRunner runs a program and returns its combined output.
type CommandRunner func(ctx context.Context, name string, args ...string) ([]byte, error)

// EngineProber asks the container engine about itself. It never fails:
// an unreachable engine is reported in Engine.Error and Engine.Fix.
type EngineProber func(ctx context.Context) Engine

// Overrides replace probes, for tests and for users whose probes lie.
type Overrides struct {
	NvidiaSMIOutput []byte // a saved nvidia-smi --query-gpu ... --format=csv output
	NvidiaSMIFile   string // where it came from, for messages
	GPUs            []GPU  // from --gpu NAME:MiB
	RAMBytes        uint64 // from --ram GiB
}

// Detector probes the machine. The zero value probes the live host without an engine.
type Detector struct {
	Root      string        // filesystem root for /proc and /sys; "" means "/"
	Run       CommandRunner // nil means exec
	Engine    EngineProber  // nil means "not asked"
	Overrides Overrides
	// SkipNVML forces the nvidia-smi path (tests; machines whose NVML hangs).
	SkipNVML bool
}

// Detect runs every probe concurrently and returns the snapshot. It fails only
// when an override is malformed; probe failures are reported in Machine.Probes.
func (d Detector) Detect(ctx context.Context) (Machine, error) {
	var m Machine
	var overrideErr error
	var mu sync.Mutex
	addProbe := func(p Probe) {
		mu.Lock()
		m.Probes = append(m.Probes, p)
		mu.Unlock()
	}
	root := d.Root
	if root == "" {
		root = "/"
	}
	rootFS := os.DirFS(root)
	psctx := context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: filepath.Join(root, "proc"),
		common.HostSysEnvKey:  filepath.Join(root, "sys"),
	})

	var wg sync.WaitGroup
	spawn := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }

	var engine Engine
	engineDone := make(chan struct{})
	spawn(func() {
		defer close(engineDone)
		if d.Engine == nil {
			engine = Engine{Error: "not asked"}
			return
		}
		engine = d.Engine(ctx)
		p := Probe{Name: "engine", Source: "docker api " + engine.Endpoint, OK: engine.Reachable, Fix: engine.Fix}
		if engine.Reachable {
			p.Detail = fmt.Sprintf("Docker %s (API %s)", engine.Version, engine.APIVersion)
			if ok, fix := engine.GPUAccess(); !ok {
				addProbe(Probe{Name: "gpu-runtime", Source: "docker info", Detail: "the engine has no NVIDIA runtime and no NVIDIA CDI device", Fix: fix})
			} else {
				addProbe(Probe{Name: "gpu-runtime", Source: "docker info", OK: true, Detail: "NVIDIA runtime available"})
			}
		} else {
			p.Detail = engine.Error
		}
		addProbe(p)
	})
	spawn(func() {
		gpus, err := d.probeGPUs(ctx, rootFS, addProbe)
		mu.Lock()
		m.GPUs, overrideErr = gpus, err
		mu.Unlock()
	})
	spawn(func() { m.Memory = d.probeMemory(psctx, rootFS, addProbe) })
	spawn(func() { m.CPU = probeCPU(psctx, addProbe) })
	spawn(func() { m.Host = probeHost(psctx, addProbe) })
	spawn(func() {
		<-engineDone
		m.Disk = probeDisk(ctx, engine, addProbe)
	})
	wg.Wait()
	m.Engine = engine
	sort.SliceStable(m.Probes, func(i, j int) bool { return probeOrder(m.Probes[i].Name) < probeOrder(m.Probes[j].Name) })
	return m, overrideErr
}

func probeOrder(name string) int {
	return strings.Index("gpu gpu-runtime memory cpu disk host engine", name)
}

func (d Detector) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if d.Run != nil {
		return d.Run(ctx, name, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// probeGPUs tries overrides, then NVML, then nvidia-smi; AMD sysfs always.
func (d Detector) probeGPUs(ctx context.Context, root fs.FS, addProbe func(Probe)) ([]GPU, error) {
	o := d.Overrides
	if len(o.GPUs) > 0 {
		addProbe(Probe{Name: "gpu", Source: "override", OK: true, Detail: fmt.Sprintf("%d GPU(s) from --gpu", len(o.GPUs))})
		return o.GPUs, nil
	}
	if o.NvidiaSMIOutput != nil {
		src := "nvidia-smi file " + o.NvidiaSMIFile
		gpus, err := ParseNvidiaSMI(o.NvidiaSMIOutput)
		if errors.Is(err, ErrNoDevices) {
			addProbe(Probe{Name: "gpu", Source: src, Detail: "No devices were found", Fix: "check that the GPU is seated and the driver is loaded"})
			return nil, nil
		}
		var smi *SMIError
		if errors.As(err, &smi) {
			addProbe(Probe{Name: "gpu", Source: src, Detail: smi.Reason, Fix: smi.Fix})
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("--nvidia-smi %s: %w", o.NvidiaSMIFile, err)
		}
		addProbe(Probe{Name: "gpu", Source: src, OK: true, Detail: fmt.Sprintf("%d NVIDIA GPU(s)", len(gpus))})
		return gpus, nil
	}

	var nvidia []GPU
	if !d.SkipNVML && nvmlAvailable {
		gpus, err := NVML(ctx)
		if err == nil {
			nvidia = gpus
			addProbe(Probe{Name: "gpu", Source: "nvml", OK: true, Detail: fmt.Sprintf("%d NVIDIA GPU(s)", len(gpus))})
		} else {
			addProbe(failedProbe("gpu", "nvml", err))
		}
	}
	if nvidia == nil {
		out, err := d.run(ctx, "nvidia-smi", NvidiaSMIQuery...)
		if err != nil && strings.Contains(string(out), "Field") && strings.Contains(string(out), "is not a valid field") {
			out, err = d.run(ctx, "nvidia-smi", NvidiaSMIQueryBasic...)
		}
		switch {
		case errors.Is(err, exec.ErrNotFound):
			addProbe(Probe{Name: "gpu", Source: "nvidia-smi", Detail: "nvidia-smi is not installed", Fix: "install the NVIDIA driver to use an NVIDIA GPU"})
		default:
			gpus, perr := ParseNvidiaSMI(out)
			if perr == nil {
				nvidia = gpus
				addProbe(Probe{Name: "gpu", Source: "nvidia-smi", OK: true, Detail: fmt.Sprintf("%d NVIDIA GPU(s)", len(gpus))})
			} else {
				if err != nil && len(out) == 0 {
					perr = err
				}
				addProbe(failedProbe("gpu", "nvidia-smi", perr))
			}
		}
	}
	amd, err := probeAMD(root)
	switch {
	case err != nil:
		addProbe(Probe{Name: "gpu", Source: "sysfs (amd)", Detail: err.Error()})
	case len(amd) == 0:
		addProbe(Probe{Name: "gpu", Source: "sysfs (amd)", Detail: "no AMD GPU with VRAM files"})
	default:
		addProbe(Probe{Name: "gpu", Source: "sysfs (amd)", OK: true, Detail: fmt.Sprintf("%d AMD GPU(s); DuoBox runs models on NVIDIA only for now", len(amd))})
	}
	return append(nvidia, amd...), nil
}

func failedProbe(name, source string, err error) Probe {
	p := Probe{Name: name, Source: source, Detail: err.Error()}
	var smi *SMIError
	if errors.As(err, &smi) {
		p.Fix = smi.Fix
	}
	if errors.Is(err, ErrNoDevices) {
		p.Fix = "check that the GPU is seated and the driver is loaded"
	}
	return p
}

func (d Detector) probeMemory(ctx context.Context, root fs.FS, addProbe func(Probe)) Memory {
	if d.Overrides.RAMBytes > 0 {
		addProbe(Probe{Name: "memory", Source: "override", OK: true})
		return Memory{Total: d.Overrides.RAMBytes, Available: d.Overrides.RAMBytes, Source: "override"}
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		addProbe(failedProbe("memory", "/proc/meminfo", err))
		return Memory{Source: "/proc/meminfo"}
	}
	m := Memory{Total: vm.Total, Available: vm.Available, Source: "/proc/meminfo"}
	if limit, usage, src := cgroupMemory(root); limit > 0 && limit < m.Total {
		m.CgroupLimit = limit
		m.Total = limit
		m.Available = min(m.Available, limit-min(usage, limit))
		m.Source += " + " + src + " limit"
	}
	addProbe(Probe{Name: "memory", Source: m.Source, OK: true})
	return m
}

func probeCPU(ctx context.Context, addProbe func(Probe)) CPU {
	var c CPU
	if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 {
		c.Model = infos[0].ModelName
	}
	c.Cores, _ = cpu.CountsWithContext(ctx, false)
	c.Threads, _ = cpu.CountsWithContext(ctx, true)
	if c.Cores == 0 {
		c.Cores = c.Threads
	}
	addProbe(Probe{Name: "cpu", Source: "/proc/cpuinfo", OK: c.Threads > 0})
	return c
}

func probeDisk(ctx context.Context, e Engine, addProbe func(Probe)) Disk {
	d := Disk{Path: e.DataRoot}
	if d.Path == "" {
		d.Path, d.Note = "/", "Docker's data root is unknown (engine not reachable); showing /"
	} else if _, err := os.Stat(d.Path); err != nil {
		d.Note = fmt.Sprintf("Docker's data root %s is not visible from here (remote or rootless engine?); showing /", d.Path)
		d.Path = "/"
	}
	total, free, err := diskspace.Usage(d.Path)
	if err != nil {
		addProbe(failedProbe("disk", d.Path, err))
		return d
	}
	d.Total, d.Free = total, free
	addProbe(Probe{Name: "disk", Source: "statfs " + d.Path, OK: true, Detail: d.Note})
	return d
}

// probeHost lists non-loopback addresses, leaving out container bridges.
func probeHost(ctx context.Context, addProbe func(Probe)) Host {
	h := Host{}
	h.Name, _ = os.Hostname()
	ifaces, err := psnet.InterfacesWithContext(ctx)
	if err != nil {
		addProbe(failedProbe("host", "interfaces", err))
		return h
	}
	for _, ifc := range ifaces {
		if isVirtualInterface(ifc.Name) {
			continue
		}
		for _, a := range ifc.Addrs {
			ip, _, _ := strings.Cut(a.Addr, "/")
			if ip == "" || strings.HasPrefix(ip, "127.") || ip == "::1" || strings.HasPrefix(strings.ToLower(ip), "fe80:") {
				continue
			}
			h.Addresses = append(h.Addresses, ip)
		}
	}
	addProbe(Probe{Name: "host", Source: "interfaces", OK: true})
	return h
}

func isVirtualInterface(name string) bool {
	for _, p := range []string{"lo", "docker", "br-", "veth", "virbr", "cni", "flannel", "cali"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
