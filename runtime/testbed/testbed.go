// Package testbed is DuoBox's test bed on the real Docker engine (tests
// only; it never ships): it builds the two stand-in images (images/modelserver
// and images/gateway, static Go programs in scratch images), serves them from
// an in-process OCI registry on 127.0.0.1 and pushes them there, so that the
// engine really pulls them through DuoBox's code paths.
//
// Use:
//
//	eng := testbed.Engine(t)   // the live engine; skips without one, fails under CI
//	bed := testbed.Start(t)    // registry + images; everything is removed at cleanup
//	bed.Ref(testbed.ModelServer, "v1")   // "127.0.0.1:PORT/duobox-test/modelserver:v1"
//	bed.Push(t, testbed.Gateway, "self-hosted-v17.9.1-ee", "DUOBOX_FAKE_NEVER_HEALTHY=1")
//	bed.PushUnique(t, testbed.Gateway, "big", 4<<20)   // plus a random 4 MiB layer nobody has cached
//	bed.DropBlobs(true)        // the registry cuts every blob download after 64 KiB
//
// Tags pushed by Start, for both kinds: v1 and v2 (healthy, differing only in
// DUOBOX_FAKE_VERSION) and v3 (never healthy). The images' switches are the
// DUOBOX_FAKE_* variables documented in images/modelserver.
package testbed

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/runtime/docker"
)

// Kind names one of the stand-in images.
type Kind string

// The stand-in images.
const (
	ModelServer Kind = "modelserver" // listens on 8000 (or --port); health: /health
	Gateway     Kind = "gateway"     // listens on AIGW_FASTAPI__API_PORT (5000 default); health: /monitoring/healthz
)

// Bed is a running registry holding the stand-in images.
type Bed struct {
	Registry string // "127.0.0.1:PORT"

	server *httptest.Server
	drop   atomic.Bool
	// dropOnce cuts the next blob download only.
	dropOnce atomic.Bool
	mu       sync.Mutex
	refs     []string // every reference pushed, for cleanup
	layers   map[Kind]v1.Layer
}

// SkipShort marks an engine test: under -short ('make test-fast') it is
// skipped, except under CI (env CI set), where every test runs.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("engine test: skipped under -short (make test-fast); make test-engine runs it")
	}
}

// Engine connects to the live engine. It skips the test when none answers,
// except under CI (env CI set), where it fails; and under -short (SkipShort).
func Engine(t testing.TB) *docker.Engine {
	t.Helper()
	SkipShort(t)
	eng, err := docker.Connect()
	if err == nil {
		err = eng.Ping(context.Background())
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Docker engine needed under CI: %v", err)
		}
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng
}

// Start builds the images (cached by Go's build cache), starts the registry,
// pushes v1, v2 and v3 of both kinds, and registers cleanup: every image the
// engine pulled from it is untagged and the registry stops. Under -short
// the test is skipped (SkipShort).
func Start(t testing.TB) *Bed {
	t.Helper()
	SkipShort(t)
	b, err := New()
	if err != nil {
		t.Fatalf("start test bed: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Logf("testbed cleanup: %v", err)
		}
	})
	return b
}

