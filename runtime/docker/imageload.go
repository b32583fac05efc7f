package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/moby/moby/client"
)

// LoadImageArchive loads a `docker save` style tarball into the engine (the
// offline path: no registry involved) and fails with the engine's own
// message when the archive is refused.
func (e *Engine) LoadImageArchive(ctx context.Context, archive io.Reader) error {
	res, err := e.API.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return e.explain(err, "load image archive")
	}
	defer res.Close()
	dec := json.NewDecoder(res)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("load image archive: %w", err)
		}
		if m.Error != "" {
			return fmt.Errorf("load image archive: %s", m.Error)
		}
	}
}
