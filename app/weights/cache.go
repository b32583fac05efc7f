package weights

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/diskspace"
	"github.com/duobox/duobox/app/filelock"
	"github.com/duobox/duobox/app/units"
)

// repoCache is one repository's folder in the hub cache, laid out as
// huggingface_hub lays it out:
//
//	models--org--name/blobs/<sha256 or git blob id>
//	models--org--name/snapshots/<commit>/<path> -> ../../blobs/<blob>
//	models--org--name/refs/<revision>            (holds the commit)
//	.locks/models--org--name/<blob>.lock         (huggingface_hub's own locks)
type repoCache struct {
	hubCache string
	repo     string
}

// FolderName is the cache folder of a repo: models--org--name.
func FolderName(repo string) string { return "models--" + strings.ReplaceAll(repo, "/", "--") }

func (c repoCache) dir() string             { return filepath.Join(c.hubCache, FolderName(c.repo)) }
func (c repoCache) blob(name string) string { return filepath.Join(c.dir(), "blobs", name) }
func (c repoCache) snapshot(commit string) string {
	return filepath.Join(c.dir(), "snapshots", commit)
}
func (c repoCache) ref(revision string) string {
	return filepath.Join(c.dir(), "refs", filepath.FromSlash(revision))
}
func (c repoCache) locks() string { return filepath.Join(c.hubCache, ".locks", FolderName(c.repo)) }

// commitFor reads refs/<revision>; a revision that is itself a commit with a
// snapshot folder is returned as is.
func (c repoCache) commitFor(revision string) (string, bool) {
	if CheckRevision(revision) != nil {
		return "", false
	}
	if reCommit().MatchString(revision) {
		if _, err := os.Stat(c.snapshot(revision)); err == nil {
			return revision, true
		}
	}
	data, err := os.ReadFile(c.ref(revision))
	if err != nil {
		return "", false
	}
	commit := strings.TrimSpace(string(data))
	return commit, reCommit().MatchString(commit)
}

// checkPaths checks, before anything is opened, that every name a pull will
// turn into a path has its real shape and that the paths stay in the cache:
// refs/<revision>, snapshots/<commit>/<file>, blobs/<blob>.
func (c repoCache) checkPaths(revision, commit string, files []RemoteFile) error {
	if err := CheckRevision(revision); err != nil {
		return err
	}
	if !reCommit().MatchString(commit) {
		return fmt.Errorf("commit %q is not 40 hex digits", commit)
	}
	if err := inside(filepath.Join(c.dir(), "refs"), c.ref(revision)); err != nil {
		return err
	}
	for _, f := range files {
		if err := checkRemote(f); err != nil {
			return err
		}
		if f.BlobName() == "" {
			return fmt.Errorf("%s: no blob id", f.Path)
		}
		if err := inside(c.snapshot(commit), filepath.Join(c.snapshot(commit), filepath.FromSlash(f.Path))); err != nil {
			return err
		}
		if err := inside(filepath.Join(c.dir(), "blobs"), c.blob(f.BlobName())); err != nil {
			return err
		}
	}
	return nil
}

// writeRef points refs/<revision> at commit (not needed when revision is the commit).
func (c repoCache) writeRef(revision, commit string) error {
	if revision == commit {
		return nil
	}
	if err := CheckRevision(revision); err != nil {
		return err
	}
	if err := inside(filepath.Join(c.dir(), "refs"), c.ref(revision)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.ref(revision)), 0o755); err != nil {
		return fmt.Errorf("write ref %s: %w", revision, err)
	}
	if err := config.WriteFileAtomic(c.ref(revision), []byte(commit), 0o644); err != nil {
		return fmt.Errorf("write ref %s: %w", revision, err)
	}
	return nil
}

// link makes snapshots/<commit>/<path> a relative symlink to blobs/<blob>,
// replacing what was there atomically.
func (c repoCache) link(commit, path, blob string) error {
	dst := filepath.Join(c.snapshot(commit), filepath.FromSlash(path))
	if err := checkFileName(path); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if !reCommit().MatchString(commit) && !reSHA256().MatchString(commit) {
		return fmt.Errorf("link %s: commit %q is not a commit id", path, commit)
	}
	if err := inside(c.snapshot(commit), dst); err != nil {
		return err
	}
	if err := inside(filepath.Join(c.dir(), "blobs"), c.blob(blob)); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	target, err := filepath.Rel(filepath.Dir(dst), c.blob(blob))
	if err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	tmp := dst + ".duobox-link"
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("link %s: %w", path, err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("link %s: %w", path, err)
	}
	return nil
}

// removeEmpty removes the folders a failed pull created and left empty
// (os.Remove never removes a folder that holds anything).
func (c repoCache) removeEmpty(commit string) {
	for _, dir := range []string{c.snapshot(commit), filepath.Dir(c.snapshot(commit)), filepath.Join(c.dir(), "blobs"), filepath.Join(c.dir(), "refs"), c.dir()} {
		os.Remove(dir)
	}
}

// lock waits for the lock until ctx ends; onWait runs once if it has to wait.
func lock(ctx context.Context, path string, onWait func()) (*filelock.Lock, error) {
	for waited := false; ; {
		l, held, err := filelock.TryLock(path, 0o644)
		if err != nil || !held {
			return l, err
		}
		if !waited && onWait != nil {
			onWait()
		}
		waited = true
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// modelLockPath is DuoBox's per-repository lock: one pull, import or remove at a time.
func (c repoCache) modelLockPath() string { return filepath.Join(c.locks(), "duobox.lock") }

// DefaultHeadroom is the free space kept beyond the download itself.
const DefaultHeadroom = 1 << 30

// checkSpace refuses when need bytes plus headroom do not fit in dir's file system.
func checkSpace(dir string, need, headroom int64) error {
	if need <= 0 {
		return nil
	}
	free, err := diskspace.Free(dir)
	if err != nil {
		return err
	}
	if uint64(need+headroom) > free {
		return app.Environment(nil,
			"free space there, or point HF_HUB_CACHE (or HF_HOME) at a larger disk",
			"not enough disk space in %s: the download needs %s plus %s headroom, only %s is free",
			dir, units.HumanBytes(need), units.HumanBytes(headroom), units.HumanBytes(int64(free)))
	}
	return nil
}
