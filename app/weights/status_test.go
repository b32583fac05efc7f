package weights

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/filelock"
	"github.com/duobox/duobox/bundles"
)

func TestStatus_FakeHubServer_ReportsCompletePartialAndBrokenSnapshots(t *testing.T) {
	repo := mistralLikeRepo("acme/status")
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/status")
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	models, err := Status(opts.Env.HubCache, "")
	if err != nil || len(models) != 1 {
		t.Fatalf("status %+v, %v", models, err)
	}
	m := models[0]
	if m.Repo != "acme/status" || !m.Complete || m.Bytes != res.Bytes-sharedBytes || m.Snapshots[0].Bytes != res.Bytes || len(m.Snapshots) != 1 ||
		!slices.Equal(m.Snapshots[0].Refs, []string{"main"}) || m.Snapshots[0].Format != FormatSafetensors {
		t.Fatalf("status %+v", m)
	}

	// An interrupted download shows as partial bytes; a lost blob makes the snapshot incomplete.
	shard := fileOf(repo, "model-00002-of-00002.safetensors")
	blob := filepath.Join(m.Dir, "blobs", shard.SHA256())
	os.Rename(blob, blob+".incomplete")
	os.Truncate(blob+".incomplete", 1000)
	m = must(Status(opts.Env.HubCache, "acme/status"))[0]
	if m.Complete || m.PartialBytes != 1000 || !strings.Contains(m.Snapshots[0].Problem, shard.Path) {
		t.Fatalf("status after damage %+v", m)
	}
	if _, ok := Cached(opts.Env.HubCache, opts.Target); ok {
		t.Fatal("a snapshot with a missing blob counts as cached")
	}
	// The next pull resumes the shard and repairs the snapshot.
	again, err := Pull(context.Background(), opts, nil)
	if err != nil || again.Reused != res.Bytes-int64(len(shard.Data))+1000 {
		t.Fatalf("repair pull reused %d: %v", again.Reused, err)
	}
	if !must(Status(opts.Env.HubCache, ""))[0].Complete {
		t.Fatal("not complete after the repair pull")
	}
	if empty, _ := Status(filepath.Join(t.TempDir(), "none"), ""); len(empty) != 0 {
		t.Fatalf("status of a missing cache: %+v", empty)
	}
}

func TestRemove_FakeHubServer_DeletesTheModelButNotWhileAPullHoldsIt(t *testing.T) {
	srv := startHub(t, mistralLikeRepo("acme/rm"), mistralLikeRepo("acme/keep"))
	opts := testOptions(t, srv, "acme/rm")
	res, _ := Pull(context.Background(), opts, nil)
	opts.Target.Repo = "acme/keep"
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatal(err)
	}
	rc := repoCache{hubCache: opts.Env.HubCache, repo: "acme/rm"}
	held, _, err := filelock.TryLock(rc.modelLockPath(), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Remove(opts.Env.HubCache, "acme/rm"); app.KindOf(err) != app.KindConflict {
		t.Fatalf("remove during a pull: %v", err)
	}
	if _, err := os.Stat(res.Snapshot); err != nil {
		t.Fatal("a refused remove deleted files")
	}
	held.Unlock()
	removed, err := Remove(opts.Env.HubCache, "acme/rm")
	if err != nil || removed.Bytes != res.Bytes-sharedBytes {
		t.Fatalf("removed %+v, %v", removed, err)
	}
	if _, err := os.Stat(rc.dir()); !os.IsNotExist(err) {
		t.Fatal("model folder still there")
	}
	if models, _ := Status(opts.Env.HubCache, ""); len(models) != 1 || models[0].Repo != "acme/keep" {
		t.Fatalf("after remove: %+v", models)
	}
	if _, err := Remove(opts.Env.HubCache, "acme/rm"); !errors.Is(err, app.ErrNotFound) || app.KindOf(err) != app.KindBadInput {
		t.Fatalf("remove of a missing model: %v", err)
	}
}

