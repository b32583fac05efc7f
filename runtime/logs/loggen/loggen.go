// Package loggen builds the log-generator test image (for tests and
// benchmarks only; it never ships): the static Go program in
// testdata/main.go, in a scratch image, written as a `docker load` archive.
// See testdata/main.go for its modes.
package loggen

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

//go:embed testdata/main.go
var source []byte

// Build compiles the generator (CGO_ENABLED=0, for the host's architecture)
// and writes an image tagged tag as a docker-load archive in dir; it returns
// the archive's path.
func Build(ctx context.Context, dir, tag string) (string, error) {
	src := filepath.Join(dir, "loggen-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module loggen\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), source, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "loggen")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build log generator: %v: %s", err, out)
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return openAsTar(bin) })
	if err != nil {
		return "", fmt.Errorf("build log generator layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return "", err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return "", err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config = v1.Config{Entrypoint: []string{"/loggen"}, Cmd: []string{"sleep"}}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return "", err
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return "", fmt.Errorf("log generator tag %q: %w", tag, err)
	}
	archive := filepath.Join(dir, "loggen.tar")
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		return "", fmt.Errorf("write log generator archive: %w", err)
	}
	return archive, nil
}

// SourceHash identifies the generator's source (for image tags that change with it).
func SourceHash() string {
	sum := sha256.Sum256(source)
	return hex.EncodeToString(sum[:8])
}
