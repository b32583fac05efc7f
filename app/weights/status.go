package weights

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/filelock"
)

// CachedModel is one repository in the hub cache.
type CachedModel struct {
	Repo         string           `json:"repo"`
	Dir          string           `json:"dir"`
	Bytes        int64            `json:"bytes"`         // complete blobs on disk
	PartialBytes int64            `json:"partial_bytes"` // interrupted downloads (blobs/*.incomplete)
	Complete     bool             `json:"complete"`      // a ref points at a complete snapshot
	Snapshots    []CachedSnapshot `json:"snapshots"`
}

// CachedSnapshot is one snapshots/<commit> folder.
type CachedSnapshot struct {
	Commit   string   `json:"commit"`
	Refs     []string `json:"refs,omitempty"` // revisions pointing at it
	Format   Format   `json:"format,omitempty"`
	Files    int      `json:"files"`
	Bytes    int64    `json:"bytes"`
	Complete bool     `json:"complete"`
	Problem  string   `json:"problem,omitempty"` // why it is not complete
}

// Cached reports whether the cache holds target complete, without the
// network: refs/<revision> (or the commit itself) names a snapshot whose
// links all resolve, whose weights are in the target's format and complete
// (every shard of the index present, every safetensors file as long as its
// header says), and which has a config.
func Cached(hubCache string, t Target) (Result, bool) {
	if CheckRepoID(t.Repo) != nil || CheckRevision(t.revision()) != nil {
		return Result{}, false
	}
	rc := repoCache{hubCache: hubCache, repo: t.Repo}
	commit, ok := rc.commitFor(t.revision())
	if !ok {
		return Result{}, false
	}
	sel, problem := checkSnapshot(t.Repo, rc.snapshot(commit), t.LoadFormat)
	if problem != "" {
		return Result{}, false
	}
	r := Result{Repo: t.Repo, Revision: t.revision(), Commit: commit, Format: sel.Format,
		Snapshot: rc.snapshot(commit), Files: sel.Paths(), Bytes: sel.Bytes(), Reused: sel.Bytes(), Cached: true}
	return r, true
}

// checkSnapshot selects what vLLM would load from a snapshot folder and says
// what is missing or broken ("" when complete).
func checkSnapshot(repo, dir, loadFormat string) (Selection, string) {
	var files []RemoteFile
	problem := ""
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st, err := os.Stat(p)
		if err != nil {
			problem = rel + " points at a missing blob"
			return nil
		}
		files = append(files, RemoteFile{Path: filepath.ToSlash(rel), Size: st.Size()})
		return nil
	})
	if err != nil {
		return Selection{}, "cannot read " + dir
	}
	if problem != "" {
		return Selection{}, problem
	}
	sel, err := Select(repo, files, loadFormat)
	if err != nil {
		return Selection{}, err.Error()
	}
	have := map[string]bool{}
	for _, f := range sel.Files {
		have[f.Path] = true
	}
	if !have["config.json"] && !have["params.json"] {
		return sel, "no config.json or params.json"
	}
	for _, f := range sel.Files {
		full := filepath.Join(dir, filepath.FromSlash(f.Path))
		switch {
		case strings.HasSuffix(f.Path, ".index.json"):
			shards, err := indexShards(full)
			if err != nil {
				return sel, err.Error()
			}
			for _, s := range shards {
				if !have[s] {
					return sel, s + " is missing (listed in " + f.Path + ")"
				}
			}
		case strings.HasSuffix(f.Path, ".safetensors"):
			if err := checkSafetensors(full, f.Path, f.Size); err != nil {
				return sel, err.Error()
			}
		}
	}
	return sel, ""
}

// indexShards lists the files a *.index.json weight map points to.
func indexShards(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s is not a weight index: %v", filepath.Base(path), err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range idx.WeightMap {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out, nil
}

// checkSafetensors compares the size of the safetensors file at path (called
// name in errors) with what its header says: 8 bytes of header length, the
// JSON header, then the tensors up to the largest end offset. A truncated
// copy fails.
func checkSafetensors(path, name string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var n uint64
	if err := binary.Read(f, binary.LittleEndian, &n); err != nil || n > 100<<20 || int64(n)+8 > size {
		return fmt.Errorf("%s is not a complete safetensors file (bad header length)", name)
	}
	header := map[string]json.RawMessage{}
	if err := json.NewDecoder(io.LimitReader(f, int64(n))).Decode(&header); err != nil {
		return fmt.Errorf("%s is not a complete safetensors file: %v", name, err)
	}
	var end int64
	for key, raw := range header {
		if key == "__metadata__" {
			continue
		}
		var t struct {
			Offsets [2]int64 `json:"data_offsets"`
		}
		if json.Unmarshal(raw, &t) == nil && t.Offsets[1] > end {
			end = t.Offsets[1]
		}
	}
	if want := 8 + int64(n) + end; want != size {
		return fmt.Errorf("%s is %d bytes, its header says %d: the copy is truncated or damaged", name, size, want)
	}
	return nil
}

