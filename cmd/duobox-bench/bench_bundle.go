package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/duobox/duobox/app/weights/fakehub"
	"github.com/duobox/duobox/runtime/testbed"
)

// The bundle benchmark: the two test-bed images, the gateway with an extra
// 100 MB layer, and a model of two 250 MB safetensors shards.
const (
	benchBundleRepo   = "bench/bundle-500mb"
	benchBundleShard  = 250_000_000
	benchBundleLayer  = 100_000_000
	benchBundleRounds = 3
)

func init() {
	registerBench("bundle-load", benchBundleLoad)
}

// benchBundleLoad times 'duobox bundle load' (verify every sha256, load the
// images into the engine, import the weights into a fresh hub cache, record
// the tags) against the manual route over the same bytes: 'docker load -i'
// of the same two 'docker save' archives plus 'cp -r' of the same weight
// files into a fresh folder. The images are removed from the engine before
// every run of either; best of three each, alternating.
func benchBundleLoad(ctx context.Context, env *benchEnv) (result, error) {
	dir, err := os.MkdirTemp(env.tmp, "bundle-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	bed, err := testbed.New()
	if err != nil {
		return result{}, err
	}
	defer bed.Close()
	gwRef := bed.Ref(testbed.Gateway, "bench-big")
	if err := pushWithLayer(bed.Ref(testbed.Gateway, "v1"), gwRef, benchBundleLayer); err != nil {
		return result{}, err
	}
	msRef := bed.Ref(testbed.ModelServer, "v1")
	repo := &fakehub.Repo{ID: benchBundleRepo, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["MistralForCausalLM"],"torch_dtype":"bfloat16"}`)},
		{Path: "tokenizer.json", Data: make([]byte, 2_000_000), LFS: true},
	}}
	for i := 1; i <= 2; i++ {
		nm := fmt.Sprintf("model-%05d-of-00002.safetensors", i)
		p := filepath.Join(dir, "src", nm)
		f, err := os.Create(p)
		if os.IsNotExist(err) {
			os.MkdirAll(filepath.Dir(p), 0o755)
			f, err = os.Create(p)
		}
		if err != nil {
			return result{}, err
		}
		err = fakehub.WriteSafetensors(f, benchBundleShard, byte(i))
		f.Close()
		if err != nil {
			return result{}, err
		}
		repo.Files = append(repo.Files, &fakehub.File{Path: nm, DiskPath: p, LFS: true})
	}
	hub, err := fakehub.New(repo)
	if err != nil {
		return result{}, err
	}
	defer hub.Close()

	home := filepath.Join(dir, "home")
	file := filepath.Join(dir, "bench.bundle")
	create := exec.CommandContext(ctx, env.duobox, "bundle", "create", "--gitlab-version", "18.5", "--model", benchBundleRepo, "--mode", "cpu",
		"--gateway-image", gwRef, "--model-server-image", msRef, "-o", file, "--json")
	create.Env = append(os.Environ(), "DUOBOX_HOME="+home, "HF_ENDPOINT="+hub.URL, "HF_HUB_CACHE="+filepath.Join(dir, "create-cache"), "HF_TOKEN=")
	if out, err := create.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("duobox bundle create: %v: %s", err, out)
	}
	os.RemoveAll(filepath.Join(dir, "create-cache"))
	// The reference's inputs: the same archives and weight files, as plain files.
	ref := filepath.Join(dir, "manual")
	archives, weightBytes, err := unpackForReference(file, ref)
	if err != nil {
		return result{}, err
	}
	st, _ := os.Stat(file)

	removeImages := func() error {
		return exec.CommandContext(ctx, "docker", "rmi", "-f", gwRef, msRef).Run()
	}
	removeImages()
	defer removeImages()
	ours := func() (float64, error) {
		cache := filepath.Join(dir, "load-cache")
		h := filepath.Join(dir, "load-home")
		defer settle(cache)
		defer settle(h)
		cmd := exec.CommandContext(ctx, env.duobox, "bundle", "load", file, "--json")
		cmd.Env = append(os.Environ(), "DUOBOX_HOME="+h, "HF_HUB_CACHE="+cache, "HF_ENDPOINT=http://127.0.0.1:9")
		start := time.Now()
		out, err := cmd.Output()
		el := time.Since(start).Seconds()
		if err != nil {
			return 0, fmt.Errorf("duobox bundle load: %v: %s", err, weightsStderr(err))
		}
		var res struct {
			Weights string
			Images  []struct{ Action string }
		}
		if err := json.Unmarshal(out, &res); err != nil || res.Weights != "imported" || len(res.Images) != 2 || res.Images[0].Action != "loaded" {
			return 0, fmt.Errorf("duobox bundle load did not load everything (%v): %s", err, out)
		}
		return el, removeImages()
	}
	manual := func() (float64, error) {
		dst := filepath.Join(dir, "manual-copy")
		defer settle(dst)
		start := time.Now()
		for _, a := range archives {
			if out, err := exec.CommandContext(ctx, "docker", "load", "-q", "-i", a).CombinedOutput(); err != nil {
				return 0, fmt.Errorf("docker load: %v: %s", err, out)
			}
		}
		if out, err := exec.CommandContext(ctx, "cp", "-r", filepath.Join(ref, "weights"), dst).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("cp: %v: %s", err, out)
		}
		el := time.Since(start).Seconds()
		return el, removeImages()
	}
	best := func(cur, v float64) float64 {
		if cur == 0 || v < cur {
			return v
		}
		return cur
	}
	var o, r float64
	for range benchBundleRounds {
		v, err := ours()
		if err != nil {
			return result{}, err
		}
		o = best(o, v)
		v, err = manual()
		if err != nil {
			return result{}, err
		}
		r = best(r, v)
	}
	return result{value: o, reference: r, unit: "s", goal: 1.2, lowerIsBetter: true,
		note: fmt.Sprintf("bundle of %.0f MB (2 images, one with a 100 MB layer; %.0f MB of weights); duobox: sha256 of every entry (nothing kept unless all match), image load through the engine API while the weights are staged, weights into the HF cache layout, tags recorded; "+
			"reference: 'docker load -i' of the same two archives + 'cp -r' of the same weight files; best of %d each (load average %s)",
			float64(st.Size())/1e6, float64(weightBytes)/1e6, benchBundleRounds, loadAverage())}, nil
}

// pushWithLayer pushes src plus one random layer of size bytes as dst.
func pushWithLayer(src, dst string, size int64) error {
	s, err := name.ParseReference(src)
	if err != nil {
		return err
	}
	img, err := remote.Image(s)
	if err != nil {
		return err
	}
	layer, err := random.Layer(size, types.DockerLayer)
	if err != nil {
		return err
	}
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}
	d, err := name.ParseReference(dst)
	if err != nil {
		return err
	}
	return remote.Write(d, img)
}

// unpackForReference writes the bundle's image archives and weight blobs
// as plain files under dir, for the manual route.
func unpackForReference(bundleFile, dir string) (archives []string, weightBytes int64, err error) {
	f, err := os.Open(bundleFile)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return archives, weightBytes, nil
		}
		if err != nil {
			return nil, 0, err
		}
		var dst string
		switch {
		case strings.HasPrefix(hdr.Name, "images/"):
			dst = filepath.Join(dir, hdr.Name)
			archives = append(archives, dst)
		case strings.HasPrefix(hdr.Name, "weights/") && strings.Contains(hdr.Name, "/blobs/"):
			dst = filepath.Join(dir, "weights", filepath.Base(hdr.Name))
			weightBytes += hdr.Size
		default:
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, 0, err
		}
		out, err := os.Create(dst)
		if err != nil {
			return nil, 0, err
		}
		_, err = io.Copy(out, tr)
		out.Close()
		if err != nil {
			return nil, 0, err
		}
	}
}
