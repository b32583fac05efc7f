package deploy

import (
	"context"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/weights"
)

// EnsureWeights puts every model's weights into the hub cache that the model
// containers bind-mount (p.Weights), downloading only what is missing, before
// Up starts them. It does nothing when the model server downloads its own
// weights (p.Weights nil: CPU mode). progress may be nil.
func EnsureWeights(ctx context.Context, p Prepared, d config.Deployment, cat catalog.Catalog, progress weights.ProgressFunc) error {
	if p.Weights == nil {
		return nil
	}
	if progress == nil {
		progress = func(weights.Progress) {}
	}
	for _, m := range d.Models {
		target, err := weights.TargetFor(cat, m)
		if err != nil {
			return err
		}
		if _, err := weights.Ensure(ctx, weights.Options{Env: *p.Weights, Target: target}, progress); err != nil {
			return err
		}
	}
	return nil
}
