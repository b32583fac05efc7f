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
