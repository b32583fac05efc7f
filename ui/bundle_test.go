package ui

import (
	"context"
	"errors"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
)

func TestBundle_FakeServices_LoadShowsProgressAndWhatWasDone(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	var gotFile string
	b.svc.LoadBundle = func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.LoadResult, error) {
		gotFile = file
		on(bundle.Progress{Phase: bundle.PhaseVerify, Item: file, Done: 50, Total: 100, BytesPerSec: 1e8})
		return bundle.LoadResult{File: file, GitLabVersion: "18.5", Changed: true, ConfigUpdated: true, WeightsRepo: "acme/tiny", Weights: "imported",
			Images: []bundle.ImageAction{{Ref: "gw:v1", Action: "loaded"}, {Ref: "ms:v1", Action: "present"}}}, nil
	}
	u := b.open()
	selectTab(u, TabDeploy)
	p := u.Deploy.Bundle
	test.Type(p.Path, "/media/usb/offline.bundle")
	test.Tap(p.Load)
	u.Wait()
	if gotFile != "/media/usb/offline.bundle" {
		t.Errorf("loaded %q", gotFile)
	}
	if !strings.HasPrefix(p.State.Text, "✓ Loaded /media/usb/offline.bundle for GitLab 18.5") || !strings.Contains(p.State.Text, "loaded gw:v1") ||
		!strings.Contains(p.State.Text, "Press Deploy") || p.Progress.Value != 1 || p.Load.Disabled() {
		t.Errorf("after load: %q %.2f", p.State.Text, p.Progress.Value)
	}
}

func TestBundle_FakeServices_PrepareRefusalShowsTheFix(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.CreateBundle = func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.CreateResult, error) {
		on(bundle.Progress{Phase: bundle.PhaseImage, Item: "gw:v1", Done: 10, Total: 100})
		return bundle.CreateResult{}, app.Environment(errors.New("dial tcp"), "run it on a machine with internet", "cannot list the gateway's tags")
	}
	u := b.open()
	selectTab(u, TabDeploy)
	p := u.Deploy.Bundle
	test.Type(p.Path, "/tmp/x.bundle")
	test.Tap(p.Prepare)
	u.Wait()
	if !strings.Contains(p.State.Text, "Problem: cannot list the gateway's tags\nFix: run it on a machine with internet") || p.Prepare.Disabled() {
		t.Errorf("after a refused prepare: %q", p.State.Text)
	}
}

func TestBundle_FakeEngine_APullFailureOffersLoadABundle(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	b.svc.LoadBundle = func(context.Context, string, func(bundle.Progress)) (bundle.LoadResult, error) {
		return bundle.LoadResult{}, nil
	}
	b.svc.Up = func(ctx context.Context, on func(deploy.Event)) error {
		pf := &engine.PullFailure{Class: engine.PullDNS, Image: "vllm/vllm-openai:v0.18.1", Registry: "index.docker.io", Err: errors.New("no such host")}
		return &app.Problem{Kind: app.KindEnvironment, What: "the name index.docker.io does not resolve", Fix: "check DNS", Err: pf}
	}
	u := b.open()
	selectTab(u, TabDeploy)
	test.Tap(u.Deploy.Start)
	u.Wait()
	p := u.Deploy.Bundle
	if !strings.Contains(u.Deploy.Result.Text, "Load a bundle…") || p.Load.Importance != widget.HighImportance ||
		!strings.Contains(p.State.Text, "cannot pull vllm/vllm-openai:v0.18.1") {
		t.Errorf("after a DNS pull failure: %q / %q", u.Deploy.Result.Text, p.State.Text)
	}
}
