package docker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

func uniqueName(t *testing.T) string {
	return fmt.Sprintf("dbt-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), time.Now().UnixNano()%1e6)
}

func TestPullFromTestBedRegistryReportsLayerProgress(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ctx := context.Background()
	ref := bed.PushUnique(t, testbed.ModelServer, "progress", 256<<10) // a layer no engine has yet
	var events []engine.LayerEvent
	if err := eng.Pull(ctx, ref, "", func(ev engine.LayerEvent) { events = append(events, ev) }); err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	img, err := eng.Image(ctx, ref)
	if err != nil {
		t.Fatalf("image after pull: %v", err)
	}
	if img.OS != "linux" || len(img.RepoDigests) == 0 {
		t.Errorf("image = %+v, want linux with a repo digest", img)
	}
	var sawLayer bool
	for _, ev := range events {
		if ev.Layer != "" && ev.Status == "Pull complete" {
			sawLayer = true
		}
	}
	if !sawLayer {
		t.Errorf("no per-layer completion event in %+v", events)
	}
}

func TestPullNonexistentTagIsEnvironment(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	err := eng.Pull(context.Background(), bed.Ref(testbed.Gateway, "self-hosted-v99.9.9-ee"), "", nil)
	var p *app.Problem
	if !errors.As(err, &p) || p.Kind != app.KindEnvironment || !strings.Contains(p.What, "does not exist") {
		t.Fatalf("want environment 'does not exist', got %v", err)
	}
}

func TestPullForeignPlatformIndexIsExplained(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	foreign := "arm64"
	if eng.Probe(context.Background()).Arch == "aarch64" {
		foreign = "amd64"
	}
	ref := bed.PushForeignPlatform(t, testbed.Gateway, "foreign", foreign)
	err := eng.Pull(context.Background(), ref, "", nil)
	if !errors.Is(err, engine.ErrPlatform) {
		t.Fatalf("want ErrPlatform, got %v", err)
	}
}

func TestPullRegistryDropsConnectionMidPull(t *testing.T) {
	eng := testbed.Engine(t)
	eng.PullRetryLimit = 1
	bed := testbed.Start(t)
	ref := bed.PushUnique(t, testbed.Gateway, "dropped", 1<<20)
	bed.DropBlobs(true)
	err := eng.Pull(context.Background(), ref, "", nil)
	wantPullClass(t, err, engine.PullInterrupted, "dropped the connection in the middle of a download and DuoBox gave up on layer")
}

func TestRemoveRefusesUnlabelledObject(t *testing.T) {
	eng := testbed.Engine(t)
	name := uniqueName(t)
	ctx := context.Background()
	// A network created without DuoBox's label (as a user would).
	n := stack.Network{Name: name, Labels: map[string]string{"owner": "someone-else"}}
	if err := eng.CreateNetwork(ctx, n); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.API.NetworkRemove(context.Background(), name, clientNetworkRemoveOptions()) })
	o, err := eng.Lookup(ctx, engine.KindNetwork, name)
	if err != nil {
		t.Fatal(err)
	}
	err = eng.Remove(ctx, o)
	if !errors.Is(err, app.ErrNotManaged) {
		t.Fatalf("Remove(unlabelled) = %v, want ErrNotManaged", err)
	}
	if _, err := eng.Lookup(ctx, engine.KindNetwork, name); err != nil {
		t.Fatalf("network gone after refused remove: %v", err)
	}
}