// New is Start for programs that are not tests (the benchmarks): the caller
// must Close the bed.
func New() (*Bed, error) {
	b := &Bed{layers: map[Kind]v1.Layer{}}
	for _, k := range []Kind{ModelServer, Gateway} {
		layer, err := buildLayer(k)
		if err != nil {
			return nil, fmt.Errorf("build test image %s: %w", k, err)
		}
		b.layers[k] = layer
	}
	b.server = httptest.NewServer(b.faults(registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	b.Registry = strings.TrimPrefix(b.server.URL, "http://")
	for _, k := range []Kind{ModelServer, Gateway} {
		for _, tag := range []string{"v1", "v2"} {
			if _, err := b.PushImage(k, tag); err != nil {
				b.Close()
				return nil, err
			}
		}
		if _, err := b.PushImage(k, "v3", "DUOBOX_FAKE_NEVER_HEALTHY=1"); err != nil {
			b.Close()
			return nil, err
		}
	}
	return b, nil
}

// Close untags, in the engine, every image pulled from the registry, then
// stops it. In that order: the images are found by the registry's address,
// and once the registry stops, another bed (in this process or another
// package's test running alongside) may be given the same port and pull
// images under the same names, which this cleanup must not remove.
func (b *Bed) Close() error {
	err := b.removePulled()
	b.server.Close()
	return err
}

// Repository is the image repository of kind in this registry.
func (b *Bed) Repository(k Kind) string { return b.Registry + "/duobox-test/" + string(k) }

// Ref is "repository:tag".
func (b *Bed) Ref(k Kind, tag string) string { return b.Repository(k) + ":" + tag }

// HealthCmd is the Docker health-check test for kind's image (the images also
// declare it as their own HEALTHCHECK).
func HealthCmd(k Kind) []string { return []string{"CMD", "/" + string(k), "healthcheck"} }

// Push pushes kind's image under tag, with extra environment baked into its
// config (e.g. "DUOBOX_FAKE_NEVER_HEALTHY=1"), and returns the reference.
func (b *Bed) Push(t testing.TB, k Kind, tag string, env ...string) string {
	t.Helper()
	ref, err := b.PushImage(k, tag, env...)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushImage is Push for programs that are not tests.
func (b *Bed) PushImage(k Kind, tag string, env ...string) (string, error) {
	img, err := b.image(k, tag, runtime.GOARCH, env)
	if err != nil {
		return "", fmt.Errorf("make image %s:%s: %w", k, tag, err)
	}
	return b.write(k, tag, img)
}

// PushUnique pushes kind under tag with an extra layer of size random bytes,
// so the engine cannot have any of it cached (pull-fault tests).
func (b *Bed) PushUnique(t testing.TB, k Kind, tag string, size int64) string {
	t.Helper()
	img, err := b.image(k, tag, runtime.GOARCH, nil)
	if err != nil {
		t.Fatalf("make image: %v", err)
	}
	extra, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.AppendLayers(img, extra); err != nil {
		t.Fatal(err)
	}
	ref, err := b.write(k, tag, img)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// PushForeignPlatform pushes kind under tag as a single-platform index for
// arch only (e.g. "arm64" on an amd64 host): pulling it for the host
// platform fails with "no matching manifest".
func (b *Bed) PushForeignPlatform(t testing.TB, k Kind, tag, arch string) string {
	t.Helper()
	img, err := b.image(k, tag, arch, nil)
	if err != nil {
		t.Fatalf("make image: %v", err)
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	ref := b.Ref(k, tag)
	r, _ := name.ParseReference(ref)
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push index %s: %v", ref, err)
	}
	b.track(ref)
	return ref
}

// Digest returns the manifest digest of ref in this registry.
func (b *Bed) Digest(t testing.TB, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(r)
	if err != nil {
		t.Fatalf("head %s: %v", ref, err)
	}
	b.track(r.Context().String() + "@" + d.Digest.String())
	return d.Digest.String()
}

// DropBlobs makes the registry cut every blob download after 64 KiB (the
// connection is closed mid-body), until called with false.
func (b *Bed) DropBlobs(on bool) { b.drop.Store(on) }

// DropNextBlob cuts only the next blob download after 64 KiB: the engine's
// retry, a Range request from where it stopped, then completes the pull.
func (b *Bed) DropNextBlob() { b.dropOnce.Store(true) }

func (b *Bed) image(k Kind, tag, arch string, env []string) (v1.Image, error) {
	cfg := v1.Config{
		Entrypoint: []string{"/" + string(k)},
		Env:        append([]string{"DUOBOX_FAKE_VERSION=" + tag}, env...),
		Labels:     map[string]string{"io.duobox.testbed": "true"},
		Healthcheck: &v1.HealthConfig{Test: HealthCmd(k), Interval: time.Second,
			Timeout: 2 * time.Second, Retries: 3},
	}
	if k == ModelServer {
		cfg.ExposedPorts = map[string]struct{}{"8000/tcp": {}}
	} else {
		cfg.ExposedPorts = map[string]struct{}{"5052/tcp": {}, "50052/tcp": {}}
		// A gateway tag that names a GitLab release gets that release's image
		// facts from the GitLab version table: WORKDIR (where it reads
		// tmp/docs.db) and the ports it exposes.
		if rel, ok := gatewayRelease(tag); ok {
			cfg.WorkingDir = rel.Gateway.Workdir.Path
			if rel.Gateway.DocsIndex.Provided == gitlabversions.DocsBuiltIn {
				cfg.Env = append(cfg.Env, "DUOBOX_FAKE_DOCS_BUILT_IN=1")
			}
			cfg.ExposedPorts = map[string]struct{}{strconv.Itoa(rel.Gateway.Ports.HTTP) + "/tcp": {}}
			if rel.HasAgentPlatform() {
				cfg.ExposedPorts[strconv.Itoa(rel.Gateway.Ports.AgentPlatform)+"/tcp"] = struct{}{}
			}
		}
	}
	img, err := mutate.ConfigFile(empty.Image, &v1.ConfigFile{Architecture: arch, OS: "linux", Config: cfg, RootFS: v1.RootFS{Type: "layers"}})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), types.OCIConfigJSON)
	return mutate.AppendLayers(img, b.layers[k])
}

// gatewayRelease is the GitLab version table's row for a gateway tag that
// names a GitLab release (self-hosted-vX.Y.Z-ee, gitlab-vX.Y.0).
func gatewayRelease(tag string) (gitlabversions.Release, bool) {
	info := release.Classify(tag)
	if info.Kind != release.KindSelfHosted && info.Kind != release.KindFIPS && info.Kind != release.KindLegacy {
		return gitlabversions.Release{}, false
	}
	rel, err := gitlabversions.For(info.Version)
	return rel, err == nil
}

func (b *Bed) write(k Kind, tag string, img v1.Image) (string, error) {
	ref := b.Ref(k, tag)
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	if err := remote.Write(r, img); err != nil {
		return "", fmt.Errorf("push %s: %w", ref, err)
	}
	b.track(ref)
	return ref, nil
}

func (b *Bed) track(ref string) {
	b.mu.Lock()
	b.refs = append(b.refs, ref)
	b.mu.Unlock()
}

// faults wraps the registry handler with the blob-dropping switches, and
// serves the open-ended Range requests ("bytes=N-") a resumed download
// sends, as registries do (distribution's blob server honours any Range via
// http.ServeContent): go-containerregistry's registry understands only
// "bytes=N-M" and answers others 416 BLOB_UNKNOWN "We don't understand your
// Range" (pkg/registry/blobs.go), which is not what a real registry says.
func (b *Bed) faults(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		blob := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/")
		if blob {
			closeOpenRange(h, r)
		}
		if blob && (b.drop.Load() || b.dropOnce.Swap(false)) {
			h.ServeHTTP(&cutWriter{ResponseWriter: w, left: 64 << 10}, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// closeOpenRange rewrites "Range: bytes=N-" to "bytes=N-(size-1)", the
// blob's size read with a HEAD request to h.
func closeOpenRange(h http.Handler, r *http.Request) {
	var start int64
	rng := r.Header.Get("Range")
	if n, err := fmt.Sscanf(rng, "bytes=%d-", &start); err != nil || n != 1 || !strings.HasSuffix(rng, "-") {
		return
	}
	head := httptest.NewRecorder()
	hr := r.Clone(r.Context())
	hr.Method = http.MethodHead
	hr.Header.Del("Range")
	h.ServeHTTP(head, hr)
	if size, err := strconv.ParseInt(head.Header().Get("Content-Length"), 10, 64); err == nil && size > 0 {
		r.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, size-1))
	}
}

// EngineProxy is the live engine reached through a socket that cut closes
// (with every connection through it), as when the Docker engine stops or
// its socket goes away in the middle of a command. It sets DOCKER_HOST for
// the rest of the test.
func EngineProxy(t testing.TB, real *docker.Engine) (eng *docker.Engine, cut func()) {
	t.Helper()
	network, addr := "unix", strings.TrimPrefix(real.Endpoint, "unix://")
	if strings.HasPrefix(real.Endpoint, "tcp://") {
		network, addr = "tcp", strings.TrimPrefix(real.Endpoint, "tcp://")
	}
	sock := filepath.Join(t.TempDir(), "engine.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial(network, addr)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, up)
			mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	cut = func() {
		l.Close()
		os.Remove(sock)
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	t.Cleanup(cut)
	t.Setenv("DOCKER_HOST", "unix://"+sock)
	if eng, err = docker.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	return eng, cut
}

// cutWriter aborts the response (closing the connection) after left bytes.
type cutWriter struct {
	http.ResponseWriter
	left int
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if len(p) < c.left {
		c.left -= len(p)
		return c.ResponseWriter.Write(p)
	}
	c.ResponseWriter.Write(p[:c.left])
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}

// removePulled untags, in the engine, every reference this bed pushed.
func (b *Bed) removePulled() error {
	eng, err := docker.Connect()
	if err != nil {
		return nil
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b.mu.Lock()
	refs := append([]string(nil), b.refs...)
	b.mu.Unlock()
	return eng.RemoveImagesByRepository(ctx, b.Registry+"/duobox-test/", refs)
}

var buildMu sync.Mutex

// buildLayer compiles images/<kind> (CGO_ENABLED=0, static) and wraps the
// binary as a one-file layer with fixed timestamps, so equal sources give
// equal digests.
func buildLayer(k Kind) (v1.Layer, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Dir(self)
	out, err := os.MkdirTemp("", "duobox-testbed-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(out)
	bin := filepath.Join(out, string(k))
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "./images/"+string(k))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", k, err, msg)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: string(k), Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// FreePorts returns n distinct TCP ports free on every address of this
// machine. It holds all n listeners until each is chosen, so the kernel
// cannot hand out the same port twice (a gateway's two published ports
// must differ).
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// DockerCLI runs the docker command-line client against the same engine:
// the tests' stand-in for someone acting on the engine outside DuoBox
// (removing a container by hand, inspecting what DuoBox created). It fails
// the test when the command fails and returns its trimmed output.
func DockerCLI(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Tmpfs mounts a tmpfs of size bytes on a new folder and unmounts it at
// cleanup: a disk the test can fill (disk-full faults). It needs root;
// without it the test is skipped, except under CI, where it fails.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d,mode=0700", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mounting a tmpfs is needed under CI: %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs (not root?): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes a file into dir until its disk is full, and returns its path.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "fill")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	for { // the last blocks, a byte at a time
		if _, err := f.Write(buf[:1]); err != nil {
			return p
		}
	}
}
