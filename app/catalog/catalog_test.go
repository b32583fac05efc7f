package catalog

import (
	"slices"
	"strings"
	"testing"
)

const oneModel = `models:
  - id: m
    name: M
    hf_repo: org/m
    family: mistral
    architecture: {layers: 1, attention_heads: 1, kv_heads: 1, head_dim: 1, max_context: 1}
    weight_bytes: 100
    vllm_args: [--load-format, mistral]
    quantized:
      - {repo: org/m-awq, method: awq, bits: 4, weight_bytes: 10%s}
    gitlab:
      - {versions: "18.5-", status: supported, features: {chat: full}}
`

func TestVariantWithoutArgumentsIsRefusedAtLoad(t *testing.T) {
	_, err := Parse([]byte(strings.Replace(oneModel, "%s", "", 1)), "overlay.yaml")
	if err == nil || !strings.Contains(err.Error(), `"org/m-awq" declares no vllm_args`) || !strings.Contains(err.Error(), "overlay.yaml") {
		t.Fatalf("want a clear refusal, got %v", err)
	}
}

func TestArgsForIsThePerCheckpointList(t *testing.T) {
	c, err := Parse([]byte(strings.Replace(oneModel, "%s", ", vllm_args: [--quantization, awq]", 1)), "test")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Models[0]
	if got := m.ArgsFor("org/m-awq"); !slices.Equal(got, []string{"--quantization", "awq"}) {
		t.Errorf("variant args = %v", got)
	}
	if got := m.ArgsFor("ORG/M"); !slices.Equal(got, []string{"--load-format", "mistral"}) {
		t.Errorf("model args = %v", got)
	}
	if got := m.ArgsFor("org/other"); got != nil {
		t.Errorf("unknown repo args = %v", got)
	}
}

// TestNumbersBeyondAnyModelAreRefused: an overlay with 2^63−1 layers read
// "0.0 GiB of KV cache, fits" (issue 16): every number the memory arithmetic
// multiplies is checked against a bound, NaN included, and the error names it.
func TestNumbersBeyondAnyModelAreRefused(t *testing.T) {
	good := strings.Replace(oneModel, "%s", ", vllm_args: []", 1)
	for _, tt := range []struct{ from, to, want string }{
		{"layers: 1,", "layers: 9223372036854775807,", "layers 9223372036854775807 is out of range"},
		{"head_dim: 1,", "head_dim: 4294967296,", "head_dim 4294967296 is out of range"},
		{"max_context: 1}", "max_context: 1, vocab: 9223372036854775807}", "vocab 9223372036854775807 is out of range"},
		{"max_context: 1}", "max_context: 1, sliding_window_share: .nan, sliding_window: 4}", "sliding_window_share NaN must be in [0,1)"},
		{"weight_bytes: 100\n", "weight_bytes: 18446744073709551615\n", "weight_bytes 18446744073709551615 is beyond any model"},
		{"bits: 4", "bits: 4096", "bits 4096 is not 1–16"},
	} {
		_, err := Parse([]byte(strings.Replace(good, tt.from, tt.to, 1)), "overlay.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "overlay.yaml") {
			t.Errorf("%s: want %q, got %v", tt.to, tt.want, err)
		}
	}
	if _, err := Parse([]byte(good), "overlay.yaml"); err != nil {
		t.Fatalf("the unspoilt model: %v", err)
	}
}
