package weights

import (
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/bundles"
)

func listing(paths ...string) []RemoteFile {
	out := make([]RemoteFile, len(paths))
	for i, p := range paths {
		out[i] = RemoteFile{Path: p, Size: 10}
	}
	return out
}

// The files downloaded are the files the served checkpoint's arguments make
// vLLM read: Codestral's own repo in Mistral format, its AWQ variant (a
// Hugging Face-format repo) in HF shards, never the original's load format.
func TestTargetForAVariantUsesTheVariantsOwnLoadFormat(t *testing.T) {
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	orig, err := TargetFor(cat, config.Model{HFRepo: "mistralai/Codestral-22B-v0.1"})
	if err != nil || orig.LoadFormat != LoadFormatMistral {
		t.Fatalf("original: %+v, %v", orig, err)
	}
	awq, err := TargetFor(cat, config.Model{HFRepo: "mistralai/Codestral-22B-v0.1", Variant: "TechxGenus/Codestral-22B-v0.1-AWQ"})
	if err != nil || awq.Repo != "TechxGenus/Codestral-22B-v0.1-AWQ" || awq.LoadFormat != "" {
		t.Fatalf("AWQ variant: %+v, %v", awq, err)
	}
	sel, err := Select(awq.Repo, listing("config.json", "model.safetensors", "tokenizer.json", "README.md"), awq.LoadFormat)
	if err != nil || !slices.Equal(sel.Paths(), []string{"config.json", "model.safetensors", "tokenizer.json"}) {
		t.Fatalf("AWQ selection: %v, %v", sel.Paths(), err)
	}
}

func TestMistralFormatNeedsConsolidatedWeightsAndParamsJSON(t *testing.T) {
	if _, err := Select("org/hf-only", listing("config.json", "model.safetensors"), LoadFormatMistral); err == nil ||
		!strings.Contains(err.Error(), "consolidated*.safetensors") {
		t.Errorf("no consolidated weights: %v", err)
	}
	if _, err := Select("org/no-params", listing("config.json", "consolidated.safetensors", "tekken.json"), LoadFormatMistral); err == nil ||
		!strings.Contains(err.Error(), "params.json") {
		t.Errorf("no params.json: %v", err)
	}
	sel, err := Select("org/mistral", listing("params.json", "consolidated.safetensors", "tekken.json", "model.safetensors"), LoadFormatMistral)
	if err != nil || !slices.Equal(sel.Paths(), []string{"consolidated.safetensors", "params.json", "tekken.json"}) {
		t.Errorf("mistral selection: %v, %v", sel.Paths(), err)
	}
}