func TestSelect_PicksOneWeightFormatAndWhatVLLMReads(t *testing.T) {
	files := func(paths ...string) []RemoteFile {
		var out []RemoteFile
		for _, p := range paths {
			out = append(out, RemoteFile{Path: p, Size: 1})
		}
		return out
	}
	tests := []struct {
		name       string
		files      []RemoteFile
		loadFormat string
		want       []string
		format     Format
		wantErr    string
	}{
		{"llama with original/ pth copy",
			files("config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
				"model.safetensors.index.json", "original/consolidated.00.pth", "original/params.json", "special_tokens_map.json",
				"tokenizer.json", "tokenizer_config.json", "LICENSE", "USE_POLICY.md", ".gitattributes"),
			"", []string{"config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
				"model.safetensors.index.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"}, FormatSafetensors, ""},
		{"mistral format asked, with tekken",
			files("config.json", "consolidated.safetensors", "model-00001-of-00003.safetensors", "model.safetensors.index.json", "params.json", "tekken.json", "chat_template.jinja"),
			"mistral", []string{"chat_template.jinja", "config.json", "consolidated.safetensors", "params.json", "tekken.json"}, FormatMistral, ""},
		{"gpt-oss with metal/ and original/",
			files("config.json", "model-00000-of-00002.safetensors", "model-00001-of-00002.safetensors", "model.safetensors.index.json",
				"metal/model.bin", "original/model.safetensors", "original/config.json", "tokenizer.json", "chat_template.jinja"),
			"", []string{"chat_template.jinja", "config.json", "model-00000-of-00002.safetensors", "model-00001-of-00002.safetensors",
				"model.safetensors.index.json", "tokenizer.json"}, FormatSafetensors, ""},
		{"pytorch only, with a gguf beside",
			files("config.json", "pytorch_model.bin", "model.gguf", "vocab.txt", "merges.txt", "tokenizer.model"),
			"", []string{"config.json", "merges.txt", "pytorch_model.bin", "tokenizer.model", "vocab.txt"}, FormatPyTorch, ""},
		{"mistral format asked of a repo without it", files("config.json", "model.safetensors"), "mistral", nil, "", "no consolidated"},
		{"no weights", files("config.json", "model.gguf"), "", nil, "", "no weights"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sel, err := Select("x/y", tt.files, tt.loadFormat)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || app.KindOf(err) != app.KindBadInput {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			var got []string
			for _, f := range sel.Files {
				got = append(got, f.Path)
			}
			if err != nil || !slices.Equal(got, tt.want) || sel.Format != tt.format {
				t.Fatalf("got %v %q (%v), want %v %q", got, sel.Format, err, tt.want, tt.format)
			}
			if len(sel.Files)+len(sel.Skipped) != len(tt.files) {
				t.Fatalf("selected + skipped = %d, listed %d", len(sel.Files)+len(sel.Skipped), len(tt.files))
			}
		})
	}
}

func TestResolveTarget_CatalogArgsDecideTheFormat(t *testing.T) {
	c, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ model, repo, format string }{
		{"mistral-7b-instruct-v0.3", "mistralai/Mistral-7B-Instruct-v0.3", "mistral"},
		{"mistralai/Codestral-22B-v0.1", "mistralai/Codestral-22B-v0.1", "mistral"},
		{"mixtral-8x7b-instruct", "mistralai/Mixtral-8x7B-Instruct-v0.1", "safetensors"},
		{"codegemma-2b", "google/codegemma-2b", ""},
		{"someone/custom-model", "someone/custom-model", ""},
	}
	for _, tt := range tests {
		got, err := ResolveTarget(c, tt.model, "")
		if err != nil || got.Repo != tt.repo || got.LoadFormat != tt.format {
			t.Errorf("%s: %+v %v, want repo %s format %q", tt.model, got, err, tt.repo, tt.format)
		}
	}
	for _, bad := range []string{"not-in-catalog", "a/b/c", "../x", "org--x/y"} {
		if _, err := ResolveTarget(c, bad, ""); app.KindOf(err) != app.KindBadInput {
			t.Errorf("%q: %v, want bad input", bad, err)
		}
	}
}

