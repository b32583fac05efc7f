package hardware

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

const amdVendorID = "0x1002"

// probeAMD reads AMD GPUs from sysfs under root (a filesystem rooted at "/"):
// /sys/class/drm/cardN/device/{vendor,mem_info_vram_total,mem_info_vram_used,product_name}.
func probeAMD(root fs.FS) ([]GPU, error) {
	entries, err := fs.ReadDir(root, "sys/class/drm")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // its path is relative to root ("sys/class/drm"): say only why
			err = pe.Err
		}
		return nil, fmt.Errorf("no /sys/class/drm: %v", err)
	}
	var cards []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "card") && !strings.Contains(n, "-") {
			if _, err := strconv.Atoi(n[4:]); err == nil {
				cards = append(cards, n)
			}
		}
	}
	sort.Slice(cards, func(i, j int) bool {
		a, _ := strconv.Atoi(cards[i][4:])
		b, _ := strconv.Atoi(cards[j][4:])
		return a < b
	})
	read := func(card, file string) string {
		b, err := fs.ReadFile(root, path.Join("sys/class/drm", card, "device", file))
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var gpus []GPU
	for _, card := range cards {
		if read(card, "vendor") != amdVendorID {
			continue
		}
		total, err := strconv.ParseUint(read(card, "mem_info_vram_total"), 10, 64)
		if err != nil {
			continue // an APU or a card without the amdgpu VRAM files
		}
		used, _ := strconv.ParseUint(read(card, "mem_info_vram_used"), 10, 64)
		name := read(card, "product_name")
		if name == "" {
			name = "AMD GPU " + read(card, "device")
		}
		gpus = append(gpus, GPU{Index: len(gpus), Vendor: "amd", Name: name, MemoryTotal: total, MemoryUsed: used,
			MemoryFree: total - min(used, total), Source: "sysfs"})
	}
	return gpus, nil
}

// cgroupMemory returns the container's memory limit and usage, when limited
// (cgroup v2 memory.max, else v1 memory.limit_in_bytes).
func cgroupMemory(root fs.FS) (limit, usage uint64, source string) {
	readUint := func(p string) (uint64, bool) {
		b, err := fs.ReadFile(root, p)
		if err != nil {
			return 0, false
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseUint(s, 10, 64)
		return n, err == nil
	}
	if l, ok := readUint("sys/fs/cgroup/memory.max"); ok {
		u, _ := readUint("sys/fs/cgroup/memory.current")
		return l, u, "cgroup v2"
	}
	if l, ok := readUint("sys/fs/cgroup/memory/memory.limit_in_bytes"); ok && l < 1<<60 {
		u, _ := readUint("sys/fs/cgroup/memory/memory.usage_in_bytes")
		return l, u, "cgroup v1"
	}
	return 0, 0, ""
}
