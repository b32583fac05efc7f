package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/weights/fakehub"
)

// TestWeights_FakeHubServer_PullStatusRm drives `duobox weights` against the
// fake of the hub's API shapes (the real hub is not reachable from tests).
func TestWeights_FakeHubServer_PullStatusRm(t *testing.T) {
	files := func() []*fakehub.File {
		return []*fakehub.File{
			{Path: "config.json", Data: []byte(`{"architectures":["LlamaForCausalLM"]}`)},
			{Path: "tokenizer.json", Data: []byte(`{"model":{}}`)},
			{Path: "model.safetensors", Data: fakehub.Safetensors(100_000, 1), LFS: true},
			{Path: "original/consolidated.00.pth", Data: []byte("not needed"), LFS: true},
		}
	}
	srv, err := fakehub.New(&fakehub.Repo{ID: "acme/cli", Files: files()},
		&fakehub.Repo{ID: "acme/gated", Files: files(), Gated: true, Tokens: []string{"hf_ok"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	t.Setenv("HF_TOKEN", "")
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "")
	t.Setenv("HF_HUB_OFFLINE", "")

	code, out, errOut := runCLI(t, "weights", "pull", "acme/cli", "--json")
	var pulled struct {
		Files   []string `json:"files"`
		Skipped []string `json:"skipped"`
		Fetched int64    `json:"fetched"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &pulled) != nil || len(pulled.Files) != 3 || pulled.Fetched == 0 {
		t.Fatalf("pull: exit %d, %s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "weights", "status", "--json")
	var status struct {
		Models []struct {
			Repo     string `json:"repo"`
			Complete bool   `json:"complete"`
		} `json:"models"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &status) != nil || len(status.Models) != 1 || !status.Models[0].Complete {
		t.Fatalf("status: exit %d, %s", code, out)
	}
	if code, _, errOut = runCLI(t, "weights", "pull", "acme/gated"); code != 3 ||
		!strings.Contains(errOut, "open "+srv.URL+"/acme/gated") || !strings.Contains(errOut, "no token was sent") {
		t.Fatalf("gated: exit %d, %s", code, errOut)
	}
	if code, out, errOut = runCLI(t, "weights", "rm", "acme/cli"); code != 0 || !strings.Contains(out, "Removed acme/cli") {
		t.Fatalf("rm: exit %d, %s %s", code, out, errOut)
	}
	if code, _, _ = runCLI(t, "weights", "rm", "acme/cli"); code != 2 {
		t.Fatalf("rm of a removed model: exit %d, want 2", code)
	}
}
