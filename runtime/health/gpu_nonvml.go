//go:build !cgo || !linux

package health

import "errors"

// sampleNVML is unavailable without cgo; Sample falls back to nvidia-smi.
func sampleNVML() ([]GPUSample, error) {
	return nil, errors.New("this build has no NVML support (built without cgo)")
}
