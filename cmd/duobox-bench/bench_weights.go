package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/duobox/duobox/app/weights/fakehub"
)

// The benchmark repository: four 500 MB safetensors shards and two small files, 2.0 GB.
const (
	benchWeightsRepo   = "bench/weights-2gb"
	benchWeightsShards = 4
	benchWeightsShard  = 500_000_000
	benchWeightsRounds = 5
)

func init() {
	registerBench("weights-download", benchWeightsDownload)
}

// benchWeightsDownload times `duobox weights pull` of a 2 GB repository from
// a local server speaking the hub's API shapes (fakehub, serving files from
// disk) against curl fetching the same files one after another from the
// same server, alternating, best of five each (the best run is the one least
// disturbed by other work on the machine). Both write to the same disk;
// each download is deleted and the disk synced before the next.
func benchWeightsDownload(ctx context.Context, env *benchEnv) (result, error) {
	dir, err := os.MkdirTemp(env.tmp, "weights-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	repo := &fakehub.Repo{ID: benchWeightsRepo, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["MistralForCausalLM"],"torch_dtype":"bfloat16"}`)},
		{Path: "tokenizer.json", Data: make([]byte, 2_000_000), LFS: true},
	}}
	for i := 1; i <= benchWeightsShards; i++ {
		name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i, benchWeightsShards)
		path := filepath.Join(dir, "src", name)
		if err := writeShard(path, byte(i)); err != nil {
			return result{}, err
		}
		repo.Files = append(repo.Files, &fakehub.File{Path: name, DiskPath: path, LFS: true})
	}
	syscall.Sync() // the generated shards
	srv, err := fakehub.New(repo)
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	var total int64 = 2_000_000 + int64(len(repo.Files[0].Data)) + benchWeightsShards*benchWeightsShard

	// Each run returns its throughput (MB/s) and the CPU seconds its processes used.
	pull := func() (float64, float64, error) {
		cache := filepath.Join(dir, "cache")
		defer settle(cache)
		cmd := exec.CommandContext(ctx, env.duobox, "weights", "pull", benchWeightsRepo, "--json")
		cmd.Env = append(os.Environ(), "DUOBOX_HOME="+filepath.Join(dir, "home"), "HF_ENDPOINT="+srv.URL,
			"HF_HUB_CACHE="+cache, "HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=", "HF_HUB_OFFLINE=")
		start := time.Now()
		out, err := cmd.Output()
		elapsed := time.Since(start).Seconds()
		if err != nil {
			return 0, 0, fmt.Errorf("duobox weights pull: %v: %s", err, weightsStderr(err))
		}
		var res struct{ Fetched int64 }
		if err := json.Unmarshal(out, &res); err != nil || res.Fetched != total {
			return 0, 0, fmt.Errorf("duobox weights pull fetched %d of %d bytes (%v): %s", res.Fetched, total, err, out)
		}
		return float64(total) / elapsed / 1e6, cpuSeconds(cmd), nil
	}
	curl := func() (float64, float64, error) {
		out := filepath.Join(dir, "curl")
		defer settle(out)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return 0, 0, err
		}
		cpu := 0.0
		start := time.Now()
		for _, f := range repo.Files {
			url := srv.URL + "/" + benchWeightsRepo + "/resolve/main/" + f.Path
			cmd := exec.CommandContext(ctx, "curl", "-sSfL", "-o", filepath.Join(out, f.Path), url)
			if b, err := cmd.CombinedOutput(); err != nil {
				return 0, 0, fmt.Errorf("curl %s: %v: %s", url, err, b)
			}
			cpu += cpuSeconds(cmd)
		}
		return float64(total) / time.Since(start).Seconds() / 1e6, cpu, nil
	}
	var ours, ref, ourCPU, refCPU float64
	for range benchWeightsRounds {
		v, c, err := pull()
		if err != nil {
			return result{}, err
		}
		if v > ours {
			ours, ourCPU = v, c
		}
		r, c, err := curl()
		if err != nil {
			return result{}, err
		}
		if r > ref {
			ref, refCPU = r, c
		}
	}
	return result{value: ours, reference: ref, unit: "MB/s", goal: 1.0,
		note: fmt.Sprintf("2.0 GB repo (%d × 500 MB shards + 2 small files) from a local fake hub; duobox: listing, parallel download, sha256 verification, cache layout; "+
			"reference: curl fetching the same files one after another; best of %d each; CPU of the best runs: duobox %.1f s, curl %.1f s (load average %s)",
			benchWeightsShards, benchWeightsRounds, ourCPU, refCPU, loadAverage())}, nil
}

// cpuSeconds is the user and system CPU time a finished command used.
func cpuSeconds(cmd *exec.Cmd) float64 {
	if cmd.ProcessState == nil {
		return 0
	}
	return (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

// loadAverage is the one-minute load average, to read the figure against.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Fields(string(data))[0]
}

// settle deletes a run's download and flushes dirty pages, so that the next
// run does not pay for the write-back of the previous one.
func settle(dir string) {
	os.RemoveAll(dir)
	syscall.Sync()
}

// writeShard writes a valid 500 MB safetensors file.
func writeShard(path string, seed byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 4<<20)
	if err := fakehub.WriteSafetensors(w, benchWeightsShard, seed); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// weightsStderr is what a failed command wrote to stderr.
func weightsStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
