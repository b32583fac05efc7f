//go:build !cgo || !linux

package hardware

import (
	"context"
	"errors"
)

const nvmlAvailable = false

// NVML is unavailable in builds without cgo; callers fall back to nvidia-smi.
func NVML(context.Context) ([]GPU, error) {
	return nil, errors.New("this build has no NVML support (built without cgo); using nvidia-smi")
}
