//go:build cgo && linux

package health

import (
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// sampleNVML reads memory and utilisation through NVML (loaded at run time).
func sampleNVML() ([]GPUSample, error) {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml init: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS || n == 0 {
		return nil, fmt.Errorf("nvml: no devices (%s)", nvml.ErrorString(ret))
	}
	out := make([]GPUSample, 0, n)
	for i := 0; i < n; i++ {
		dev, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml device %d: %s", i, nvml.ErrorString(ret))
		}
		s := GPUSample{Index: i, Source: "nvml"}
		s.Name, _ = dev.GetName()
		if mem, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
			s.MemoryUsed, s.MemoryTotal = mem.Used, mem.Total
		}
		if u, ret := dev.GetUtilizationRates(); ret == nvml.SUCCESS {
			f := float64(u.Gpu)
			s.UtilizationPct = &f
		}
		out = append(out, s)
	}
	return out, nil
}
