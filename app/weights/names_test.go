package weights

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/weights/fakehub"
)

// hostileRepo is a small repository whose hub answers change one name.
func hostileRepo(id string, change func(r *fakehub.Repo)) *fakehub.Repo {
	r := &fakehub.Repo{ID: id, Files: []*fakehub.File{
		{Path: "config.json", Data: []byte(`{"architectures":["MistralForCausalLM"]}`)},
		{Path: "tokenizer_config.json", Data: []byte(`{}`)},
		{Path: "model.safetensors", Data: fakehub.Safetensors(20_000, 1), LFS: true},
	}}
	change(r)
	return r
}

// TestPull_FakeHubServer_CraftedNamesNeverLeaveTheCache is the path
// traversal of issue 16: a hub or mirror that answers a crafted blob id,
// sha256, ETag or file name, or a --revision of "../..", must not make a
// pull write outside the cache. Each is refused before anything is opened,
// the victim file outside the cache keeps its content, and nothing is left
// outside the hub cache.
func TestPull_FakeHubServer_CraftedNamesNeverLeaveTheCache(t *testing.T) {
	// root/victim and root/cache/hub: blobs/../../../../victim is root/victim.
	const escape = "../../../../victim"
	cases := []struct {
		name     string
		change   func(r *fakehub.Repo)
		revision string
		badInput bool // refused as the user's input (exit 2), else as the server's fault
	}{
		{name: "git blob id", change: func(r *fakehub.Repo) { r.Files[0].AnnouncedBlobID = escape }},
		{name: "absolute blob id", change: func(r *fakehub.Repo) { r.Files[0].AnnouncedBlobID = "/tmp/victim" }},
		{name: "lfs sha256", change: func(r *fakehub.Repo) { r.Files[2].AnnouncedSHA256 = escape }},
		{name: "etag of a mirror without ?blobs", change: func(r *fakehub.Repo) { r.NoBlobs = true; r.Files[0].AnnouncedBlobID = escape }},
		{name: "file name", change: func(r *fakehub.Repo) { r.Files[0].Path = "../../../../../../victim.json" }},
		{name: "file name with backslash", change: func(r *fakehub.Repo) { r.Files[0].Path = `..\..\config.json` }},
		{name: "commit", change: func(r *fakehub.Repo) { r.Commit = "../../../../victim" }},
		{name: "revision flag", change: func(r *fakehub.Repo) { r.AnyRevision = true }, revision: "../../../../victim", badInput: true},
		{name: "absolute revision", change: func(r *fakehub.Repo) { r.AnyRevision = true }, revision: "/tmp/victim", badInput: true},
		{name: "revision with dot-dot inside", change: func(r *fakehub.Repo) { r.AnyRevision = true }, revision: "refs/../../../victim", badInput: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			victim := filepath.Join(root, "victim")
			if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
				t.Fatal(err)
			}
			repo := hostileRepo("acme/tiny", c.change)
			srv := startHub(t, repo)
			opts := testOptions(t, srv, "acme/tiny")
			opts.Env.HubCache = filepath.Join(root, "cache", "hub")
			opts.Target.Revision = c.revision
			_, err := Pull(context.Background(), opts, nil)
			if err == nil {
				t.Fatal("pull succeeded")
			}
			var p *app.Problem
			if !errors.As(err, &p) {
				t.Fatalf("not a Problem: %v", err)
			}
			if c.badInput {
				if p.Kind != app.KindBadInput || !strings.Contains(p.What, "not a revision name") {
					t.Errorf("got %v (kind %d), want bad input naming the revision", err, p.Kind)
				}
				if n := len(srv.Requests()); n != 0 {
					t.Errorf("the hub was asked %d times for a refused revision", n)
				}
			} else if p.Kind != app.KindEnvironment || !strings.Contains(p.What, "cannot be stored safely") || !strings.Contains(p.What, "nothing was written") {
				t.Errorf("got %v (kind %d), want the hostile-name problem", err, p.Kind)
			}
			if data, _ := os.ReadFile(victim); string(data) != "precious" {
				t.Errorf("victim overwritten: %q", data)
			}
			entries, _ := os.ReadDir(root)
			for _, e := range entries {
				if e.Name() != "victim" && e.Name() != "cache" {
					t.Errorf("%s written outside the cache", e.Name())
				}
			}
			cacheEntries, _ := os.ReadDir(filepath.Join(root, "cache"))
			for _, e := range cacheEntries {
				if e.Name() != "hub" {
					t.Errorf("%s written beside the hub cache", e.Name())
				}
			}
			if files := cacheFiles(t, opts.Env.HubCache); len(files) != 0 {
				t.Errorf("files left in the cache: %v", files)
			}
		})
	}
}

