package bundle_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/weights"
	"github.com/duobox/duobox/app/weights/fakehub"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/testbed"
)

// TinyRepo is a small model repository for the stand-in hub.
func tinyRepo(id string, weightBytes int) *fakehub.Repo {
	return &fakehub.Repo{ID: id, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["LlamaForCausalLM"]}`)},
		{Path: "tokenizer_config.json", Data: []byte(`{}`)},
		{Path: "generation_config.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(weightBytes, 7), LFS: true},
		{Path: "README.md", Data: []byte("# tiny")},
	}}
}

type fixture struct {
	bed  *testbed.Bed
	eng  *docker.Engine
	hub  *fakehub.Server
	repo string
	file string // a bundle made from the test bed and the stand-in hub
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	repo := fmt.Sprintf("acme/tiny-%d", os.Getpid())
	hub, err := fakehub.New(tinyRepo(repo, 2<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	fx := &fixture{bed: bed, eng: eng, hub: hub, repo: repo}
	fx.file = fx.create(t, "linux/amd64", "v1", "v1")
	return fx
}

func (fx *fixture) create(t *testing.T, platform, gwTag, msTag string) string {
	t.Helper()
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "offline.duobox")
	var phases []string
	res, err := bundle.Create(context.Background(), bundle.CreateOptions{
		GitLabVersion: "18.5", Model: fx.repo, Mode: config.ModeCPU, Platform: platform,
		GatewayImage: fx.bed.Ref(testbed.Gateway, gwTag), ModelServerImage: fx.bed.Ref(testbed.ModelServer, msTag),
		Catalog: cat, CatalogYAML: []byte("models: []\n"),
		Weights: weights.Env{Endpoint: fx.hub.URL, HubCache: filepath.Join(t.TempDir(), "own-cache")},
		Output:  out,
	}, func(p bundle.Progress) {
		if p.Finished {
			phases = append(phases, p.Phase)
		}
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(out + ".parts"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the work folder is left after a complete create: %v", err)
	}
	if len(res.Manifest.Images) != 2 || res.Manifest.Model == nil || res.Manifest.GitLabVersion != "18.5" {
		t.Fatalf("manifest %+v", res.Manifest)
	}
	if !strings.Contains(strings.Join(phases, ","), "image,image,weights,write") {
		t.Errorf("progress phases %v", phases)
	}
	return out
}

func (fx *fixture) loadOptions(t *testing.T) bundle.LoadOptions {
	d := t.TempDir()
	return bundle.LoadOptions{Engine: fx.eng, HubCache: filepath.Join(d, "hub"), DataDir: filepath.Join(d, "data")}
}

func (fx *fixture) removeImages(t *testing.T) {
	t.Helper()
	if err := fx.eng.RemoveImagesByRepository(context.Background(), fx.bed.Registry+"/duobox-test/", nil); err != nil {
		t.Fatal(err)
	}
}

// assertUntouched checks a refused load left no image, weights, record or staging folder.
func (fx *fixture) assertUntouched(t *testing.T, o bundle.LoadOptions) {
	t.Helper()
	for _, k := range []testbed.Kind{testbed.Gateway, testbed.ModelServer} {
		if _, err := fx.eng.Image(context.Background(), fx.bed.Ref(k, "v1")); !errors.Is(err, app.ErrNotFound) {
			t.Errorf("image %s is in the engine after a refused load (%v)", k, err)
		}
	}
	for _, dir := range []string{o.HubCache, o.DataDir} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			t.Errorf("%s holds %s after a refused load", dir, e.Name())
		}
	}
}

func TestBundle_TestBedAndFakeHubServer_CreateInspectLoadTwice(t *testing.T) {
	fx := newFixture(t)
	fx.removeImages(t)
	ins, err := bundle.Inspect(fx.file, bundle.InspectInput{Machine: machineOf(t, fx.eng), GitLabVersion: "18.5.2"})
	if err != nil || !ins.CanRun || ins.Manifest.Mode != config.ModeCPU || ins.Bytes < 2<<20 {
		t.Fatalf("inspect: %+v %v", ins, err)
	}
	// Other versions and platforms say why not.
	other, _ := bundle.Inspect(fx.file, bundle.InspectInput{Machine: machineOf(t, fx.eng), GitLabVersion: "18.4"})
	if other.CanRun {
		t.Errorf("a bundle for 18.5 runs on an 18.4 deployment: %+v", other.Checks)
	}

	o := fx.loadOptions(t)
	res, err := bundle.Load(context.Background(), o, fx.file, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !res.Changed || res.Weights != "imported" || len(res.Images) != 2 || res.Images[0].Action != "loaded" {
		t.Fatalf("first load: %+v", res)
	}
	m := ins.Manifest
	for _, img := range m.Images {
		info, err := fx.eng.Image(context.Background(), img.Ref())
		if err != nil || info.ID != img.ID {
			t.Errorf("%s in the engine: %+v %v, want ID %s", img.Ref(), info, err, img.ID)
		}
	}
	got, ok := weights.Cached(o.HubCache, weights.Target{Repo: fx.repo})
	if !ok || got.Commit != m.Model.Commit {
		t.Fatalf("weights not complete in the hub cache after load: %+v", got)
	}
	if tags, ok := bundle.RecordedTags(o.DataDir, fx.bed.Repository(testbed.Gateway)); !ok || !strings.Contains(strings.Join(tags, " "), "v2") {
		t.Errorf("recorded tags %v %v", tags, ok)
	}
	entries, _ := os.ReadDir(o.HubCache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".duobox-bundle") {
			t.Errorf("staging folder %s left in the hub cache", e.Name())
		}
	}

	again, err := bundle.Load(context.Background(), o, fx.file, nil)
	if err != nil || again.Changed || again.Weights != "present" || again.Images[0].Action != "present" || again.Images[1].Action != "present" {
		t.Fatalf("second load changed something: %+v %v", again, err)
	}
}

func TestBundle_TestBedAndFakeHubServer_DamagedBundlesAreRefusedAndNothingIsLoaded(t *testing.T) {
	fx := newFixture(t)
	fx.removeImages(t)
	data, err := os.ReadFile(fx.file)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	truncated := filepath.Join(dir, "truncated.duobox")
	os.WriteFile(truncated, data[:len(data)/2], 0o644)
	corrupt := filepath.Join(dir, "corrupt.duobox")
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 0xff // inside an image layer or the weights
	os.WriteFile(corrupt, bad, 0o644)
	notTar := filepath.Join(dir, "notes.txt")
	os.WriteFile(notTar, []byte("hello"), 0o644)
	for _, c := range []struct{ file, want string }{
		{truncated, "cut short"},
		{corrupt, "does not match its checksum"},
		{notTar, "not a complete DuoBox bundle"},
	} {
		o := fx.loadOptions(t)
		_, err := bundle.Load(context.Background(), o, c.file, nil)
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(fmt.Sprint(err), c.want) {
			t.Errorf("%s: error %v, want bad input saying %q", filepath.Base(c.file), err, c.want)
		}
		fx.assertUntouched(t, o)
	}
}

// countingEngine is the real engine, counting the image loads it completed.
type countingEngine struct {
	*docker.Engine
	loaded atomic.Int32
}

func (e *countingEngine) LoadImageArchive(ctx context.Context, archive io.Reader) error {
	err := e.Engine.LoadImageArchive(ctx, archive)
	if err == nil {
		e.loaded.Add(1)
	}
	return err
}

// entryAt returns where an entry's contents are in a bundle file.
func entryAt(t *testing.T, file, name string) (offset, size int64) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no entry %s: %v", file, name, err)
		}
		if hdr.Name == name {
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				t.Fatal(err)
			}
			return off, hdr.Size
		}
	}
}

// The images are streamed into the engine while the rest of the bundle is
// read: a checksum that fails after an image was loaded removes it again.
func TestBundle_TestBedAndFakeHubServer_AChecksumFailingAfterAnImageWasLoadedLeavesNoImage(t *testing.T) {
	fx := newFixture(t)
	fx.removeImages(t)
	data, err := os.ReadFile(fx.file)
	if err != nil {
		t.Fatal(err)
	}
	m, err := bundle.OpenManifest(fx.file)
	if err != nil {
		t.Fatal(err)
	}
	ms, _ := m.Image(bundle.RoleModel)
	var blob string
	for _, f := range m.Files {
		if strings.HasPrefix(f.Name, m.Model.Dir+"/blobs/") && f.Size > 1<<20 {
			blob = f.Name
		}
	}
	for _, c := range []struct {
		name   string
		entry  string
		at     func(size int64) int64
		loaded int32 // image loads that completed before the failure (-1: either)
	}{
		// The gateway's archive is loaded first; the model server's last byte
		// is damaged, so the failure comes after the gateway is in the engine.
		{"last byte of the second image", ms.File, func(size int64) int64 { return size - 1 }, 1},
		{"middle of the second image", ms.File, func(size int64) int64 { return size / 2 }, 1},
		// The weights are read while the images load.
		{"a weight blob", blob, func(size int64) int64 { return size / 2 }, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			off, size := entryAt(t, fx.file, c.entry)
			bad := append([]byte(nil), data...)
			bad[off+c.at(size)] ^= 0xff
			file := filepath.Join(t.TempDir(), "damaged.duobox")
			if err := os.WriteFile(file, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			o := fx.loadOptions(t)
			eng := &countingEngine{Engine: fx.eng}
			o.Engine = eng
			_, err := bundle.Load(context.Background(), o, file, nil)
			if app.KindOf(err) != app.KindBadInput || !strings.Contains(fmt.Sprint(err), "entry "+c.entry+" does not match its checksum") {
				t.Fatalf("error %v, want bad input naming %s's checksum", err, c.entry)
			}
			if got := eng.loaded.Load(); c.loaded >= 0 && got != c.loaded {
				t.Errorf("%d image loads completed before the failure, want %d", got, c.loaded)
			}
			fx.assertUntouched(t, o)
		})
	}
}

func TestBundle_TestBedAndFakeHubServer_OtherGitLabVersionOrPlatformIsRefused(t *testing.T) {
	fx := newFixture(t)
	fx.removeImages(t)
	o := fx.loadOptions(t)
	o.ConfigPath = filepath.Join(t.TempDir(), "deployment.yaml")
	cfg := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.4"}, Host: "gitlab-box.example.com",
		Mode: config.ModeCPU, Models: []config.Model{{HFRepo: fx.repo, MaxModelLen: 4096}},
		Gateway: config.Gateway{Image: config.Image{Repository: fx.bed.Repository(testbed.Gateway), Tag: "v0"}}}.WithDefaults()
	if err := config.Save(o.ConfigPath, cfg); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(o.ConfigPath)
	_, err := bundle.Load(context.Background(), o, fx.file, nil)
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(fmt.Sprint(err), "is for GitLab 18.5; this deployment serves GitLab 18.4") {
		t.Fatalf("error %v, want a refusal naming both versions", err)
	}
	if after, _ := os.ReadFile(o.ConfigPath); string(after) != string(before) {
		t.Errorf("the config changed after a refused load")
	}
	fx.assertUntouched(t, o)

	// A bundle for arm64 on this (amd64) engine.
	foreignArch := "arm64"
	if machineOf(t, fx.eng).Engine.Arch == "aarch64" {
		foreignArch = "amd64"
	}
	fx.bed.PushForeignPlatform(t, testbed.Gateway, "foreign", foreignArch)
	fx.bed.PushForeignPlatform(t, testbed.ModelServer, "foreign", foreignArch)
	foreign := fx.create(t, "linux/"+foreignArch, "foreign", "foreign")
	o = fx.loadOptions(t)
	_, err = bundle.Load(context.Background(), o, foreign, nil)
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(fmt.Sprint(err), "holds images for linux/"+foreignArch) {
		t.Fatalf("error %v, want a refusal naming the platform", err)
	}
	fx.assertUntouched(t, o)
}

func TestBundle_TestBedAndFakeHubServer_DiskFillingDuringLoadLeavesNothing(t *testing.T) {
	fx := newFixture(t)
	fx.removeImages(t)
	small := mountTmpfs(t, "1m") // the weights are 2 MiB
	o := fx.loadOptions(t)
	o.HubCache = filepath.Join(small, "hub")
	// Refused up front when the space is known to be short.
	_, err := bundle.Load(context.Background(), o, fx.file, nil)
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(fmt.Sprint(err), "not enough disk space") {
		t.Fatalf("error %v, want a refusal for disk space", err)
	}
	fx.assertUntouched(t, o)
	// A disk that fills while the load runs (the free space was misread).
	o.FreeDisk = func(string) (uint64, error) { return 1 << 40, nil }
	_, err = bundle.Load(context.Background(), o, fx.file, nil)
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(fmt.Sprint(err), "disk filled") {
		t.Fatalf("error %v, want the disk-full refusal", err)
	}
	fx.assertUntouched(t, o)
}

func TestBundle_TestBedAndFakeHubServer_AnInterruptedCreateResumes(t *testing.T) {
	testbed.Engine(t)
	bed := testbed.Start(t)
	repo := fmt.Sprintf("acme/resume-%d", os.Getpid())
	hub, err := fakehub.New(tinyRepo(repo, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "resume.duobox")
	o := bundle.CreateOptions{GitLabVersion: "18.5", Model: repo, Mode: config.ModeCPU,
		GatewayImage: bed.Ref(testbed.Gateway, "v1"), ModelServerImage: bed.Ref(testbed.ModelServer, "missing"),
		Catalog: cat, Weights: weights.Env{Endpoint: hub.URL, HubCache: filepath.Join(t.TempDir(), "cache")}, Output: out}
	// The first run stops at the model server image (not in the registry).
	if _, err := bundle.Create(context.Background(), o, nil); app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "cannot fetch") {
		t.Fatalf("first run: %v, want it to stop at the missing image", err)
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an interrupted create left %s: %v", out, err)
	}
	o.ModelServerImage = bed.Ref(testbed.ModelServer, "v1")
	res, err := bundle.Create(context.Background(), o, nil)
	if err != nil {
		t.Fatalf("second run: %v", err)
	}
	if got := strings.Join(res.Reused, ","); !strings.Contains(got, "gateway tags") || !strings.Contains(got, bed.Ref(testbed.Gateway, "v1")) {
		t.Errorf("the second run fetched again what the first had: reused %v", res.Reused)
	}
	if m, err := bundle.OpenManifest(out); err != nil || len(m.Images) != 2 {
		t.Fatalf("resumed bundle: %+v %v", m, err)
	}
}

func TestBundle_TestBedAndFakeHubServer_GitLab17_3BringsItsDocsIndex(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	repo := fmt.Sprintf("acme/docs-%d", os.Getpid())
	hub, err := fakehub.New(tinyRepo(repo, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "doc")
	os.MkdirAll(filepath.Join(src, "user"), 0o755)
	os.WriteFile(filepath.Join(src, "user", "index.md"), []byte("---\ntitle: Getting started\n---\n\n# Getting started\n\nCreate a project, then push.\n"), 0o644)
	docs := filepath.Join(t.TempDir(), "docs.db")
	if _, err := docsindex.Make(context.Background(), docsindex.Request{From: src, Output: docs}); err != nil {
		t.Fatalf("build a docs index: %v", err)
	}
	out := filepath.Join(t.TempDir(), "17.3.duobox")
	if _, err := bundle.Create(context.Background(), bundle.CreateOptions{GitLabVersion: "17.3", Model: repo, Mode: config.ModeCPU,
		GatewayImage: bed.Ref(testbed.Gateway, "v1"), ModelServerImage: bed.Ref(testbed.ModelServer, "v1"), DocsIndex: docs,
		Catalog: cat, Weights: weights.Env{Endpoint: hub.URL, HubCache: filepath.Join(t.TempDir(), "cache")}, Output: out}, nil); err != nil {
		t.Fatalf("create: %v", err)
	}
	m, err := bundle.OpenManifest(out)
	if err != nil || m.DocsIndex == "" {
		t.Fatalf("a 17.3 bundle without its docs index: %+v %v", m, err)
	}
	if err := eng.RemoveImagesByRepository(context.Background(), bed.Registry+"/duobox-test/", nil); err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	o := bundle.LoadOptions{Engine: eng, HubCache: filepath.Join(d, "hub"), DataDir: filepath.Join(d, "data"), ConfigPath: filepath.Join(d, "deployment.yaml")}
	cfg := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "17.3"}, Host: "gitlab-box.example.com",
		Mode: config.ModeCPU, Models: []config.Model{{HFRepo: repo, MaxModelLen: 4096}},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "v0"}}}.WithDefaults()
	if err := config.Save(o.ConfigPath, cfg); err != nil {
		t.Fatal(err)
	}
	res, err := bundle.Load(context.Background(), o, out, nil)
	if err != nil || res.DocsIndex == "" {
		t.Fatalf("load: %+v %v", res, err)
	}
	got, err := config.Load(o.ConfigPath)
	if err != nil || got.DocsIndex != res.DocsIndex || got.Gateway.Image.Tag != "v1" {
		t.Fatalf("config after load: docs_index %q tag %q (%v), want %q v1", got.DocsIndex, got.Gateway.Image.Tag, err, res.DocsIndex)
	}
	if _, err := docsindex.Inspect(res.DocsIndex); err != nil {
		t.Fatalf("the recorded docs index: %v", err)
	}
}
