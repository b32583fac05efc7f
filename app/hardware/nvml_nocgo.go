//go:build !cgo || !linux

package hardware

import (
	"context"
	"errors"
)

const nvmlAvailable = false

// probeNVML is unavailable in builds without cgo; detection falls back to nvidia-smi.
func probeNVML(context.Context) ([]GPU, error) {
	return nil, errors.New("this build has no NVML support (built without cgo); using nvidia-smi")
}
