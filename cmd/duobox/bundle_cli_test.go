package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/weights"
	"github.com/duobox/duobox/app/weights/fakehub"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestBundleOffline_TestBedAndFakeHubServer_CreateCutRegistriesLoadUpTest
// makes a bundle from the test bed's registry and the stand-in hub, removes
// the images from the engine, cuts every registry and the hub (their
// addresses stop answering), loads the bundle, and runs 'duobox up' and
// 'duobox test' green; a second load changes nothing.
func TestBundleOffline_TestBedAndFakeHubServer_CreateCutRegistriesLoadUpTest(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	repo := fmt.Sprintf("acme/offline-%d", time.Now().UnixNano()%1e9)
	hub, err := fakehub.New(&fakehub.Repo{ID: repo, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["LlamaForCausalLM"]}`)},
		{Path: "tokenizer_config.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(1<<20, 3), LFS: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Close)
	bed.Push(t, testbed.Gateway, "self-hosted-v18.5.1-ee") // the release the tag rule picks for GitLab 18.5
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	t.Setenv("HF_ENDPOINT", hub.URL)
	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "online-hub"))
	file := filepath.Join(t.TempDir(), "duobox-18.5.bundle")

	// The online half.
	code, out, errOut := runCLI(t, "bundle", "create", "--gitlab-version", "18.5", "--model", repo, "--mode", "cpu",
		"--gateway-image", bed.Repository(testbed.Gateway), "--model-server-image", bed.Ref(testbed.ModelServer, "v1"), "-o", file, "--json")
	if code != 0 {
		t.Fatalf("bundle create: exit %d: %s", code, errOut)
	}
	var created struct {
		Manifest struct {
			Images []struct{ Role, Tag string }
		}
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || len(created.Manifest.Images) != 2 {
		t.Fatalf("bundle create --json: %v: %s", err, out)
	}
	gwTag := created.Manifest.Images[0].Tag
	if gwTag != "self-hosted-v18.5.1-ee" {
		t.Fatalf("no gateway tag chosen: %s", out)
	}

	// The air-gapped machine: no images, no registry, no hub.
	if err := eng.RemoveImagesByRepository(context.Background(), bed.Registry+"/duobox-test/", nil); err != nil {
		t.Fatal(err)
	}
	bed.Close()
	hub.Close()
	t.Setenv("HF_ENDPOINT", "http://127.0.0.1:9")
	t.Setenv("HF_HUB_CACHE", filepath.Join(home, "offline-hub"))
	name := fmt.Sprintf("dbt-bundle-%d", time.Now().UnixNano()%1e9)
	cfg := bed.StackConfig(t, name, home, "v0", "v0")
	cfg.Models = []config.Model{{HFRepo: repo, ServedName: "tiny", MaxModelLen: 4096}}
	cfgPath := filepath.Join(home, "config", "deployment.yaml")
	if err := config.Save(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "bundle", "inspect", file, "--json")
	if code != 0 || !strings.Contains(out, `"can_run": true`) {
		t.Fatalf("bundle inspect: exit %d: %s %s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "bundle", "load", file)
	if code != 0 {
		t.Fatalf("bundle load: exit %d: %s %s", code, out, errOut)
	}
	t.Cleanup(func() {
		if code, _, errOut := runCLI(t, "down", "--volumes"); code != 0 {
			t.Errorf("down: exit %d: %s", code, errOut)
		}
	})
	loaded, err := config.Load(cfgPath)
	if err != nil || loaded.Gateway.Image.Tag != gwTag || loaded.ModelServer.Tag != "v1" {
		t.Fatalf("the config does not name the bundle's images after load: %+v %v", loaded.Gateway.Image, err)
	}
	if _, ok := weights.Cached(filepath.Join(home, "offline-hub"), weights.Target{Repo: repo}); !ok {
		t.Fatalf("the weights are not in the hub cache after load")
	}
	code, out, errOut = runCLI(t, "bundle", "load", file, "--json")
	if code != 0 || !strings.Contains(out, `"changed": false`) {
		t.Fatalf("second load: exit %d: %s %s", code, out, errOut)
	}

	if code, _, errOut := runCLI(t, "up", "--timeout", "2m"); code != 0 {
		t.Fatalf("up with no registry: exit %d: %s", code, errOut)
	}
	code, out, errOut = runCLI(t, "test", "--json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("test with no registry: exit %d: %s %s", code, out, errOut)
	}
	// The recorded tags answer 'upgrade --check' with the registry gone.
	code, out, errOut = runCLI(t, "upgrade", "--check", "--json")
	if code != 0 || !strings.Contains(out, `"self-hosted-v18.5.1-ee"`) || !strings.Contains(out, `"up_to_date": true`) {
		t.Fatalf("upgrade --check offline: exit %d: %s %s", code, out, errOut)
	}
}
