package weights

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/weights/fakehub"
)

// mistralLikeRepo is a fake repository shaped like mistralai's: HF shards
// and consolidated.safetensors side by side, plus files vLLM never loads.
func mistralLikeRepo(id string) *fakehub.Repo {
	return &fakehub.Repo{ID: id, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["MistralForCausalLM"]}`)},
		{Path: "generation_config.json", Data: []byte(`{"do_sample":true}`)},
		{Path: "params.json", Data: []byte(`{"dim":4096}`)},
		{Path: "tokenizer.json", Data: bytes.Repeat([]byte("t"), 3000), LFS: true},
		{Path: "tokenizer_config.json", Data: []byte(`{}`)},
		{Path: "special_tokens_map.json", Data: []byte(`{}`)}, // the same content: one blob, sharedBytes
		{Path: "tokenizer.model.v3", Data: bytes.Repeat([]byte("m"), 2000), LFS: true},
		{Path: "model-00001-of-00002.safetensors", Data: fakehub.Safetensors(300_000, 1), LFS: true},
		{Path: "model-00002-of-00002.safetensors", Data: fakehub.Safetensors(200_000, 2), LFS: true},
		{Path: "model.safetensors.index.json", Data: []byte(`{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}`)},
		{Path: "consolidated.safetensors", Data: fakehub.Safetensors(480_000, 3), LFS: true},
		{Path: "README.md", Data: []byte("# model")},
		{Path: ".gitattributes", Data: []byte("*.safetensors filter=lfs")},
		{Path: "pytorch_model.bin", Data: bytes.Repeat([]byte("p"), 1000), LFS: true},
		{Path: "original/consolidated.00.pth", Data: bytes.Repeat([]byte("o"), 1000), LFS: true},
	}}
}

// sharedBytes is the size of the content two files of mistralLikeRepo share:
// it is downloaded and stored once.
const sharedBytes = int64(len("{}"))

func startHub(t *testing.T, repos ...*fakehub.Repo) *fakehub.Server {
	t.Helper()
	srv, err := fakehub.New(repos...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// testOptions pulls from srv into a fresh cache with quick retries and no headroom.
func testOptions(t *testing.T, srv *fakehub.Server, repo string) Options {
	return Options{
		Env:     Env{Endpoint: srv.URL, HubCache: filepath.Join(t.TempDir(), "hub")},
		Target:  Target{Repo: repo},
		Backoff: 10 * time.Millisecond, Headroom: -1, ProgressInterval: 10 * time.Millisecond,
	}
}

func fileOf(r *fakehub.Repo, path string) *fakehub.File {
	for _, f := range r.Files {
		if f.Path == path {
			return f
		}
	}
	panic("no file " + path)
}

// cacheFiles lists the paths under the hub cache except lock files, for
// "nothing left behind" checks.
func cacheFiles(t *testing.T, hubCache string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(hubCache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(hubCache, p)
			if !strings.HasPrefix(rel, ".locks") {
				out = append(out, rel)
			}
		}
		return nil
	})
	return out
}

// checkNothingCorrupt fails when a blob or an interrupted download in the
// cache is not (a prefix of) the file of repo it is named after.
func checkNothingCorrupt(t *testing.T, hubCache string, repo *fakehub.Repo) {
	t.Helper()
	for _, p := range cacheFiles(t, hubCache) {
		if !strings.Contains(p, "/blobs/") {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(p), ".incomplete")
		data, _ := os.ReadFile(filepath.Join(hubCache, p))
		var match *fakehub.File
		for _, f := range repo.Files {
			if f.SHA256() == name || f.GitBlobID() == name {
				match = f
			}
		}
		switch {
		case match == nil:
			t.Errorf("%s is named after no file of the repo", p)
		case len(data) == 0:
			t.Errorf("%s is empty", p)
		case strings.HasSuffix(p, ".incomplete") && !bytes.HasPrefix(match.Data, data):
			t.Errorf("%s is not a prefix of %s", p, match.Path)
		case !strings.HasSuffix(p, ".incomplete") && !bytes.Equal(match.Data, data):
			t.Errorf("%s is not %s", p, match.Path)
		}
	}
}

func TestPull_FakeHubServer_WritesTheHFCacheLayoutWithOnlyWhatVLLMLoads(t *testing.T) {
	repo := mistralLikeRepo("acme/chat-7b")
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/chat-7b")
	var reports []Progress
	res, err := Pull(context.Background(), opts, func(p Progress) { reports = append(reports, p) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"config.json", "generation_config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
		"model.safetensors.index.json", "params.json", "special_tokens_map.json", "tokenizer.json", "tokenizer.model.v3", "tokenizer_config.json"}
	if !slices.Equal(res.Files, want) {
		t.Fatalf("files %v, want %v", res.Files, want)
	}
	for _, skipped := range []string{"consolidated.safetensors", "README.md", "pytorch_model.bin", "original/consolidated.00.pth"} {
		if !slices.Contains(res.Skipped, skipped) {
			t.Errorf("%s not reported skipped: %v", skipped, res.Skipped)
		}
		if n := len(srv.ContentRequests("/" + skipped)); n != 0 {
			t.Errorf("%s downloaded %d times", skipped, n)
		}
	}
	dir := filepath.Join(opts.Env.HubCache, "models--acme--chat-7b")
	ref, err := os.ReadFile(filepath.Join(dir, "refs", "main"))
	if err != nil || string(ref) != repo.Commit {
		t.Fatalf("refs/main = %q (%v), want %s", ref, err, repo.Commit)
	}
	if res.Snapshot != filepath.Join(dir, "snapshots", repo.Commit) {
		t.Fatalf("snapshot %s", res.Snapshot)
	}
	for _, p := range want {
		f := fileOf(repo, p)
		link := filepath.Join(res.Snapshot, p)
		target, err := os.Readlink(link)
		if err != nil {
			t.Fatalf("%s is not a symlink: %v", p, err)
		}
		// huggingface_hub names LFS blobs by sha256; the others by their git blob id (the ETag).
		if f.LFS && target != "../../blobs/"+f.SHA256() {
			t.Errorf("%s -> %s, want ../../blobs/%s", p, target, f.SHA256())
		}
		if !f.LFS && (filepath.Dir(target) != "../../blobs" || len(filepath.Base(target)) != 40) {
			t.Errorf("%s -> %s, want ../../blobs/<git blob id>", p, target)
		}
		got, err := os.ReadFile(link)
		if err != nil || !bytes.Equal(got, f.Data) {
			t.Errorf("%s content differs (%v)", p, err)
		}
	}
	last := reports[len(reports)-1]
	if last.Phase != PhaseDone || last.BytesDone != res.Bytes || last.FilesDone != len(want) || res.Fetched != res.Bytes-sharedBytes {
		t.Fatalf("last progress %+v, result %+v", last, res)
	}
	if c, ok := Cached(opts.Env.HubCache, opts.Target); !ok || c.Commit != repo.Commit {
		t.Fatalf("Cached = %+v, %v after a pull", c, ok)
	}

	// A second pull finds everything in place and transfers nothing.
	before := len(srv.ContentRequests(""))
	again, err := Pull(context.Background(), opts, nil)
	if err != nil || again.Fetched != 0 || again.Reused != res.Bytes || len(srv.ContentRequests("")) != before {
		t.Fatalf("second pull fetched %d, reused %d, %d new requests, err %v", again.Fetched, again.Reused, len(srv.ContentRequests(""))-before, err)
	}
}

func TestPull_FakeHubServer_CutConnectionResumesWithRangeNotRestart(t *testing.T) {
	repo := mistralLikeRepo("acme/cut")
	shard := fileOf(repo, "model-00001-of-00002.safetensors")
	shard.CutAfter = 123_457
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/cut")
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.ContentRequests("/" + shard.Path)
	if len(reqs) != 2 || reqs[0].Range != "" || reqs[1].Range != "bytes=123457-" {
		t.Fatalf("requests for the cut file: %+v, want a full GET then Range bytes=123457-", reqs)
	}
	if res.Fetched != res.Bytes-sharedBytes {
		t.Fatalf("fetched %d bytes for %d: the cut file was restarted, not resumed", res.Fetched, res.Bytes)
	}
	got, _ := os.ReadFile(filepath.Join(res.Snapshot, shard.Path))
	if !bytes.Equal(got, shard.Data) {
		t.Fatal("resumed file differs from the original")
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
}

func TestPull_FakeHubServer_ResumesWhatAnEarlierRunLeft(t *testing.T) {
	repo := mistralLikeRepo("acme/later")
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/later")
	shard := fileOf(repo, "model-00002-of-00002.safetensors")
	// An earlier run died after 50,000 bytes, as an interrupted huggingface_hub download would leave it.
	blobs := filepath.Join(opts.Env.HubCache, "models--acme--later", "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, shard.SHA256()+".incomplete"), shard.Data[:50_000], 0o644)
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reqs := srv.ContentRequests("/" + shard.Path); len(reqs) != 1 || reqs[0].Range != "bytes=50000-" {
		t.Fatalf("requests %+v, want one Range bytes=50000-", reqs)
	}
	if res.Reused != 50_000 || res.Fetched != res.Bytes-sharedBytes-50_000 {
		t.Fatalf("reused %d fetched %d of %d", res.Reused, res.Fetched, res.Bytes)
	}
	if got, _ := os.ReadFile(filepath.Join(res.Snapshot, shard.Path)); !bytes.Equal(got, shard.Data) {
		t.Fatal("resumed file differs")
	}
}

func TestPull_FakeHubServer_WrongChecksumIsRejectedAndTheCacheStaysClean(t *testing.T) {
	repo := mistralLikeRepo("acme/corrupt")
	shard := fileOf(repo, "model-00002-of-00002.safetensors")
	shard.AnnouncedSHA256 = strings.Repeat("ab", 32)
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/corrupt")
	_, err := Pull(context.Background(), opts, nil)
	if err == nil {
		t.Fatal("a file with a wrong checksum was accepted")
	}
	for _, want := range []string{shard.Path, "sha256 mismatch", shard.AnnouncedSHA256, shard.SHA256(), "removed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	for _, p := range cacheFiles(t, opts.Env.HubCache) {
		if strings.Contains(p, shard.AnnouncedSHA256) || strings.Contains(p, shard.SHA256()) ||
			strings.Contains(p, shard.Path) || strings.Contains(p, "refs") {
			t.Errorf("left in the cache after a failed verification: %s", p)
		}
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
	if _, ok := Cached(opts.Env.HubCache, opts.Target); ok {
		t.Fatal("a failed pull counts as cached")
	}
}

func TestPull_FakeHubServer_GatedRepoNamesThePageAndWhetherATokenWasSent(t *testing.T) {
	repo := mistralLikeRepo("acme/gated")
	repo.Gated, repo.Tokens = true, []string{"hf_granted"}
	srv := startHub(t, repo)
	tests := []struct {
		name, token string
		status      int
		wantNote    string
	}{
		{"no token", "", 401, "no token was sent"},
		{"token without access", "hf_other", 403, "a token was sent (from HF_TOKEN)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := testOptions(t, srv, "acme/gated")
			if tt.token != "" {
				opts.Env.Token, opts.Env.TokenSource = tt.token, "HF_TOKEN"
			}
			_, err := Pull(context.Background(), opts, nil)
			var gated *GatedError
			if !errors.As(err, &gated) || gated.Status != tt.status {
				t.Fatalf("error %v, want a GatedError with HTTP %d", err, tt.status)
			}
			for _, want := range []string{"open " + srv.URL + "/acme/gated", "accept the terms", tt.wantNote} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "hf_other") {
				t.Error("the token itself is in the message")
			}
			if app.KindOf(err) != app.KindEnvironment {
				t.Errorf("kind %v", app.KindOf(err))
			}
			if left := cacheFiles(t, opts.Env.HubCache); left != nil {
				t.Errorf("left after a refusal: %v", left)
			}
			if _, err := os.Stat(filepath.Join(opts.Env.HubCache, FolderName("acme/gated"))); err == nil {
				t.Error("an empty model folder is left after a refusal")
			}
		})
	}
	opts := testOptions(t, srv, "acme/gated")
	opts.Env.Token = "hf_granted"
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatalf("with a granted token: %v", err)
	}
}

func TestPull_FakeHubServer_RepoWithBothWeightFormatsDownloadsOne(t *testing.T) {
	srv := startHub(t, mistralLikeRepo("acme/both"))
	shards := []string{"/model-00001-of-00002.safetensors", "/model-00002-of-00002.safetensors"}

	hf := testOptions(t, srv, "acme/both")
	res, err := Pull(context.Background(), hf, nil)
	if err != nil || res.Format != FormatSafetensors {
		t.Fatalf("default pull: format %q, %v", res.Format, err)
	}
	if n := len(srv.ContentRequests("/consolidated.safetensors")); n != 0 {
		t.Fatalf("consolidated.safetensors downloaded %d times in a default pull", n)
	}

	mistral := testOptions(t, srv, "acme/both")
	mistral.Target.LoadFormat = LoadFormatMistral
	res, err = Pull(context.Background(), mistral, nil)
	if err != nil || res.Format != FormatMistral {
		t.Fatalf("mistral pull: format %q, %v", res.Format, err)
	}
	if !slices.Contains(res.Files, "consolidated.safetensors") || !slices.Contains(res.Files, "params.json") {
		t.Fatalf("mistral pull files %v", res.Files)
	}
	for _, s := range shards {
		if n := len(srv.ContentRequests(s)); n != 1 {
			t.Errorf("%s downloaded %d times over both pulls, want 1 (the default pull only)", s, n)
		}
		if slices.Contains(res.Files, strings.TrimPrefix(s, "/")) {
			t.Errorf("mistral pull took %s", s)
		}
	}
}

// mountTmpfs mounts a small tmpfs for the disk-space test; it skips when this
// machine does not allow mounting, except under CI.
func mountTmpfs(t *testing.T, size string) string {
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %s tmpfs (needed for the disk-space test): %v %s", size, err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func TestPull_FakeHubServer_TooLittleDiskIsRefusedBeforeDownloading(t *testing.T) {
	small := mountTmpfs(t, "2m")
	big := &fakehub.Repo{ID: "acme/big", Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(3_000_000, 1), LFS: true},
	}}
	fits := &fakehub.Repo{ID: "acme/fits", Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(1_500_000, 2), LFS: true},
	}}
	srv := startHub(t, big, fits)
	opts := testOptions(t, srv, "acme/big")
	opts.Env.HubCache = filepath.Join(small, "hub")
	_, err := Pull(context.Background(), opts, nil)
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(fmt.Sprint(err), "not enough disk space") {
		t.Fatalf("error %v, want a refusal for disk space", err)
	}
	// It fits without headroom, not with 1 MB of it.
	opts.Target.Repo, opts.Headroom = "acme/fits", 1_000_000
	if _, err = Pull(context.Background(), opts, nil); err == nil || !strings.Contains(err.Error(), "1.0 MB headroom") {
		t.Fatalf("error %v, want a refusal naming the headroom", err)
	}
	if reqs := srv.ContentRequests(""); len(reqs) != 0 {
		t.Fatalf("%d downloads started before the space check refused", len(reqs))
	}
	opts.Headroom = -1
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatalf("a download that fits was refused: %v", err)
	}
}

func TestPull_FakeHubServer_ConcurrentPullsOfOneModelOneWinsTheOtherWaits(t *testing.T) {
	repo := mistralLikeRepo("acme/twice")
	srv := startHub(t, repo)
	release := make(chan struct{})
	var holdOnce sync.Once
	held := make(chan struct{})
	srv.BeforeContent = func(_, path, _ string) int {
		if path == "model-00001-of-00002.safetensors" {
			holdOnce.Do(func() { close(held) })
			<-release
		}
		return 0
	}
	opts := testOptions(t, srv, "acme/twice")
	type outcome struct {
		res Result
		err error
	}
	first, second := make(chan outcome, 1), make(chan outcome, 1)
	go func() { r, err := Pull(context.Background(), opts, nil); first <- outcome{r, err} }()
	<-held // the first pull holds the model lock and is downloading
	waiting := make(chan struct{})
	var waitOnce sync.Once
	go func() {
		r, err := Pull(context.Background(), opts, func(p Progress) {
			if p.Phase == PhaseWaiting {
				waitOnce.Do(func() { close(waiting) })
			}
		})
		second <- outcome{r, err}
	}()
	select {
	case <-waiting:
	case o := <-second:
		t.Fatalf("the second pull did not wait: %+v", o)
	case <-time.After(10 * time.Second):
		t.Fatal("the second pull never reported waiting")
	}
	close(release)
	a, b := <-first, <-second
	if a.err != nil || b.err != nil {
		t.Fatalf("pulls failed: %v / %v", a.err, b.err)
	}
	if a.res.Waited || !b.res.Waited || a.res.Fetched != a.res.Bytes-sharedBytes || b.res.Fetched != 0 || b.res.Commit != a.res.Commit {
		t.Fatalf("first %+v\nsecond %+v", a.res, b.res)
	}
	if n := len(srv.ContentRequests("/model-00001-of-00002.safetensors")); n != 1 {
		t.Fatalf("the shard was downloaded %d times", n)
	}
}

func TestPull_FakeHubServer_UnknownRepoAndRevisionAreBadInput(t *testing.T) {
	srv := startHub(t, mistralLikeRepo("acme/known"))
	opts := testOptions(t, srv, "acme/unknown")
	if _, err := Pull(context.Background(), opts, nil); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "acme/unknown not found") {
		t.Fatalf("unknown repo: %v", err)
	}
	opts.Target = Target{Repo: "acme/known", Revision: "v9"}
	if _, err := Pull(context.Background(), opts, nil); app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), `"v9" not found`) {
		t.Fatalf("unknown revision: %v", err)
	}
	if cacheFiles(t, opts.Env.HubCache) != nil {
		t.Fatal("a refused pull wrote to the cache")
	}
}

func TestEnsure_FakeHubServer_UsesACompleteCacheWithoutTheNetwork(t *testing.T) {
	srv := startHub(t, mistralLikeRepo("acme/ensure"))
	opts := testOptions(t, srv, "acme/ensure")
	if _, err := Ensure(context.Background(), opts, nil); err != nil {
		t.Fatal(err)
	}
	srv.Close() // from now on any network use fails
	opts.Env.Offline = true
	res, err := Ensure(context.Background(), opts, nil)
	if err != nil || !res.Cached || res.Fetched != 0 {
		t.Fatalf("Ensure on a complete cache: %+v, %v", res, err)
	}
	// Another format of the same repo is not there: Ensure must not pretend.
	opts.Target.LoadFormat = LoadFormatMistral
	if _, err := Ensure(context.Background(), opts, nil); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("Ensure for a missing format: %v", err)
	}
}

func TestPull_FakeHubServer_RetriesABusyServerWithBackoff(t *testing.T) {
	repo := mistralLikeRepo("acme/busy")
	shard := fileOf(repo, "model-00001-of-00002.safetensors")
	shard.FailFirst = 2
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/busy")
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatalf("two 503s then success: %v", err)
	}
	if n := len(srv.ContentRequests("/" + shard.Path)); n != 3 {
		t.Fatalf("%d requests, want 3 (two refused, one served)", n)
	}

	shard.FailFirst = 1
	opts = testOptions(t, srv, "acme/busy")
	opts.Retries = -1
	_, err := Pull(context.Background(), opts, nil)
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(fmt.Sprint(err), "503") {
		t.Fatalf("without retries: %v", err)
	}
}

func TestPull_FakeHubServer_AStalledTransferIsRetried(t *testing.T) {
	repo := mistralLikeRepo("acme/stall")
	srv := startHub(t, repo)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	var once sync.Once
	srv.BeforeContent = func(_, path, _ string) int {
		if path == "model-00002-of-00002.safetensors" {
			hang := false
			once.Do(func() { hang = true })
			if hang {
				<-release // the first request never sends a byte
			}
		}
		return 0
	}
	opts := testOptions(t, srv, "acme/stall")
	opts.Stall = 200 * time.Millisecond
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatal(err)
	}
	var cdn int
	for _, r := range srv.Requests() {
		if r.Path == "/cdn/acme/stall/model-00002-of-00002.safetensors" {
			cdn++
		}
	}
	if served := len(srv.ContentRequests("/model-00002-of-00002.safetensors")); cdn != 2 || served != 1 {
		t.Fatalf("%d requests for the stalled file, %d answered; want 2 and 1", cdn, served)
	}
}

func TestPull_FakeHubServer_InterruptedPullKeepsItsBytesForTheNextRun(t *testing.T) {
	repo := mistralLikeRepo("acme/ctrl-c")
	shard := fileOf(repo, "model-00001-of-00002.safetensors")
	shard.CutAfter = 100_000 // the first request stops after 100,000 bytes…
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/ctrl-c")
	opts.Backoff = time.Minute // …and the user presses Ctrl-C during the backoff
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(srv.ContentRequests("/"+shard.Path)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	_, err := Pull(ctx, opts, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted") || !strings.Contains(err.Error(), "resumes") {
		t.Fatalf("error %v", err)
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.ContentRequests("/" + shard.Path)
	if last := reqs[len(reqs)-1]; last.Range != "bytes=100000-" || res.Reused < 100_000 {
		t.Fatalf("next run: last request %+v, reused %d", last, res.Reused)
	}
}

// chunkRanges lists the Range headers a file's bytes were served for.
func chunkRanges(srv *fakehub.Server, path string) []string {
	var out []string
	for _, r := range srv.ContentRequests("/" + path) {
		out = append(out, r.Range)
	}
	return out
}

func TestPull_FakeHubServer_ALargeFileDownloadsAsParallelRangesInOrder(t *testing.T) {
	repo := mistralLikeRepo("acme/large")
	big := fileOf(repo, "consolidated.safetensors") // 480,000 bytes: 8 chunks of 64 KiB
	srv := startHub(t, repo)
	var inFlight, most atomic.Int32
	srv.BeforeContent = func(_, path, _ string) int {
		if path == big.Path {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			time.Sleep(20 * time.Millisecond)
			inFlight.Add(-1)
		}
		return 0
	}
	opts := testOptions(t, srv, "acme/large")
	opts.Target.LoadFormat, opts.ChunkSize = LoadFormatMistral, 64<<10
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for from := 0; from < len(big.Data); from += 64 << 10 {
		want = append(want, fmt.Sprintf("bytes=%d-%d", from, min(from+64<<10, len(big.Data))-1))
	}
	got := chunkRanges(srv, big.Path)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ranges served %v, want each chunk once: %v", got, want)
	}
	if most.Load() < 2 {
		t.Fatalf("at most %d chunk requests ran at once, want several", most.Load())
	}
	if data, _ := os.ReadFile(filepath.Join(res.Snapshot, big.Path)); !bytes.Equal(data, big.Data) {
		t.Fatal("reassembled file differs")
	}

	// With as many large files as connections, each file is one stream.
	opts = testOptions(t, srv, "acme/large")
	opts.Jobs, opts.ChunkSize = 2, 32<<10
	if _, err := Pull(context.Background(), opts, nil); err != nil {
		t.Fatal(err)
	}
	for _, shard := range []string{"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"} {
		if got := chunkRanges(srv, shard); !slices.Equal(got, []string{""}) {
			t.Errorf("%s served as %v, want one whole-file request", shard, got)
		}
	}
}

func TestPull_FakeHubServer_AFailedChunkResumesFromTheWrittenPrefix(t *testing.T) {
	repo := mistralLikeRepo("acme/chunkfail")
	big := fileOf(repo, "consolidated.safetensors")
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/chunkfail")
	opts.Target.LoadFormat, opts.ChunkSize = LoadFormatMistral, 64<<10
	failing := fmt.Sprintf("bytes=%d-%d", 3*64<<10, 4*64<<10-1)
	var once sync.Once
	srv.BeforeContent = func(_, path, rangeHeader string) int {
		status := 0
		if path == big.Path && rangeHeader == failing {
			once.Do(func() { status = http.StatusBadGateway })
		}
		return status
	}
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The retry starts at the failed chunk: chunks 0-2 were written in order before it.
	if got := chunkRanges(srv, big.Path); !slices.Contains(got, failing) {
		t.Fatalf("ranges %v never retried %s", got, failing)
	}
	if data, _ := os.ReadFile(filepath.Join(res.Snapshot, big.Path)); !bytes.Equal(data, big.Data) {
		t.Fatal("file differs after a failed chunk")
	}
	if res.Fetched > res.Bytes+int64(2*opts.Jobs)*opts.ChunkSize {
		t.Fatalf("fetched %d of %d: more than the buffered chunks were fetched again", res.Fetched, res.Bytes)
	}
}

func TestPull_FakeHubServer_AServerIgnoringRangesStillWorks(t *testing.T) {
	repo := mistralLikeRepo("acme/norange")
	big := fileOf(repo, "consolidated.safetensors")
	big.IgnoreRange = true
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/norange")
	opts.Target.LoadFormat, opts.ChunkSize = LoadFormatMistral, 64<<10
	// An earlier run left a prefix; the server will not resume it, so it starts over.
	blobs := filepath.Join(opts.Env.HubCache, FolderName("acme/norange"), "blobs")
	os.MkdirAll(blobs, 0o755)
	os.WriteFile(filepath.Join(blobs, big.SHA256()+".incomplete"), big.Data[:100_000], 0o644)
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(srv.ContentRequests("/" + big.Path)); n != 1 {
		t.Fatalf("%d requests, want one whole-file answer", n)
	}
	if data, _ := os.ReadFile(filepath.Join(res.Snapshot, big.Path)); !bytes.Equal(data, big.Data) {
		t.Fatal("file differs")
	}
}

func TestPull_FakeHubServer_AMirrorWithoutBlobDataIsReadThroughHEAD(t *testing.T) {
	repo := mistralLikeRepo("acme/mirror")
	repo.NoBlobs = true
	srv := startHub(t, repo)
	opts := testOptions(t, srv, "acme/mirror")
	res, err := Pull(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	heads := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodHead {
			heads++
		}
	}
	if heads != len(res.Files) {
		t.Fatalf("%d HEAD requests for %d files", heads, len(res.Files))
	}
	shard := fileOf(repo, "model-00001-of-00002.safetensors")
	if target, _ := os.Readlink(filepath.Join(res.Snapshot, shard.Path)); target != "../../blobs/"+shard.SHA256() {
		t.Fatalf("blob name from X-Linked-Etag: %s", target)
	}
	checkNothingCorrupt(t, opts.Env.HubCache, repo)
}
