package recommend

import (
	"strings"
	"testing"
)

func TestSettingsTextAsTyped(t *testing.T) {
	o, err := SettingsText{Utilization: "0.85", TensorParallel: "2", GPUs: "0, 1", MaxModelLen: "32_768", KVCacheDType: "fp8", MaxBatchedTokens: "4096", Variant: "own"}.Options(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if o.GPUMemoryUtilization != 0.85 || o.TensorParallel != 2 || len(o.GPUs) != 2 || o.Context != 32768 || o.KVCacheDType != "fp8" || o.MaxBatchedTokens != 4096 || o.Variant != "own" {
		t.Fatalf("%+v", o)
	}
	if o, err := (SettingsText{}).Options(Options{Context: 99}); err != nil || o.Context != 0 || o.GPUMemoryUtilization != 0 {
		t.Fatalf("empty fields keep DuoBox's choice: %+v %v", o, err)
	}
	for _, tt := range []struct {
		in   SettingsText
		want string
	}{
		{SettingsText{Utilization: "NaN"}, "out of range"},
		{SettingsText{Utilization: "0"}, "not a fraction above 0"},
		{SettingsText{Utilization: "1.3"}, "out of range"},
		{SettingsText{TensorParallel: "0"}, "tensor-parallel size"},
		{SettingsText{TensorParallel: "3"}, "tensor-parallel size"},
		{SettingsText{MaxModelLen: "-4096"}, "max model length"},
		{SettingsText{MaxModelLen: "lots"}, "max model length"},
		{SettingsText{GPUs: "a"}, "not a GPU index"},
		{SettingsText{KVCacheDType: "int8"}, "KV-cache dtype"},
		{SettingsText{MaxBatchedTokens: "0"}, "max batched tokens"},
	} {
		if _, err := tt.in.Options(Options{}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.in, err, tt.want)
		}
	}
}
