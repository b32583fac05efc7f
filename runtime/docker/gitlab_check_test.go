package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/stack"
)

// engineForTest connects to the real engine; it skips when none answers,
// except under CI where that is a failure. It is testbed.Engine for this
// package's own tests (testbed imports this package), -short skip included.
func engineForTest(t *testing.T) *Engine {
	t.Helper()
	skipShort(t)
	e, err := Connect()
	if err == nil {
		err = e.Ping(context.Background())
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI is set but no Docker engine answers: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// skipShort is testbed.SkipShort for this package's own tests: an engine
// test skips under -short (make test-fast), never when CI is set.
func skipShort(t *testing.T) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("engine test: skipped under -short (make test-fast); make test-engine runs it")
	}
}

// buildFakeHTTPImage builds a scratch image holding testdata/fakehttp as
// /fakehttp (a GitLab-like OpenID server) and as /usr/bin/curl.
func buildFakeHTTPImage(t *testing.T, e *Engine, tag string, labels map[string]string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fakehttp")
	build := exec.Command("go", "build", "-o", bin, "./testdata/fakehttp")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build fakehttp: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, body := range map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY fakehttp /fakehttp\nCOPY fakehttp /usr/bin/curl\nENTRYPOINT [\"/fakehttp\"]\n"),
		"fakehttp":   data,
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := e.API.ImageBuild(context.Background(), &ctxTar, client.ImageBuildOptions{Tags: []string{tag}, Labels: labels, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("image build: %v", err)
	}
	out, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(out, []byte(`"error"`)) {
		t.Fatalf("image build: %s", out)
	}
	t.Cleanup(func() {
		_, _ = e.API.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
}

func runContainer(t *testing.T, e *Engine, name, img, netName string, labels map[string]string) string {
	t.Helper()
	ctx := context.Background()
	c, err := e.API.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:             name,
		Config:           &container.Config{Image: img, Labels: labels},
		HostConfig:       &container.HostConfig{NetworkMode: container.NetworkMode(netName)},
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{netName: {}}},
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = e.API.ContainerRemove(context.Background(), c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	})
	if _, err := e.API.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return c.ID
}

// TestContainerFetcher_OIDCCheckFromInsideTheGatewayNetwork runs a
// GitLab-like OpenID server and a gateway stand-in on a test network, and
// checks GitLab's discovery from inside the stand-in, by container name, the
// way the gateway reaches GitLab.
func TestContainerFetcher_OIDCCheckFromInsideTheGatewayNetwork(t *testing.T) {
	e := engineForTest(t)
	ctx := context.Background()
	stackName := fmt.Sprintf("duobox-test-glcheck-%d", time.Now().UnixNano())
	labels := func(role string) map[string]string {
		return map[string]string{stack.LabelManaged: "true", stack.LabelStack: stackName, stack.LabelRole: role}
	}
	img := stackName + ":test"
	buildFakeHTTPImage(t, e, img, labels("test-image"))
	net, err := e.API.NetworkCreate(ctx, stackName, client.NetworkCreateOptions{Driver: "bridge", Labels: labels(stack.RoleNetwork)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.API.NetworkRemove(context.Background(), net.ID, client.NetworkRemoveOptions{}) })
	runContainer(t, e, stackName+"-gitlab", img, stackName, labels("test-gitlab"))
	runContainer(t, e, stackName+"-gateway", img, stackName, labels(stack.RoleGateway))

	f, err := e.FindGateway(ctx, stackName)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != stackName+"-gateway" {
		t.Fatalf("found %q", f.Name)
	}
	gl, err := gitlab.ParseURL("http://" + stackName + "-gitlab:8080/")
	if err != nil {
		t.Fatal(err)
	}
	var res gitlab.OIDCCheck
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		if res = gitlab.CheckOIDC(ctx, f, gl); res.OK {
			break
		}
	}
	if !res.OK || res.Keys != 1 || !strings.HasPrefix(res.From, "inside the gateway container") {
		t.Fatalf("check from inside: %+v", res)
	}
	// From this machine the container name does not resolve: the two vantage points differ.
	if host := gitlab.CheckOIDC(ctx, gitlab.HostFetcher{}, gl); host.OK {
		t.Errorf("the container name resolved on the host: %+v", host)
	}
	bad, _ := gitlab.ParseURL("http://" + stackName + "-nothing:8080")
	if r := gitlab.CheckOIDC(ctx, f, bad); r.OK || !strings.Contains(r.Problem, "curl in the container failed") {
		t.Errorf("unreachable GitLab from inside: %+v", r)
	}
}

func TestContainerFetcher_RefusesUnlabelledContainer(t *testing.T) {
	e := engineForTest(t)
	stackName := fmt.Sprintf("duobox-test-glunlab-%d", time.Now().UnixNano())
	img := stackName + ":test"
	buildFakeHTTPImage(t, e, img, map[string]string{stack.LabelManaged: "true", stack.LabelStack: stackName})
	// The container itself lacks io.duobox.managed: DuoBox must not exec in it.
	id := runContainer(t, e, stackName+"-foreign", img, "bridge", map[string]string{stack.LabelManaged: "false", stack.LabelStack: stackName})
	_, _, err := ContainerFetcher{Engine: e, Container: id, Name: "foreign"}.Fetch(context.Background(), "http://example.invalid/")
	if !errors.Is(err, app.ErrNotManaged) {
		t.Fatalf("got %v, want ErrNotManaged", err)
	}
	if _, err := e.FindGateway(context.Background(), stackName); app.KindOf(err) != app.KindNotReady {
		t.Errorf("no gateway in stack: %v", err)
	}
}
