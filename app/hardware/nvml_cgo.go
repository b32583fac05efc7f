//go:build cgo && linux

package hardware

import (
	"context"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// nvmlAvailable is true in builds that can load NVML at run time.
const nvmlAvailable = true

// NVML reads the NVIDIA GPUs through NVML, loaded with dlopen at run time,
// so the binary starts on machines without the driver. It is the one NVML
// reader: detection and health's GPU samples both use it.
func NVML(_ context.Context) ([]GPU, error) {
	if ret := nvml.Init(); ret != nvml.SUCCESS {
		if ret == nvml.ERROR_LIBRARY_NOT_FOUND {
			return nil, &SMIError{Reason: "the NVML library (libnvidia-ml.so.1) was not found", Fix: "install the NVIDIA driver"}
		}
		if ret == nvml.ERROR_LIB_RM_VERSION_MISMATCH {
			return nil, &SMIError{Reason: "the NVIDIA kernel driver and NVML have different versions", Fix: "reboot so the driver matches the installed library"}
		}
		if ret == nvml.ERROR_NO_PERMISSION {
			return nil, &SMIError{Reason: "no permission to open the NVIDIA devices", Fix: "run DuoBox as a user who can open /dev/nvidia*"}
		}
		return nil, fmt.Errorf("nvml init: %s", nvml.ErrorString(ret))
	}
	defer nvml.Shutdown()
	driver, _ := nvml.SystemGetDriverVersion()
	cuda := ""
	if v, ret := nvml.SystemGetCudaDriverVersion_v2(); ret == nvml.SUCCESS {
		cuda = fmt.Sprintf("%d.%d", v/1000, (v%1000)/10)
	}
	n, ret := nvml.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml device count: %s", nvml.ErrorString(ret))
	}
	if n == 0 {
		return nil, ErrNoDevices
	}
	gpus := make([]GPU, 0, n)
	for i := 0; i < n; i++ {
		dev, ret := nvml.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml device %d: %s", i, nvml.ErrorString(ret))
		}
		g := GPU{Index: i, Vendor: "nvidia", Source: "nvml", DriverVersion: driver, CUDAVersion: cuda}
		g.Name, _ = dev.GetName()
		g.UUID, _ = dev.GetUUID()
		if mem, ret := dev.GetMemoryInfo(); ret == nvml.SUCCESS {
			g.MemoryTotal, g.MemoryUsed, g.MemoryFree = mem.Total, mem.Used, mem.Free
		}
		if u, ret := dev.GetUtilizationRates(); ret == nvml.SUCCESS {
			f := float64(u.Gpu)
			g.UtilizationPct = &f
		}
		if major, minor, ret := dev.GetCudaComputeCapability(); ret == nvml.SUCCESS {
			g.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		if cur, _, ret := dev.GetMigMode(); ret == nvml.SUCCESS {
			g.MIG = map[int]string{nvml.DEVICE_MIG_ENABLE: "enabled", nvml.DEVICE_MIG_DISABLE: "disabled"}[cur]
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}
