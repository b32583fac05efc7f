package hardware

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// NvidiaSMIQuery is the query DuoBox runs; the parser reads columns by header
// name, so saved outputs with fewer or reordered columns parse too.
var NvidiaSMIQuery = []string{
	"--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,driver_version,compute_cap,mig.mode.current",
	"--format=csv",
}

// NvidiaSMIQueryBasic is the fallback for drivers that reject a field of NvidiaSMIQuery.
var NvidiaSMIQueryBasic = []string{
	"--query-gpu=index,name,uuid,memory.total,memory.used,memory.free,driver_version",
	"--format=csv",
}

// ErrNoDevices means nvidia-smi ran but found no GPU.
var ErrNoDevices = errors.New("no NVIDIA devices were found")

// SMIError is a failure text of nvidia-smi recognised with its fix.
type SMIError struct {
	Reason string
	Fix    string
}

func (e *SMIError) Error() string { return e.Reason }

// knownSMIFailures maps nvidia-smi's failure texts to a reason and a fix.
var knownSMIFailures = []struct {
	contains string
	err      SMIError
}{
	{"Driver/library version mismatch", SMIError{
		"the NVIDIA kernel driver and its user-space library have different versions (Driver/library version mismatch)",
		"reboot the machine (or reload the nvidia kernel modules) so the driver matches the installed library"}},
	{"couldn't communicate with the NVIDIA driver", SMIError{
		"nvidia-smi could not talk to the NVIDIA driver",
		"install the NVIDIA driver (or check that its kernel module is loaded: lsmod | grep nvidia)"}},
	{"Insufficient Permissions", SMIError{
		"no permission to query the GPUs",
		"run DuoBox as a user who can open /dev/nvidia*"}},
}

// ParseNvidiaSMI parses the CSV output of nvidia-smi --query-gpu ...
// --format=csv (header and units included), or recognises "No devices were
// found" (ErrNoDevices) and the driver failure texts (*SMIError).
func ParseNvidiaSMI(out []byte) ([]GPU, error) {
	text := strings.TrimSpace(string(bytes.ToValidUTF8(out, []byte("?"))))
	if text == "" {
		return nil, errors.New("nvidia-smi printed nothing")
	}
	if strings.Contains(text, "No devices were found") {
		return nil, ErrNoDevices
	}
	for _, k := range knownSMIFailures {
		if strings.Contains(text, k.contains) {
			e := k.err
			return nil, &e
		}
	}
	r := csv.NewReader(strings.NewReader(text))
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi output is not CSV: %v", err)
	}
	col := map[string]int{}
	for i, h := range header {
		// "memory.total [MiB]" -> "memory.total"
		name := strings.TrimSpace(h)
		if j := strings.Index(name, " ["); j >= 0 {
			name = name[:j]
		}
		col[strings.ToLower(name)] = i
	}
	for _, need := range []string{"name", "memory.total"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("nvidia-smi output has no %q column (header: %q); save it with nvidia-smi %s", need, strings.Join(header, ","), strings.Join(NvidiaSMIQuery, " "))
		}
	}
	var gpus []GPU
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi output line %d: %v", line, err)
		}
		if len(rec) != len(header) {
			return nil, fmt.Errorf("nvidia-smi output line %d has %d fields, the header has %d (truncated output?)", line, len(rec), len(header))
		}
		get := func(name string) string {
			if i, ok := col[name]; ok {
				v := strings.TrimSpace(rec[i])
				if v == "[N/A]" || v == "N/A" || v == "[Not Supported]" {
					return ""
				}
				return v
			}
			return ""
		}
		g := GPU{Vendor: "nvidia", Source: "nvidia-smi", Index: len(gpus), Name: get("name"), UUID: get("uuid"),
			DriverVersion: get("driver_version"), ComputeCapability: get("compute_cap")}
		if g.Name == "" {
			return nil, fmt.Errorf("nvidia-smi output line %d has an empty GPU name", line)
		}
		if s := get("index"); s != "" {
			if g.Index, err = strconv.Atoi(s); err != nil || g.Index < 0 {
				return nil, fmt.Errorf("nvidia-smi output line %d: index %q is not a number", line, s)
			}
		}
		for _, f := range []struct {
			name string
			dst  *uint64
			need bool
		}{{"memory.total", &g.MemoryTotal, true}, {"memory.used", &g.MemoryUsed, false}, {"memory.free", &g.MemoryFree, false}} {
			s := get(f.name)
			if s == "" {
				if f.need {
					return nil, fmt.Errorf("nvidia-smi output line %d: %s is missing", line, f.name)
				}
				continue
			}
			if *f.dst, err = ParseMiB(s); err != nil {
				return nil, fmt.Errorf("nvidia-smi output line %d: %s: %v", line, f.name, err)
			}
		}
		if g.MemoryTotal == 0 {
			return nil, fmt.Errorf("nvidia-smi output line %d: memory.total is 0", line)
		}
		if _, ok := col["memory.free"]; !ok || get("memory.free") == "" {
			g.MemoryFree = g.MemoryTotal - min(g.MemoryUsed, g.MemoryTotal)
		}
		switch strings.ToLower(get("mig.mode.current")) {
		case "enabled":
			g.MIG = "enabled"
		case "disabled":
			g.MIG = "disabled"
		}
		gpus = append(gpus, g)
	}
	if len(gpus) == 0 {
		return nil, errors.New("nvidia-smi output has a header but no GPU rows (truncated output?)")
	}
	return gpus, nil
}

// ParseMiB reads "81920 MiB" or "81920" as bytes.
func ParseMiB(s string) (uint64, error) {
	s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "MiB"))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > 1<<24 { // 16 TiB per GPU is beyond any card
		return 0, fmt.Errorf("%q is not a MiB figure", s)
	}
	return n << 20, nil
}

// ParseGPUOverride reads --gpu "NAME:MiB" (the name may itself hold colons).
func ParseGPUOverride(s string, index int) (GPU, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return GPU{}, fmt.Errorf("--gpu %q: write NAME:MiB, for example --gpu \"RTX 4090:24564\"", s)
	}
	mib, err := ParseMiB(s[i+1:])
	if err != nil || mib == 0 {
		return GPU{}, fmt.Errorf("--gpu %q: %q is not a memory size in MiB (for example 24564 for a 24 GB card)", s, s[i+1:])
	}
	return GPU{Index: index, Vendor: "nvidia", Name: strings.TrimSpace(s[:i]), MemoryTotal: mib, MemoryFree: mib, Source: "override"}, nil
}
