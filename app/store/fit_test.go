package store

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
)

func TestFitMeasurementsPerModelGPUAndVersion(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Now()
	for _, m := range []FitMeasurement{
		{Model: "llama-3.1-8b-instruct", GPU: "NVIDIA H100 80GB HBM3", VLLM: "0.18.1", Measured: []byte(`{"kv_pool_gib":50}`), At: at},
		{Model: "llama-3.1-8b-instruct", GPU: "NVIDIA H100 80GB HBM3", VLLM: "0.18.1", Measured: []byte(`{"kv_pool_gib":51}`), At: at.Add(time.Minute)},
		{Model: "llama-3.1-8b-instruct", GPU: "NVIDIA L40S", VLLM: "0.18.1", Measured: []byte(`{"kv_pool_gib":20}`), At: at},
	} {
		if err := s.SaveFitMeasurement(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FitMeasurements(t.Context(), "NVIDIA H100 80GB HBM3", "0.18.1")
	if err != nil || len(got) != 1 || string(got["llama-3.1-8b-instruct"].Measured) != `{"kv_pool_gib":51}` {
		t.Fatalf("%v %v", got, err)
	}
	if other, _ := s.FitMeasurements(t.Context(), "NVIDIA H100 80GB HBM3", "0.21.0"); len(other) != 0 {
		t.Fatalf("another version's rows: %v", other)
	}
	if _, err := s.LatestFitMeasurement(t.Context(), "gpt-oss-20b"); !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("missing model: %v", err)
	}
	if err := s.SaveFitMeasurement(t.Context(), FitMeasurement{Model: "x"}); err == nil {
		t.Fatal("a row without GPU and version must be refused")
	}
}
