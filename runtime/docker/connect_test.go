package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
)

func TestResolveEndpointFollowsDockerContext(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("DOCKER_HOST", "")
	t.Setenv("DOCKER_CONTEXT", "")
	t.Setenv("DOCKER_CONFIG", cfg)
	os.WriteFile(filepath.Join(cfg, "config.json"), []byte(`{"currentContext":"remote-gpu"}`), 0o600)
	sum := sha256.Sum256([]byte("remote-gpu"))
	meta := filepath.Join(cfg, "contexts", "meta", hex.EncodeToString(sum[:]))
	os.MkdirAll(meta, 0o700)
	os.WriteFile(filepath.Join(meta, "meta.json"), []byte(`{"Name":"remote-gpu","Endpoints":{"docker":{"Host":"tcp://gpu-box:2376"}}}`), 0o600)

	host, name, err := resolveEndpoint()
	if err != nil || host != "tcp://gpu-box:2376" || name != "remote-gpu" {
		t.Fatalf("got %q %q %v", host, name, err)
	}
	t.Setenv("DOCKER_CONTEXT", "missing")
	if _, _, err := resolveEndpoint(); err == nil || !strings.Contains(err.Error(), "docker context ls") {
		t.Fatalf("a missing context must say how to fix it, got %v", err)
	}
	t.Setenv("DOCKER_HOST", "unix:///elsewhere.sock")
	if host, _, err := resolveEndpoint(); err != nil || host != "" {
		t.Fatalf("DOCKER_HOST must win over contexts: %q %v", host, err)
	}
}

func TestExplainConnectErrorGivesAFix(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{errors.New("dial unix /var/run/docker.sock: connect: permission denied"), "docker group"},
		{errors.New("dial unix /var/run/docker.sock: connect: no such file or directory"), "start Docker"},
		{context.DeadlineExceeded, "did not answer in time"},
	} {
		p := explainConnectError(tt.err, "unix:///var/run/docker.sock")
		if !strings.Contains(p.Error(), tt.want) || p.Kind != app.KindEnvironment || !errors.Is(p, app.ErrEngineUnreachable) {
			t.Errorf("%v: got %q (kind %d)", tt.err, p.Error(), p.Kind)
		}
	}
}

// TestProbeRealEngine asks the machine's Docker engine about itself.
func TestProbeRealEngine(t *testing.T) {
	skipShort(t)
	e, err := Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	info := e.Probe(context.Background())
	if !info.Reachable {
		if os.Getenv("CI") == "" {
			t.Skipf("no Docker engine here: %s", info.Error)
		}
		t.Fatalf("CI has no Docker engine: %s", info.Error)
	}
	if info.Version == "" || info.APIVersion == "" || info.DataRoot == "" || len(info.Runtimes) == 0 {
		t.Fatalf("incomplete engine info %+v", info)
	}
}

func TestProbeUnreachableEngineSaysWhy(t *testing.T) {
	t.Setenv("DOCKER_HOST", "unix://"+filepath.Join(t.TempDir(), "no.sock"))
	e, err := Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	info := e.Probe(context.Background())
	if info.Reachable || !strings.Contains(info.Error, "not answering") || !strings.Contains(info.Fix, "systemctl start docker") {
		t.Fatalf("got %+v", info)
	}
}
