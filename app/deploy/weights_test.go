package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/weights"
	"github.com/duobox/duobox/app/weights/fakehub"
	"github.com/duobox/duobox/bundles"
)

// TestEnsureWeights_FakeHubServer fills the hub cache the model container
// mounts, once: a second call fetches nothing.
func TestEnsureWeights_FakeHubServer(t *testing.T) {
	repo := &fakehub.Repo{ID: "acme/tiny-coder", Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["LlamaForCausalLM"]}`)},
		{Path: "tokenizer.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(50_000, 7), LFS: true},
	}}
	srv, err := fakehub.New(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	hub := filepath.Join(t.TempDir(), "hub")
	p := Prepared{Weights: &weights.Env{Endpoint: srv.URL, HubCache: hub}}
	d := config.Deployment{Models: []config.Model{{HFRepo: "acme/tiny-coder"}}}
	var reports int
	if err := EnsureWeights(context.Background(), p, d, cat, func(weights.Progress) { reports++ }); err != nil {
		t.Fatal(err)
	}
	snap, _ := filepath.Glob(filepath.Join(hub, "models--acme--tiny-coder", "snapshots", "*", "model.safetensors"))
	if len(snap) != 1 {
		t.Fatalf("no snapshot file in %s", hub)
	}
	if fi, err := os.Stat(snap[0]); err != nil || fi.Size() != int64(len(repo.Files[2].Data)) {
		t.Fatalf("snapshot file %v, %v", fi, err)
	}
	before := len(srv.ContentRequests(".safetensors"))
	if err := EnsureWeights(context.Background(), p, d, cat, nil); err != nil {
		t.Fatal(err)
	}
	if after := len(srv.ContentRequests(".safetensors")); after != before {
		t.Fatalf("second EnsureWeights downloaded again (%d → %d requests)", before, after)
	}
	if reports == 0 {
		t.Fatal("no progress reported")
	}
}

func TestEnsureWeightsSkipsWhenTheModelServerDownloads(t *testing.T) {
	d := config.Deployment{Models: []config.Model{{HFRepo: "acme/unreachable"}}}
	if err := EnsureWeights(context.Background(), Prepared{}, d, bundlesCatalog(t), nil); err != nil {
		t.Fatalf("CPU mode (no weights env) must not download: %v", err)
	}
}

func TestPrepareMountsTheHubCacheInGPUMode(t *testing.T) {
	dirs := testDirs(t)
	t.Setenv("HF_HUB_CACHE", filepath.Join(t.TempDir(), "hub"))
	d := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"}, Host: "gpu-box.example.com", Mode: config.ModeGPU,
		Models: []config.Model{{HFRepo: "openai/gpt-oss-20b"}}, Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v18.5.0-ee"}}, LogDir: t.TempDir()}.WithDefaults()
	p, err := PrepareReadOnly(d, dirs, bundlesCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.Weights == nil || p.Weights.HubCache != os.Getenv("HF_HUB_CACHE") {
		t.Fatalf("weights env %+v", p.Weights)
	}
	model := p.Spec.Containers[0]
	var bound bool
	for _, m := range model.Mounts {
		bound = bound || (m.Type == "bind" && m.Source == p.Weights.HubCache && strings.HasSuffix(m.Target, "/hub"))
	}
	if !bound || !strings.Contains(strings.Join(model.Env, " "), "HF_HUB_OFFLINE=1") {
		t.Fatalf("model container mounts %+v env %v", model.Mounts, model.Env)
	}
}

func testDirs(t *testing.T) paths.Dirs {
	root := t.TempDir()
	d := paths.Dirs{Config: filepath.Join(root, "config"), Data: filepath.Join(root, "data"), State: filepath.Join(root, "state"), Cache: filepath.Join(root, "cache")}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
	return d
}

func bundlesCatalog(t *testing.T) catalog.Catalog {
	c, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPrepareRefusesAFileThatIsNotADocsIndex(t *testing.T) {
	bogus := filepath.Join(t.TempDir(), "docs.db")
	os.WriteFile(bogus, []byte("not sqlite"), 0o644)
	d := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "17.2"}, Host: "gpu-box.example.com", Mode: config.ModeCPU,
		Models: []config.Model{{HFRepo: "google/codegemma-2b"}}, Gateway: config.Gateway{PublishAll: true, Image: config.Image{Tag: "gitlab-v17.2.0"}},
		LogDir: t.TempDir(), DocsIndex: bogus}.WithDefaults()
	if _, err := Prepare(d, testDirs(t), bundlesCatalog(t)); err == nil || !strings.Contains(err.Error(), bogus) {
		t.Fatalf("err = %v, want a refusal naming %s", err, bogus)
	}
}
