package bundles

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/version"
)

// The seed's table, exactly: model row name -> features at 17.2.
var seedTable = map[string][]catalog.Feature{
	"CodeGemma 2b":        {catalog.CodeCompletion},
	"CodeGemma 7b-it":     {catalog.CodeGeneration},
	"CodeGemma 7b":        {catalog.CodeCompletion},
	"Code-Llama 13b-code": {catalog.CodeCompletion},
	"Code-Llama 13b":      {catalog.CodeGeneration},
	"Codestral 22B":       {catalog.CodeCompletion, catalog.CodeGeneration},
	"Mistral 7B":          {catalog.CodeGeneration, catalog.Chat},
	"Mixtral 8x22B":       {catalog.CodeGeneration, catalog.Chat},
	"Mixtral 8x7B":        {catalog.CodeGeneration, catalog.Chat},
}

func TestBundledCatalogHasEverySeedRowWithItsExactFeatures(t *testing.T) {
	c, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range c.Models {
		if m.SeedName == "" {
			continue
		}
		want, ok := seedTable[m.SeedName]
		if !ok {
			t.Errorf("%s claims seed row %q, which the seed does not have", m.ID, m.SeedName)
			continue
		}
		seen[m.SeedName] = true
		for _, v := range []string{"17.1", "17.2", "17.3", "17.4"} {
			got := m.FeaturesAt(version.MustParse(v))
			if !slices.Equal(got, want) {
				t.Errorf("%s at %s: features %v, seed says %v", m.SeedName, v, got, want)
			}
			l, _ := m.ListingFor(version.MustParse(v))
			if l.Status != catalog.StatusApproved {
				t.Errorf("%s at %s: status %q, seed says approved", m.SeedName, v, l.Status)
			}
		}
	}
	for row := range seedTable {
		if !seen[row] {
			t.Errorf("seed row %q missing from the catalog", row)
		}
	}
}

func TestBundledCatalogHasLaterGitLabModels(t *testing.T) {
	c, err := Catalog()
	if err != nil {
		t.Fatal(err)
	}
	v185 := version.MustParse("18.5")
	for _, repo := range []string{
		"mistralai/Mistral-Small-3.2-24B-Instruct-2506", "meta-llama/Meta-Llama-3-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct",
		"meta-llama/Meta-Llama-3-70B-Instruct", "meta-llama/Llama-3.1-70B-Instruct", "meta-llama/Llama-3.3-70B-Instruct",
		"openai/gpt-oss-20b", "openai/gpt-oss-120b",
	} {
		m, ok := c.Find(repo)
		if !ok {
			t.Errorf("%s missing", repo)
			continue
		}
		if l, ok := m.ListingFor(v185); !ok || l.Status != catalog.StatusSupported {
			t.Errorf("%s not supported at 18.5", repo)
		}
	}
	// Mistral 7B and the Mixtrals lose support in 18.5.
	for _, id := range []string{"mistral-7b-instruct-v0.3", "mixtral-8x7b-instruct", "mixtral-8x22b-instruct"} {
		m, _ := c.Find(id)
		if l, _ := m.ListingFor(v185); l.Status == catalog.StatusSupported {
			t.Errorf("%s still supported at 18.5", id)
		}
	}
}

func TestKVBytesPerTokenMatchesFacts(t *testing.T) {
	c, _ := Catalog()
	// facts/models.md §2: KV per token at TP=1, BF16.
	want := map[string]uint64{
		"codegemma-2b": 18432, "codegemma-7b": 458752, "codellama-13b-code": 819200, "codestral-22b": 229376,
		"mistral-7b-instruct-v0.3": 131072, "llama-3.1-70b-instruct": 327680, "deepseek-coder-33b-instruct": 253952,
		"mistral-small-3.2-24b": 163840,
	}
	for id, w := range want {
		m, ok := c.Find(id)
		if !ok {
			t.Fatalf("%s missing", id)
		}
		if got := m.Architecture.KVBytesPerToken(1, 2); got != w {
			t.Errorf("%s: KV/token %d, facts say %d", id, got, w)
		}
	}
}

func TestBrokenOverlayNeverHidesTheBundledCatalog(t *testing.T) {
	dir := t.TempDir()
	bundled, _ := Catalog()
	tests := []struct {
		name    string
		content string
		wantErr string
		wantLen int
	}{
		{"not yaml", "models: [", "catalog overlay ignored", len(bundled.Models)},
		{"unknown field", "models:\n  - id: x\n    colour: red\n", "colour", len(bundled.Models)},
		{"invalid entry", "models:\n  - id: x\n    name: X\n    hf_repo: nope\n", "hf_repo", len(bundled.Models)},
		{"2^63-1 layers (issue 16: read '0.0 GiB of KV cache, fits')", `models:
  - id: my-model
    name: My Model
    hf_repo: me/my-model
    family: general
    licence: MIT
    architecture: {layers: 9223372036854775807, attention_heads: 2, kv_heads: 1, head_dim: 8, max_context: 1024, vocab: 10, dtype: bfloat16}
    weight_bytes: 1000
    gitlab: [{versions: "18.3-", status: compatible, features: {chat: beta}}]
`, "layers 9223372036854775807 is out of range (0–1024)", len(bundled.Models)},
		{"adds a model", `models:
  - id: my-model
    name: My Model
    hf_repo: me/my-model
    family: general
    gated: false
    licence: MIT
    architecture: {layers: 2, attention_heads: 2, kv_heads: 1, head_dim: 8, max_context: 1024, vocab: 10, dtype: bfloat16}
    weight_bytes: 1000
    gitlab: [{versions: "18.3-", status: compatible, features: {chat: beta}}]
`, "", len(bundled.Models) + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_")+".yaml")
			if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			c, overlayErr, err := CatalogWithOverlay(p)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantErr == "" && overlayErr != nil {
				t.Fatalf("unexpected overlay error %v", overlayErr)
			}
			if tt.wantErr != "" && (overlayErr == nil || !strings.Contains(overlayErr.Error(), tt.wantErr)) {
				t.Fatalf("overlay error %v, want one mentioning %q", overlayErr, tt.wantErr)
			}
			if len(c.Models) != tt.wantLen {
				t.Fatalf("%d models, want %d", len(c.Models), tt.wantLen)
			}
		})
	}
}

func TestOverlayReplacesByID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "o.yaml")
	os.WriteFile(p, []byte(`models:
  - id: codegemma-2b
    name: CodeGemma 2b (local mirror)
    hf_repo: mirror/codegemma-2b
    family: codegemma
    gated: false
    licence: Gemma
    architecture: {layers: 18, attention_heads: 8, kv_heads: 1, head_dim: 256, max_context: 8192, vocab: 256000, dtype: bfloat16}
    weight_bytes: 5012344832
    gitlab: [{versions: "17.1-", status: approved, features: {code_completion: yes}}]
`), 0o600)
	c, overlayErr, err := CatalogWithOverlay(p)
	if err != nil || overlayErr != nil {
		t.Fatal(err, overlayErr)
	}
	m, _ := c.Find("codegemma-2b")
	if m.HFRepo != "mirror/codegemma-2b" || m.Source != p {
		t.Fatalf("overlay did not replace: %+v", m)
	}
}

func FuzzCatalogParse(f *testing.F) {
	f.Add(catalogYAML)
	f.Add([]byte("models: []"))
	f.Add([]byte("models:\n - id: a\n   gitlab: [{versions: '17.1-', status: x}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := catalog.Parse(data, "fuzz")
		if err == nil {
			for _, m := range c.Models {
				_ = m.FeaturesAt(version.MustParse("18.5"))
			}
		}
	})
}