func TestTargetFor_DeploymentModelVariantAndExtraArgs(t *testing.T) {
	c := must(bundles.Catalog())
	m := config.Model{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3"}
	if got := must(TargetFor(c, m)); got.Repo != m.HFRepo || got.LoadFormat != LoadFormatMistral {
		t.Fatalf("catalog model: %+v", got)
	}
	m.ExtraArgs = []string{"--load-format", "safetensors"}
	if got := must(TargetFor(c, m)); got.LoadFormat != "safetensors" {
		t.Fatalf("extra args must win: %+v", got)
	}
	cm, _ := c.Find("mistral-7b-instruct-v0.3")
	if len(cm.Quantized) > 0 {
		v := config.Model{HFRepo: cm.HFRepo, Variant: cm.Quantized[0].Repo}
		if got := must(TargetFor(c, v)); got.Repo != cm.Quantized[0].Repo || got.LoadFormat != "" {
			t.Fatalf("variant: %+v", got)
		}
	}
}

func TestEnvFromOS_FollowsHuggingfaceHubPrecedence(t *testing.T) {
	home := t.TempDir()
	secrets := filepath.Join(home, "secrets")
	os.MkdirAll(secrets, 0o700)
	for _, v := range []string{"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "XDG_CACHE_HOME"} {
		t.Setenv(v, "")
	}
	t.Setenv("HOME", home)
	t.Setenv("HF_HOME", "")
	t.Setenv("DUOBOX_HOME", "")

	e := must(EnvFromOS(secrets))
	if e.Endpoint != DefaultEndpoint || e.HubCache != filepath.Join(home, ".cache", "huggingface", "hub") || e.Token != "" || e.Offline {
		t.Fatalf("defaults: %+v", e)
	}
	// With DUOBOX_HOME, the cache (and the model server's bind mount of it) is inside it.
	t.Setenv("DUOBOX_HOME", filepath.Join(home, "duobox"))
	if e = must(EnvFromOS(secrets)); e.HubCache != filepath.Join(home, "duobox", "cache", "huggingface", "hub") {
		t.Fatalf("DUOBOX_HOME: %+v", e)
	}
	t.Setenv("DUOBOX_HOME", "")
	t.Setenv("HF_HOME", filepath.Join(home, "hf"))
	os.MkdirAll(filepath.Join(home, "hf"), 0o700)
	os.WriteFile(filepath.Join(home, "hf", "token"), []byte("hf_from_cli_login\n"), 0o600)
	e = must(EnvFromOS(secrets))
	if e.HubCache != filepath.Join(home, "hf", "hub") || e.Token != "hf_from_cli_login" {
		t.Fatalf("HF_HOME: %+v", e)
	}
	os.WriteFile(filepath.Join(secrets, TokenSecretName), []byte("hf_duobox_secret"), 0o600)
	if e = must(EnvFromOS(secrets)); e.Token != "hf_duobox_secret" || e.TokenSource != filepath.Join(secrets, TokenSecretName) {
		t.Fatalf("secret file: %+v", e)
	}
	t.Setenv("HUGGING_FACE_HUB_TOKEN", "hf_old_name")
	if e = must(EnvFromOS(secrets)); e.Token != "hf_old_name" {
		t.Fatalf("HUGGING_FACE_HUB_TOKEN: %+v", e)
	}
	t.Setenv("HF_TOKEN", "hf_from_env")
	t.Setenv("HF_HUB_CACHE", "~/elsewhere")
	t.Setenv("HF_ENDPOINT", "http://mirror.local:8080/")
	t.Setenv("HF_HUB_OFFLINE", "1")
	e = must(EnvFromOS(secrets))
	if e.Token != "hf_from_env" || e.TokenSource != "HF_TOKEN" || e.HubCache != filepath.Join(home, "elsewhere") ||
		e.Endpoint != "http://mirror.local:8080" || !e.Offline {
		t.Fatalf("env overrides: %+v", e)
	}
}

func TestLoadFormatFromArgs_LastWins(t *testing.T) {
	if got := LoadFormatFromArgs([]string{"--load-format", "mistral"}, []string{"--load_format=safetensors"}); got != "safetensors" {
		t.Fatalf("got %q", got)
	}
	if got := LoadFormatFromArgs([]string{"--tokenizer-mode", "mistral"}); got != "" {
		t.Fatalf("got %q", got)
	}
}