// Status lists the repositories in the hub cache with their sizes and
// whether they are complete; repo, when not empty, keeps only that one.
func Status(hubCache, repo string) ([]CachedModel, error) {
	entries, err := os.ReadDir(hubCache)
	if errors.Is(err, os.ErrNotExist) {
		return []CachedModel{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the hub cache %s: %w", hubCache, err)
	}
	out := []CachedModel{}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "models--") {
			continue
		}
		name := strings.ReplaceAll(strings.TrimPrefix(e.Name(), "models--"), "--", "/")
		if repo != "" && !strings.EqualFold(name, repo) {
			continue
		}
		out = append(out, statusOf(repoCache{hubCache: hubCache, repo: name}))
	}
	return out, nil
}

func statusOf(rc repoCache) CachedModel {
	m := CachedModel{Repo: rc.repo, Dir: rc.dir(), Snapshots: []CachedSnapshot{}}
	blobs, _ := os.ReadDir(filepath.Join(rc.dir(), "blobs"))
	for _, b := range blobs {
		if info, err := b.Info(); err == nil && info.Mode().IsRegular() {
			if strings.HasSuffix(b.Name(), ".incomplete") {
				m.PartialBytes += info.Size()
			} else {
				m.Bytes += info.Size()
			}
		}
	}
	refs := map[string][]string{}
	refsDir := filepath.Join(rc.dir(), "refs")
	filepath.WalkDir(refsDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if data, err := os.ReadFile(p); err == nil {
				rel, _ := filepath.Rel(refsDir, p)
				commit := strings.TrimSpace(string(data))
				refs[commit] = append(refs[commit], filepath.ToSlash(rel))
			}
		}
		return nil
	})
	snaps, _ := os.ReadDir(filepath.Join(rc.dir(), "snapshots"))
	for _, s := range snaps {
		if !s.IsDir() {
			continue
		}
		sel, problem := checkSnapshot(rc.repo, rc.snapshot(s.Name()), "")
		cs := CachedSnapshot{Commit: s.Name(), Refs: refs[s.Name()], Format: sel.Format, Files: len(sel.Files),
			Bytes: sel.Bytes(), Complete: problem == "", Problem: problem}
		if cs.Complete && len(cs.Refs) == 0 && !reCommit().MatchString(cs.Commit) {
			cs.Complete, cs.Problem = false, "no ref points at it"
		}
		if cs.Complete && len(cs.Refs) > 0 {
			m.Complete = true
		}
		m.Snapshots = append(m.Snapshots, cs)
	}
	return m
}

// Removed says what Remove deleted.
type Removed struct {
	Repo  string `json:"repo"`
	Dir   string `json:"dir"`
	Bytes int64  `json:"bytes"`
}

// Remove deletes a repository from the hub cache: its blobs, snapshots, refs
// and locks. It refuses while a pull or import of it is running.
func Remove(hubCache, repo string) (Removed, error) {
	if err := CheckRepoID(repo); err != nil {
		return Removed{}, err
	}
	rc := repoCache{hubCache: hubCache, repo: repo}
	if _, err := os.Stat(rc.dir()); errors.Is(err, os.ErrNotExist) {
		return Removed{}, &app.Problem{Kind: app.KindBadInput, Err: app.ErrNotFound,
			What: fmt.Sprintf("%s is not in the cache %s", repo, hubCache), Fix: "see `duobox weights status` for what the cache holds"}
	}
	l, held, err := filelock.TryLock(rc.modelLockPath(), 0o644)
	if err != nil {
		return Removed{}, err
	}
	if held {
		return Removed{}, app.Conflict(nil, "wait for it to finish, or stop it, then remove", "a pull or import of %s is running", repo)
	}
	st := statusOf(rc)
	err = os.RemoveAll(rc.dir())
	l.Unlock()
	if err != nil {
		return Removed{}, fmt.Errorf("remove %s: %w", rc.dir(), err)
	}
	os.RemoveAll(rc.locks())
	return Removed{Repo: repo, Dir: rc.dir(), Bytes: st.Bytes + st.PartialBytes}, nil
}
