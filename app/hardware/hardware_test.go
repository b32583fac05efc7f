package hardware

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

const mib = 1 << 20

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "nvidia-smi", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNvidiaSMIFixtures(t *testing.T) {
	tests := []struct {
		file       string
		gpus       int
		name       string
		totalMiB   uint64
		freeMiB    uint64
		compute    string
		mig        string
		wantErr    string
		wantSMIErr bool
	}{
		{file: "t4.csv", gpus: 1, name: "Tesla T4", totalMiB: 15360, freeMiB: 14930, compute: "7.5"},
		{file: "a10g.csv", gpus: 1, name: "NVIDIA A10G", totalMiB: 23028, freeMiB: 22502, compute: "8.6"},
		{file: "rtx4090.csv", gpus: 1, name: "NVIDIA GeForce RTX 4090", totalMiB: 24564, freeMiB: 23743, compute: "8.9"},
		{file: "l40s.csv", gpus: 1, name: "NVIDIA L40S", totalMiB: 46068, freeMiB: 45589, compute: "8.9"},
		{file: "a100-40.csv", gpus: 1, name: "NVIDIA A100-SXM4-40GB", totalMiB: 40960, freeMiB: 40337, compute: "8.0", mig: "disabled"},
		{file: "a100-80.csv", gpus: 1, name: "NVIDIA A100-SXM4-80GB", totalMiB: 81920, freeMiB: 81038, compute: "8.0", mig: "disabled"},
		{file: "h100.csv", gpus: 1, name: "NVIDIA H100 80GB HBM3", totalMiB: 81559, freeMiB: 81004, compute: "9.0", mig: "disabled"},
		{file: "two-4090-one-busy.csv", gpus: 2, name: "NVIDIA GeForce RTX 4090", totalMiB: 24564, freeMiB: 2951, compute: "8.9"},
		{file: "a100-80-mig.csv", gpus: 1, name: "NVIDIA A100-SXM4-80GB", totalMiB: 81920, freeMiB: 81050, compute: "8.0", mig: "enabled"},
		{file: "no-devices.txt", wantErr: "no NVIDIA devices"},
		{file: "version-mismatch.txt", wantErr: "Driver/library version mismatch", wantSMIErr: true},
		{file: "no-driver.txt", wantErr: "could not talk to the NVIDIA driver", wantSMIErr: true},
		{file: "truncated.csv", wantErr: "fields"},
		{file: "garbage.txt", wantErr: "column"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			gpus, err := ParseNvidiaSMI(readFixture(t, tt.file))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				var smi *SMIError
				if errors.As(err, &smi) != tt.wantSMIErr || (tt.wantSMIErr && smi.Fix == "") {
					t.Fatalf("SMIError with fix expected=%v, got %#v", tt.wantSMIErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(gpus) != tt.gpus {
				t.Fatalf("%d GPUs, want %d", len(gpus), tt.gpus)
			}
			g := gpus[0]
			if g.Name != tt.name || g.MemoryTotal != tt.totalMiB*mib || g.MemoryFree != tt.freeMiB*mib || g.ComputeCapability != tt.compute || g.MIG != tt.mig {
				t.Fatalf("got %+v", g)
			}
			if g.UUID == "" || !strings.HasPrefix(g.UUID, "GPU-") || g.DriverVersion == "" || g.Vendor != "nvidia" {
				t.Fatalf("identity fields missing: %+v", g)
			}
		})
	}
}

func TestParseNvidiaSMIReadsColumnsByHeaderName(t *testing.T) {
	out := "memory.free [MiB], name, memory.total [MiB]\n1000 MiB, Reordered GPU, 2000 MiB\n"
	gpus, err := ParseNvidiaSMI([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if gpus[0].Name != "Reordered GPU" || gpus[0].MemoryFree != 1000*mib || gpus[0].MemoryTotal != 2000*mib || gpus[0].Index != 0 {
		t.Fatalf("got %+v", gpus[0])
	}
}

func TestParseNvidiaSMIRejectsBadNumbers(t *testing.T) {
	for _, out := range []string{
		"name, memory.total [MiB]\nX, lots MiB\n",
		"name, memory.total [MiB]\nX, -5 MiB\n",
		"index, name, memory.total [MiB]\nabc, X, 5 MiB\n",
		"name, memory.total [MiB]\n",
		"",
	} {
		if _, err := ParseNvidiaSMI([]byte(out)); err == nil {
			t.Errorf("accepted %q", out)
		}
	}
}

func TestParseGPUOverride(t *testing.T) {
	g, err := ParseGPUOverride("RTX 4090:24564", 0)
	if err != nil || g.Name != "RTX 4090" || g.MemoryTotal != 24564*mib || g.MemoryFree != g.MemoryTotal {
		t.Fatalf("got %+v, %v", g, err)
	}
	g, err = ParseGPUOverride("weird:name:1024", 1)
	if err != nil || g.Name != "weird:name" || g.Index != 1 {
		t.Fatalf("got %+v, %v", g, err)
	}
	for _, bad := range []string{"RTX 4090", "RTX 4090:", ":24564", "RTX:24GB", "RTX:0"} {
		if _, err := ParseGPUOverride(bad, 0); err == nil || !strings.Contains(err.Error(), "--gpu") {
			t.Errorf("ParseGPUOverride(%q) err = %v, want a --gpu message", bad, err)
		}
	}
}

func TestProbeAMDReadsSysfs(t *testing.T) {
	gpus, err := probeAMD(os.DirFS("testdata/roots/amd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 1 {
		t.Fatalf("%d AMD GPUs, want 1 (the Intel card and the connector entry must be skipped)", len(gpus))
	}
	g := gpus[0]
	if g.Name != "AMD Radeon RX 7900 XTX" || g.MemoryTotal != 25753026560 || g.MemoryFree != 25753026560-1073741824 || g.Vendor != "amd" || g.Source != "sysfs" {
		t.Fatalf("got %+v", g)
	}
	if _, err := probeAMD(fstest.MapFS{}); err == nil {
		t.Fatal("no /sys/class/drm should be an error")
	}
	// The path is printed whole, never as the root-relative "sys/class/drm".
	_, err = probeAMD(os.DirFS(t.TempDir()))
	if err == nil || err.Error() != "no /sys/class/drm: no such file or directory" {
		t.Errorf("missing sysfs: %v", err)
	}
}

func TestCgroupMemoryLimits(t *testing.T) {
	for _, tt := range []struct {
		root         string
		limit, usage uint64
		src          string
	}{
		{"testdata/roots/cgroup2", 16 << 30, 4 << 30, "cgroup v2"},
		{"testdata/roots/cgroup1", 8 << 30, 1 << 30, "cgroup v1"},
		{"testdata/roots/amd", 0, 0, ""},
	} {
		l, u, src := cgroupMemory(os.DirFS(tt.root))
		if l != tt.limit || u != tt.usage || src != tt.src {
			t.Errorf("%s: got %d %d %q", tt.root, l, u, src)
		}
	}
	if l, _, _ := cgroupMemory(fstest.MapFS{"sys/fs/cgroup/memory.max": {Data: []byte("max\n")}}); l != 0 {
		t.Errorf("memory.max=max must mean unlimited, got %d", l)
	}
}

// fakeRoot builds a root with a /proc/meminfo and a cgroup v2 limit below it.
func fakeRoot(t *testing.T) string {
	root := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "proc"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "sys/fs/cgroup"), 0o755))
	must(os.WriteFile(filepath.Join(root, "proc/meminfo"), []byte("MemTotal:       65536000 kB\nMemFree:        30000000 kB\nMemAvailable:   60000000 kB\nBuffers: 0 kB\nCached: 0 kB\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory.max"), []byte("17179869184\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "sys/fs/cgroup/memory.current"), []byte("4294967296\n"), 0o644))
	return root
}

func TestDetectRespectsCgroupLimitAndFallsBackToNvidiaSMI(t *testing.T) {
	root := fakeRoot(t)
	var ran []string
	d := Detector{
		Root:     root,
		SkipNVML: true,
		Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			ran = append(ran, name+" "+strings.Join(args, " "))
			return readFixture(t, "two-4090-one-busy.csv"), nil
		},
		Engine: func(context.Context) Engine {
			return Engine{Reachable: true, Endpoint: "unix:///fake.sock", Version: "27.0", DataRoot: root}
		},
	}
	m, err := d.Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || !strings.HasPrefix(ran[0], "nvidia-smi --query-gpu=") {
		t.Fatalf("ran %q", ran)
	}
	if len(m.NVIDIA()) != 2 || m.GPUs[1].MemoryFree != 24140*mib {
		t.Fatalf("GPUs %+v", m.GPUs)
	}
	if m.Memory.Total != 16<<30 || m.Memory.Available != 12<<30 || !strings.Contains(m.Memory.Source, "cgroup v2") {
		t.Fatalf("memory %+v: the 16 GiB cgroup limit (4 GiB used) must win over 62.5 GiB of host RAM", m.Memory)
	}
	if m.Disk.Path != root || m.Disk.Free == 0 {
		t.Fatalf("disk %+v: want free space at the engine's data root", m.Disk)
	}
	p, ok := m.Probe("gpu-runtime")
	if !ok || p.OK || !strings.Contains(p.Fix, "nvidia-ctk runtime configure") {
		t.Fatalf("gpu-runtime probe %+v: an engine without the NVIDIA runtime must say how to fix it", p)
	}
}

func TestDetectReportsWhyEachGPUProbeFailed(t *testing.T) {
	d := Detector{
		Root:     fakeRoot(t),
		SkipNVML: true,
		Run: func(context.Context, string, ...string) ([]byte, error) {
			return nil, &exec.Error{Name: "nvidia-smi", Err: exec.ErrNotFound}
		},
	}
	m, err := d.Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.GPUs) != 0 {
		t.Fatalf("GPUs %+v", m.GPUs)
	}
	var smi Probe
	for _, p := range m.Probes {
		if p.Name == "gpu" && p.Source == "nvidia-smi" {
			smi = p
		}
	}
	if smi.OK || !strings.Contains(smi.Detail, "not installed") || smi.Fix == "" {
		t.Fatalf("nvidia-smi probe %+v: want the reason and a fix", smi)
	}
	if e, _ := m.Probe("engine"); e.Name != "" {
		t.Fatalf("no engine prober given, but an engine probe was reported: %+v", e)
	}
}

func TestDetectOverrides(t *testing.T) {
	d := Detector{Root: fakeRoot(t), Overrides: Overrides{NvidiaSMIOutput: readFixture(t, "version-mismatch.txt"), NvidiaSMIFile: "x", RAMBytes: 8 << 30}}
	m, err := d.Detect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Probe("gpu")
	if p.OK || !strings.Contains(p.Detail, "mismatch") || !strings.Contains(p.Fix, "reboot") {
		t.Fatalf("probe %+v", p)
	}
	if m.Memory.Total != 8<<30 || m.Memory.Source != "override" {
		t.Fatalf("memory %+v", m.Memory)
	}
	d.Overrides = Overrides{NvidiaSMIOutput: readFixture(t, "truncated.csv"), NvidiaSMIFile: "trunc.csv"}
	if _, err := d.Detect(context.Background()); err == nil || !strings.Contains(err.Error(), "trunc.csv") {
		t.Fatalf("truncated override: err = %v, want an error naming the file", err)
	}
}

func FuzzParseNvidiaSMI(f *testing.F) {
	for _, name := range []string{"t4.csv", "two-4090-one-busy.csv", "a100-80-mig.csv", "no-devices.txt", "truncated.csv", "garbage.txt"} {
		b, _ := os.ReadFile(filepath.Join("testdata", "nvidia-smi", name))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		gpus, err := ParseNvidiaSMI(data)
		if err == nil {
			for _, g := range gpus {
				if g.Name == "" || g.MemoryTotal == 0 && g.MemoryFree > 0 {
					t.Fatalf("accepted an unusable GPU %+v from %q", g, data)
				}
			}
		}
	})
}

func FuzzParseGPUOverride(f *testing.F) {
	f.Add("RTX 4090:24564")
	f.Add("a:b:c")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGPUOverride(s, 0)
		if err == nil && (g.MemoryTotal == 0 || g.Name == "") {
			t.Fatalf("accepted %q as %+v", s, g)
		}
	})
}
