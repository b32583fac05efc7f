package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/registry"
)

// Image inspects a local image; app.ErrNotFound when it is not there.
func (e *Engine) Image(ctx context.Context, ref string) (engine.ImageInfo, error) {
	r, err := e.API.ImageInspect(ctx, ref)
	if err != nil {
		return engine.ImageInfo{}, e.explain(err, "inspect image "+ref)
	}
	return engine.ImageInfo{ID: r.ID, OS: r.Os, Arch: r.Architecture, RepoDigests: r.RepoDigests, Size: r.Size}, nil
}

// Pull pulls ref through the engine and reports each progress message.
// When PullRetryLimit > 0 and a layer download is retried that many times
// (the registry keeps dropping the connection), the pull is abandoned.
func (e *Engine) Pull(ctx context.Context, ref, platform string, progress func(engine.LayerEvent)) error {
	opts := client.ImagePullOptions{}
	if platform != "" {
		os, arch, _ := strings.Cut(platform, "/")
		opts.Platforms = []ocispec.Platform{{OS: os, Architecture: arch}}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	auth, err := registryAuth(ref)
	if err != nil {
		return app.Environment(err, "check the docker CLI's config ($DOCKER_CONFIG/config.json) and its credential helper, or run 'docker login "+registry.Host(ref)+"' again",
			"cannot read the credentials for %s: %v", registry.Host(ref), err)
	}
	opts.RegistryAuth = auth
	resp, err := e.API.ImagePull(ctx, ref, opts)
	if client.IsErrConnectionFailed(err) {
		return explainConnectError(err, e.Endpoint) // the engine, before any registry was asked
	}
	if err != nil {
		return e.pullError(ctx, err, ref, platform)
	}
	retries := map[string]int{}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil { // reading the engine's stream failed: the registry's errors come as messages
			return e.engineGone(ctx, err, ref)
		}
		if msg.Error != nil {
			return e.pullError(ctx, errors.New(msg.Error.Message), ref, platform)
		}
		ev := engine.LayerEvent{Image: ref, Layer: msg.ID, Status: msg.Status}
		if msg.Progress != nil {
			ev.Current, ev.Total = msg.Progress.Current, msg.Progress.Total
		}
		if progress != nil {
			progress(ev)
		}
		if strings.HasPrefix(msg.Status, "Retrying in") {
			retries[msg.ID]++
			if e.PullRetryLimit > 0 && retries[msg.ID] >= e.PullRetryLimit {
				f := &engine.PullFailure{Image: ref, Registry: registry.Host(ref), Err: fmt.Errorf("layer %s: %s", msg.ID, msg.Status)}
				return interrupted(f, fmt.Sprintf("DuoBox gave up on layer %s after %d attempts", msg.ID, retries[msg.ID]))
			}
		}
	}
	return nil
}

func platformOr(p string) string {
	if p == "" {
		return "this engine's platform"
	}
	return p
}

// CanEmulate reports whether the engine's host runs binaries for platform,
// natively or through a registered binfmt handler (QEMU). It can only look
// when the engine is local (a unix socket).
func (e *Engine) CanEmulate(ctx context.Context, platform string) bool {
	_, arch, _ := strings.Cut(platform, "/")
	if arch == runtime.GOARCH {
		return true
	}
	if !strings.HasPrefix(e.Endpoint, "unix://") {
		return false
	}
	names := map[string][]string{"amd64": {"qemu-x86_64", "x86_64"}, "arm64": {"qemu-aarch64", "aarch64"}}
	for _, n := range names[arch] {
		if b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + n); err == nil && strings.HasPrefix(string(b), "enabled") {
			return true
		}
	}
	return false
}

// RemoveImagesByRepository untags refs (tags or digests) whose repository
// starts with prefix, and every other tag or digest reference under prefix
// the engine holds (images pulled by digest, say); references elsewhere are
// refused. Used by the test bed to leave the engine as it found it. An image
// still used by a container stays.
func (e *Engine) RemoveImagesByRepository(ctx context.Context, prefix string, refs []string) error {
	var errs []error
	seen := map[string]bool{}
	all := append([]string(nil), refs...)
	if list, err := e.API.ImageList(ctx, client.ImageListOptions{}); err == nil {
		for _, img := range list.Items {
			for _, r := range append(append([]string(nil), img.RepoTags...), img.RepoDigests...) {
				if strings.HasPrefix(r, prefix) {
					all = append(all, r)
				}
			}
		}
	}
	for _, ref := range all {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if !strings.HasPrefix(ref, prefix) {
			errs = append(errs, fmt.Errorf("remove image %s: not under %s", ref, prefix))
			continue
		}
		if _, err := e.API.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove image %s: %w", ref, err))
		}
	}
	return errors.Join(errs...)
}

// Mirrors are the engine's Docker Hub registry mirrors ("registry-mirrors"
// in daemon.json), as URLs; nil when it has none or does not say.
func (e *Engine) Mirrors(ctx context.Context) []string {
	info, err := e.API.Info(ctx, client.InfoOptions{})
	if err != nil || info.Info.RegistryConfig == nil {
		return nil
	}
	return info.Info.RegistryConfig.Mirrors
}

// RemoveImage untags ref; the image goes with its last tag unless a
// container uses it. A ref the engine does not have is not an error.
func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	if _, err := e.API.ImageRemove(ctx, ref, client.ImageRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("remove image %s: %w", ref, err)
	}
	return nil
}