// TestCached_RefPointingOutsideTheCacheIsNotTrusted: a refs/main whose
// content is a path (written by another tool, or tampered) is not a commit;
// up's offline check must not follow it out of the cache.
func TestCached_RefPointingOutsideTheCacheIsNotTrusted(t *testing.T) {
	root := t.TempDir()
	hub := filepath.Join(root, "hub")
	outside := filepath.Join(root, "elsewhere")
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "config.json"), []byte(`{}`), 0o644)
	rc := repoCache{hubCache: hub, repo: "acme/tiny"}
	os.MkdirAll(filepath.Join(rc.dir(), "refs"), 0o755)
	os.WriteFile(rc.ref("main"), []byte("../../../elsewhere"), 0o644)
	if _, ok := Cached(hub, Target{Repo: "acme/tiny"}); ok {
		t.Error("a ref holding a path was trusted")
	}
	if _, ok := Cached(hub, Target{Repo: "acme/tiny", Revision: "../../../elsewhere"}); ok {
		t.Error("a revision that is a path was trusted")
	}
}

func TestNames_ShapesOfRevisionsFileNamesAndRepoIDs(t *testing.T) {
	for _, rev := range []string{"main", "v1.0", "refs/pr/1", "release_2", strings.Repeat("a", 40)} {
		if err := CheckRevision(rev); err != nil {
			t.Errorf("%q refused: %v", rev, err)
		}
	}
	for _, rev := range []string{"", "..", "../..", "/etc", "a/../b", "a//b", ".hidden", "a/.b", "x.lock", "a\\b", "a b", "main/", "-x"} {
		if CheckRevision(rev) == nil {
			t.Errorf("revision %q accepted", rev)
		}
	}
	for _, p := range []string{"config.json", "original/params.json", "a/b/c.safetensors"} {
		if err := checkFileName(p); err != nil {
			t.Errorf("%q refused: %v", p, err)
		}
	}
	for _, p := range []string{"", "..", "../x", "/etc/passwd", "a/../../x", "a//b", "./a", "a/./b", "a\\..\\b", "a\x00b"} {
		if checkFileName(p) == nil {
			t.Errorf("file name %q accepted", p)
		}
	}
	for _, r := range []string{"../x", "a/..", "a/.", "./b", "a/b/c", "a", "a--b/c", "/a/b"} {
		if CheckRepoID(r) == nil {
			t.Errorf("repo id %q accepted", r)
		}
	}
	for _, b := range []string{"abc", strings.Repeat("a", 41), strings.Repeat("G", 40), "../" + strings.Repeat("a", 37)} {
		if checkRemote(RemoteFile{Path: "x.json", BlobID: b}) == nil {
			t.Errorf("blob id %q accepted", b)
		}
	}
}

// TestTargetFor_UpInGPUModeRefusesADeploymentRepoThatIsAPath: `up` in GPU
// mode turns the deployment's model repo into a cache folder name through
// TargetFor before Ensure; a config (or catalog overlay) repo of "../.." is
// refused there, before anything is opened.
func TestTargetFor_UpInGPUModeRefusesADeploymentRepoThatIsAPath(t *testing.T) {
	for _, repo := range []string{"../../../tmp", "acme/..", "acme/../../x", "/etc/x"} {
		_, err := TargetFor(catalog.Catalog{}, config.Model{HFRepo: repo})
		if app.KindOf(err) != app.KindBadInput {
			t.Errorf("repo %q: got %v, want bad input", repo, err)
		}
		if _, ok := Cached(t.TempDir(), Target{Repo: repo}); ok {
			t.Errorf("repo %q: reported cached", repo)
		}
	}
	if _, err := TargetFor(catalog.Catalog{}, config.Model{HFRepo: "acme/tiny"}); err != nil {
		t.Errorf("a good repo refused: %v", err)
	}
}
