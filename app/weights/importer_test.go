package weights

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/weights/fakehub"
)

// modelFolder writes repo's files into a folder, as a copy made on a
// connected machine would look.
func modelFolder(t *testing.T, repo *fakehub.Repo) string {
	t.Helper()
	srv, err := fakehub.New(repo) // hashes the files
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	dir := t.TempDir()
	for _, f := range repo.Files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func importOptions(t *testing.T, repo string) ImportOptions {
	return ImportOptions{Env: Env{HubCache: filepath.Join(t.TempDir(), "hub")}, Target: Target{Repo: repo}, Headroom: -1}
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestImport_HuggingfaceCLIFolderUsesItsMetadataCommitAndChecksums(t *testing.T) {
	repo := mistralLikeRepo("acme/offline")
	dir := modelFolder(t, repo)
	commit := strings.Repeat("c", 40)
	for _, f := range repo.Files {
		etag := f.GitBlobID()
		if f.LFS {
			etag = f.SHA256()
		}
		meta := filepath.Join(dir, ".cache", "huggingface", "download", f.Path+".metadata")
		os.MkdirAll(filepath.Dir(meta), 0o755)
		os.WriteFile(meta, []byte(commit+"\n"+etag+"\n1700000000.0\n"), 0o644)
	}
	opts := importOptions(t, "acme/offline")
	res, err := Import(context.Background(), opts, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != commit || slices.Contains(res.Files, "consolidated.safetensors") || !slices.Contains(res.Files, "model-00001-of-00002.safetensors") {
		t.Fatalf("result %+v", res)
	}
	cached, ok := Cached(opts.Env.HubCache, Target{Repo: "acme/offline"})
	if !ok || cached.Commit != commit {
		t.Fatalf("not usable offline after import: %+v", cached)
	}
	// Blobs carry the names a pull would give them, so a later pull reuses them.
	shard := fileOf(repo, "model-00001-of-00002.safetensors")
	if target, _ := os.Readlink(filepath.Join(res.Snapshot, shard.Path)); target != "../../blobs/"+shard.SHA256() {
		t.Fatalf("shard links to %s", target)
	}
	cfg := fileOf(repo, "config.json")
	if target, _ := os.Readlink(filepath.Join(res.Snapshot, "config.json")); target != "../../blobs/"+cfg.GitBlobID() {
		t.Fatalf("config links to %s, want its git blob id", target)
	}
	if _, err := os.Stat(filepath.Join(dir, shard.Path)); err != nil {
		t.Fatal("import of a folder moved the source's files instead of copying them")
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
}

// writeTarGz packs dir into a .tar.gz under a top folder, as `tar czf x.tgz model/` does.
func writeTarGz(t *testing.T, dir, top string, extra ...tar.Header) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "model.tar.gz")
	f, _ := os.Create(out)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: top + "/" + filepath.ToSlash(rel), Mode: 0o644}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, must(os.Readlink(p))
			return tw.WriteHeader(hdr)
		case info.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, hdr.Name+"/"
			return tw.WriteHeader(hdr)
		}
		data, _ := os.ReadFile(p)
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(data))
		tw.WriteHeader(hdr)
		_, err = tw.Write(data)
		return err
	})
	for _, h := range extra {
		tw.WriteHeader(&h)
		tw.Write(make([]byte, h.Size))
	}
	tw.Close()
	gz.Close()
	f.Close()
	return out
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestImport_TarGzWithSHA256SUMSInMistralFormat(t *testing.T) {
	repo := mistralLikeRepo("acme/archive")
	dir := modelFolder(t, repo)
	var sums strings.Builder
	for _, f := range repo.Files {
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256(), f.Path)
	}
	os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sums.String()), 0o644)
	archive := writeTarGz(t, dir, "chat-7b")
	opts := importOptions(t, "acme/archive")
	opts.Target.LoadFormat = LoadFormatMistral
	res, err := Import(context.Background(), opts, archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Format != FormatMistral || !slices.Contains(res.Files, "consolidated.safetensors") || slices.Contains(res.Files, "model-00001-of-00002.safetensors") {
		t.Fatalf("result %+v", res)
	}
	if _, ok := Cached(opts.Env.HubCache, opts.Target); !ok {
		t.Fatal("imported model not complete in the cache")
	}
	// The staging folder is gone, and every blob is a file of the repo.
	for _, p := range cacheFiles(t, opts.Env.HubCache) {
		if strings.Contains(p, "duobox-import") {
			t.Errorf("staging left: %s", p)
		}
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)

	// The same files give the same derived commit: a re-import is idempotent.
	again, err := Import(context.Background(), opts, archive, nil)
	if err != nil || again.Commit != res.Commit {
		t.Fatalf("re-import: %v, commit %s vs %s", err, again.Commit, res.Commit)
	}
}

