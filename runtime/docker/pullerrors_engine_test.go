package docker_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/runtime/testbed"
)

// wantPullClass asserts err is an environment problem (exit 3) whose cause
// is a PullFailure of class, with a fix.
func wantPullClass(t *testing.T, err error, class engine.PullClass, what string) *engine.PullFailure {
	t.Helper()
	var p *app.Problem
	var f *engine.PullFailure
	if !errors.As(err, &p) || !errors.As(err, &f) {
		t.Fatalf("want a pull problem of class %s, got %v", class, err)
	}
	if p.Kind != app.KindEnvironment || f.Class != class || p.Fix == "" || !strings.Contains(p.What, what) {
		t.Fatalf("want environment problem, class %s, What containing %q and a fix; got kind %d class %s: %v", class, what, p.Kind, f.Class, err)
	}
	return f
}

// registryAnswering serves the registry API's /v2/ ping with 200 and every
// other path with status and a registry error body (distribution spec codes).
func registryAnswering(t *testing.T, status int, code string, header http.Header) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" && status != http.StatusUnauthorized {
			w.WriteHeader(http.StatusOK)
			return
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"errors":[{"code":"` + code + `","message":"answered by the test registry"}]}`))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestPullDNSFailureIsExplained(t *testing.T) {
	eng := testbed.Engine(t)
	err := eng.Pull(context.Background(), "duobox-no-such-registry.invalid/duobox-test/gateway:v1", "", nil)
	f := wantPullClass(t, err, engine.PullDNS, "does not resolve")
	if !f.BundleHelps() || !strings.Contains(err.Error(), "duobox bundle load") {
		t.Errorf("a DNS failure should offer the offline bundle: %v", err)
	}
}

func TestPullUnreachableRegistryNamesTheEngineProxy(t *testing.T) {
	eng := testbed.Engine(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	err = eng.Pull(context.Background(), addr+"/duobox-test/gateway:v1", "", nil)
	wantPullClass(t, err, engine.PullNoRoute, "no connection")
	if !strings.Contains(err.Error(), "daemon.json") {
		t.Errorf("fix should name the engine's proxy settings: %v", err)
	}
}

func TestPullAuthenticationRequiredIsExplained(t *testing.T) {
	eng := testbed.Engine(t)
	host := registryAnswering(t, http.StatusUnauthorized, "UNAUTHORIZED", http.Header{"Www-Authenticate": {`Basic realm="test"`}})
	err := eng.Pull(context.Background(), host+"/duobox-test/gateway:v1", "", nil)
	wantPullClass(t, err, engine.PullAuth, "login")
	if !strings.Contains(err.Error(), "docker login "+host) {
		t.Errorf("fix should say 'docker login %s': %v", host, err)
	}
}

func TestPullRateLimitedGivesResetTime(t *testing.T) {
	eng := testbed.Engine(t)
	host := registryAnswering(t, http.StatusTooManyRequests, "TOOMANYREQUESTS", http.Header{"Retry-After": {"3600"}})
	err := eng.Pull(context.Background(), host+"/duobox-test/gateway:v1", "", nil)
	f := wantPullClass(t, err, engine.PullRateLimited, "rate limit")
	if until := time.Until(f.ResetAt); until < 50*time.Minute || until > 61*time.Minute || !strings.Contains(err.Error(), "resets at") {
		t.Errorf("want the reset time from Retry-After (in ~1h), got %v: %v", f.ResetAt, err)
	}
}

func TestPullManifestUnknownIsEnvironment(t *testing.T) {
	eng := testbed.Engine(t)
	host := registryAnswering(t, http.StatusNotFound, "MANIFEST_UNKNOWN", nil)
	err := eng.Pull(context.Background(), host+"/duobox-test/gateway:gone", "", nil)
	wantPullClass(t, err, engine.PullManifestUnknown, "does not exist")
	if !errors.Is(err, app.ErrNotFound) {
		t.Errorf("a missing tag should match app.ErrNotFound: %v", err)
	}
}

// The engine trusts 127.0.0.0/8 without TLS checks (its default insecure
// range), so the TLS registry listens on this host's other address.
func TestPullUnknownCertificateAuthorityIsExplained(t *testing.T) {
	eng := testbed.Engine(t)
	ip := nonLoopbackIP(t)
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Listener = l
	srv.StartTLS() // its certificate comes from a CA the engine does not know
	t.Cleanup(srv.Close)
	host := l.Addr().String()
	err = eng.Pull(context.Background(), host+"/duobox-test/gateway:v1", "", nil)
	wantPullClass(t, err, engine.PullTLS, "not trusted")
	if !strings.Contains(err.Error(), "/etc/docker/certs.d/"+host+"/ca.crt") {
		t.Errorf("fix should name the engine's CA directory for %s: %v", host, err)
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// The engine pull sends the docker CLI's credentials for the registry, as
// 'docker pull' does: the registry below refuses anyone but alice.
func TestPullSendsDockerCLICredentials(t *testing.T) {
	eng := testbed.Engine(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("Www-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if r.URL.Path == "/v2/" {
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/duobox-test/gateway:v1"
	wantPullClass(t, eng.Pull(context.Background(), ref, "", nil), engine.PullAuth, "login")

	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	wantPullClass(t, eng.Pull(context.Background(), ref, "", nil), engine.PullManifestUnknown, "does not exist")
}

// TestPullResumesAfterADroppedBlob: the registry cuts one blob download
// after 64 KiB; the engine resumes it with a Range request and the pull
// completes (the test registry serves open-ended ranges as real ones do).
func TestPullResumesAfterADroppedBlob(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ref := bed.PushUnique(t, testbed.Gateway, "resumed", 1<<20)
	bed.DropNextBlob()
	if err := eng.Pull(context.Background(), ref, "", nil); err != nil {
		t.Fatalf("a pull resumed after one dropped download must complete: %v", err)
	}
}

// TestPullRegistryKeepsDroppingIsInterrupted: every download cut, the
// engine retries (with Range) until it gives up; its last word is a
// dropped-connection problem naming the registry, exit 3 (issue 16: exit 1).
func TestPullRegistryKeepsDroppingIsInterrupted(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ref := bed.PushUnique(t, testbed.Gateway, "dropping", 1<<20)
	bed.DropBlobs(true)
	err := eng.Pull(context.Background(), ref, "", nil)
	wantPullClass(t, err, engine.PullInterrupted, "dropped the connection in the middle of a download")
	if !strings.Contains(err.Error(), bed.Registry) || strings.Contains(err.Error(), "Docker engine") {
		t.Errorf("the registry dropped the connection, the message must say so: %v", err)
	}
}

// TestPullEngineGoneMidPullNamesTheEngine: the engine's socket goes away in
// the middle of a pull (the registry dropping blobs keeps it in progress);
// the problem names the Docker engine, not the registry (issue 16).
func TestPullEngineGoneMidPullNamesTheEngine(t *testing.T) {
	real := testbed.Engine(t)
	bed := testbed.Start(t)
	ref := bed.PushUnique(t, testbed.Gateway, "engine-gone", 1<<20)
	bed.DropBlobs(true)
	eng, cut := testbed.EngineProxy(t, real)
	var once sync.Once
	err := eng.Pull(context.Background(), ref, "", func(ev engine.LayerEvent) {
		if strings.HasPrefix(ev.Status, "Retrying in") {
			once.Do(cut)
		}
	})
	var p *app.Problem
	if !errors.As(err, &p) || p.Kind != app.KindEnvironment || !errors.Is(err, app.ErrEngineUnreachable) ||
		!strings.Contains(p.What, "the Docker engine at unix://") || !strings.Contains(p.What, "went away while pulling "+ref) ||
		strings.Contains(p.What, "registry") || !strings.Contains(p.Fix, "systemctl status docker") {
		t.Fatalf("want an environment problem naming the Docker engine, got %v", err)
	}
}
