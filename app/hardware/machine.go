// Package hardware detects what the workstation offers DuoBox: GPUs (NVML,
// nvidia-smi, AMD sysfs), memory (cgroup limits respected), CPU, disk at
// Docker's data root, host addresses and the Docker engine. Every probe reads
// through injected seams (a filesystem root, a command runner, an engine
// prober) so tests never depend on the live host, and every probe reports its
// source and, when it fails, why.
package hardware

// Machine is one detection snapshot.
type Machine struct {
	GPUs   []GPU   `json:"gpus"`
	Memory Memory  `json:"memory"`
	CPU    CPU     `json:"cpu"`
	Disk   Disk    `json:"disk"`
	Host   Host    `json:"host"`
	Engine Engine  `json:"engine"`
	Probes []Probe `json:"probes"`
}

// GPU is one accelerator. Memory figures are bytes.
type GPU struct {
	Index             int    `json:"index"`
	Vendor            string `json:"vendor"` // "nvidia" or "amd"
	Name              string `json:"name"`
	UUID              string `json:"uuid,omitempty"`
	MemoryTotal       uint64 `json:"memory_total_bytes"`
	MemoryUsed        uint64 `json:"memory_used_bytes"`
	MemoryFree        uint64 `json:"memory_free_bytes"`
	DriverVersion     string `json:"driver_version,omitempty"`
	CUDAVersion       string `json:"cuda_version,omitempty"`
	ComputeCapability string `json:"compute_capability,omitempty"`
	MIG               string `json:"mig_mode,omitempty"` // "enabled", "disabled" or "" when unknown / not supported
	Source            string `json:"source"`
	// UtilizationPct is NVML's utilisation reading, for health's samples;
	// nil when unknown. Not part of the machine report.
	UtilizationPct *float64 `json:"-"`
}

// Memory is system RAM as the model server container would see it.
type Memory struct {
	Total       uint64 `json:"total_bytes"`
	Available   uint64 `json:"available_bytes"`
	CgroupLimit uint64 `json:"cgroup_limit_bytes,omitempty"` // 0 when unlimited
	Source      string `json:"source"`
}

// CPU describes the processor.
type CPU struct {
	Model   string `json:"model"`
	Cores   int    `json:"cores"`
	Threads int    `json:"threads"`
}

// Disk is free space where Docker keeps images and volumes.
type Disk struct {
	Path  string `json:"path"`
	Total uint64 `json:"total_bytes"`
	Free  uint64 `json:"free_bytes"`
	Note  string `json:"note,omitempty"`
}

// Host is the machine's name and the non-loopback addresses GitLab could use.
type Host struct {
	Name      string   `json:"name"`
	Addresses []string `json:"addresses"`
}

// Engine describes the Docker engine DuoBox talks to.
type Engine struct {
	Reachable     bool     `json:"reachable"`
	Endpoint      string   `json:"endpoint"`
	Context       string   `json:"context,omitempty"`
	Version       string   `json:"version,omitempty"`
	APIVersion    string   `json:"api_version,omitempty"`
	OS            string   `json:"os,omitempty"`
	Arch          string   `json:"arch,omitempty"`
	DataRoot      string   `json:"data_root,omitempty"`
	Runtimes      []string `json:"runtimes,omitempty"`
	NvidiaRuntime bool     `json:"nvidia_runtime"`
	CDIDevices    []string `json:"cdi_devices,omitempty"`
	Rootless      bool     `json:"rootless"`
	Error         string   `json:"error,omitempty"`
	Fix           string   `json:"fix,omitempty"`
}

// GPUAccess reports whether containers can be given NVIDIA GPUs, and if not, the fix.
func (e Engine) GPUAccess() (ok bool, fix string) {
	if !e.Reachable {
		return false, "start Docker first"
	}
	if e.NvidiaRuntime {
		return true, ""
	}
	for _, d := range e.CDIDevices {
		if len(d) >= 10 && d[:10] == "nvidia.com" {
			return true, ""
		}
	}
	return false, "install the NVIDIA Container Toolkit, then run 'sudo nvidia-ctk runtime configure --runtime=docker' and 'sudo systemctl restart docker'"
}

// Probe reports how one probe went.
type Probe struct {
	Name   string `json:"name"`   // "gpu", "memory", "cpu", "disk", "host", "engine"
	Source string `json:"source"` // e.g. "nvml", "nvidia-smi", "sysfs", "override", "/proc/meminfo"
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"` // why it failed, or what was found
	Fix    string `json:"fix,omitempty"`
}

// NVIDIA returns the NVIDIA GPUs.
func (m Machine) NVIDIA() []GPU {
	var out []GPU
	for _, g := range m.GPUs {
		if g.Vendor == "nvidia" {
			out = append(out, g)
		}
	}
	return out
}

// Probe returns the named probe's report.
func (m Machine) Probe(name string) (Probe, bool) {
	for _, p := range m.Probes {
		if p.Name == name {
			return p, true
		}
	}
	return Probe{}, false
}