func TestImport_FakeHubServer_ACopiedCacheFolderKeepsItsCommit(t *testing.T) {
	repo := mistralLikeRepo("acme/copied")
	srv := startHub(t, repo)
	online := testOptions(t, srv, "acme/copied")
	if _, err := Pull(context.Background(), online, nil); err != nil {
		t.Fatal(err)
	}
	// The connected machine tars its cache folder, links and all.
	archive := writeTarGz(t, filepath.Join(online.Env.HubCache, FolderName("acme/copied")), FolderName("acme/copied"))
	opts := importOptions(t, "acme/copied")
	res, err := Import(context.Background(), opts, archive, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Commit != repo.Commit {
		t.Fatalf("commit %s, want the pulled %s", res.Commit, repo.Commit)
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
}

func TestImport_DamagedOrIncompleteCopiesAreRefusedAndTheCacheStaysClean(t *testing.T) {
	tests := []struct {
		name    string
		damage  func(dir string, repo *fakehub.Repo)
		wantErr string
	}{
		{"checksum differs from SHA256SUMS", func(dir string, repo *fakehub.Repo) {
			f := fileOf(repo, "model-00002-of-00002.safetensors")
			os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(sha256Hex([]byte("other"))+"  "+f.Path+"\n"), 0o644)
		}, "sha256 mismatch"},
		{"truncated safetensors", func(dir string, repo *fakehub.Repo) {
			p := filepath.Join(dir, "model-00002-of-00002.safetensors")
			os.Truncate(p, 150_000)
		}, "truncated"},
		{"missing shard", func(dir string, repo *fakehub.Repo) {
			os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors"))
		}, "model-00002-of-00002.safetensors is missing"},
		{"not a model folder", func(dir string, repo *fakehub.Repo) {
			os.Remove(filepath.Join(dir, "config.json"))
			os.Remove(filepath.Join(dir, "params.json"))
		}, "no config.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := mistralLikeRepo("acme/damaged")
			dir := modelFolder(t, repo)
			tt.damage(dir, repo)
			opts := importOptions(t, "acme/damaged")
			_, err := Import(context.Background(), opts, dir, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || app.KindOf(err) != app.KindBadInput {
				t.Fatalf("error %v, want bad input mentioning %q", err, tt.wantErr)
			}
			for _, p := range cacheFiles(t, opts.Env.HubCache) {
				if strings.Contains(p, "/refs/") || strings.Contains(p, "/snapshots/") || strings.HasSuffix(p, ".incomplete") {
					t.Errorf("left after a refused import: %s", p)
				}
			}
			checkNothingCorrupt(t, opts.Env.HubCache, repo)
		})
	}
}

func TestImport_ArchiveEntryLeavingItsFolderIsRefused(t *testing.T) {
	repo := mistralLikeRepo("acme/evil")
	archive := writeTarGz(t, modelFolder(t, repo), "m", tar.Header{Name: "../../escape.txt", Typeflag: tar.TypeReg, Size: 4, Mode: 0o644})
	opts := importOptions(t, "acme/evil")
	_, err := Import(context.Background(), opts, archive, nil)
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("error %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(opts.Env.HubCache), "escape.txt")); err == nil {
		t.Fatal("an archive entry was written outside the staging folder")
	}
	if left := cacheFiles(t, opts.Env.HubCache); left != nil {
		t.Fatalf("left behind: %v", left)
	}
}
