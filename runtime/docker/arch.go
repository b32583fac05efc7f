package docker

import (
	"context"

	"github.com/moby/moby/client"
)

// ServerArch is the engine's architecture (GOARCH form, e.g. amd64) from
// /version, which answers at once where /info (Probe) is slow on a busy engine.
func (e *Engine) ServerArch(ctx context.Context) (string, error) {
	v, err := e.API.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return "", e.explain(err, "ask the engine its version")
	}
	return v.Arch, nil
}
