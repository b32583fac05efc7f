package weights

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/duobox/duobox/app"
)

// Every name that comes from the hub, a mirror or a flag and becomes part of
// a path in the cache is checked against its real shape here before anything
// is opened: a commit is 40 hex digits, a blob id 40 (git) or 64 (sha256) hex
// digits, a file name a clean relative path, a revision a git ref name, a
// repo id org/name. A crafted name ("../../../../tmp/victim") is refused, and
// inside() checks the final path stays in the cache as a second line.

var (
	reBlobID   = app.LazyRegexp(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	reRevision = app.LazyRegexp(`^[A-Za-z0-9][A-Za-z0-9._\-/]*$`)
)

// CheckRevision reports whether rev is a branch, tag or commit name as the
// hub accepts them (refs/pr/1 included), safe to use as refs/<rev>.
func CheckRevision(rev string) error {
	bad := rev == "" || len(rev) > 200 || !reRevision().MatchString(rev) || path.Clean(rev) != rev ||
		strings.Contains(rev, "..") || strings.HasSuffix(rev, ".lock") || strings.HasSuffix(rev, "/")
	for _, part := range strings.Split(rev, "/") {
		bad = bad || part == "" || strings.HasPrefix(part, ".")
	}
	if bad {
		return app.BadInput("give a branch, tag or commit of the repository, such as main, v1.0 or a 40-digit commit id",
			"%q is not a revision name (letters, digits, '.', '_', '-' and '/' between names; no '..')", rev)
	}
	return nil
}

// checkFileName reports whether p, a file name the hub listed, is a clean
// relative slash-separated path that stays inside a snapshot folder.
func checkFileName(p string) error {
	ok := p != "" && len(p) <= 1024 && !strings.ContainsAny(p, "\\\x00") && !strings.HasPrefix(p, "/") &&
		path.Clean(p) == p && filepath.IsLocal(filepath.FromSlash(p))
	for _, part := range strings.Split(p, "/") {
		ok = ok && part != "." && part != ".."
	}
	if !ok {
		return fmt.Errorf("file name %q is not a clean relative path", p)
	}
	return nil
}

// checkRemote checks the names of one listed file: its path and blob name.
func checkRemote(f RemoteFile) error {
	if err := checkFileName(f.Path); err != nil {
		return err
	}
	if f.SHA256 != "" && !reSHA256().MatchString(f.SHA256) {
		return fmt.Errorf("%s: sha256 %q is not 64 hex digits", f.Path, f.SHA256)
	}
	if f.BlobID != "" && !reBlobID().MatchString(f.BlobID) {
		return fmt.Errorf("%s: blob id %q is not 40 or 64 hex digits", f.Path, f.BlobID)
	}
	return nil
}

// hostileName is the Problem for a name from the server that is not the
// shape it must have: the download stops before anything is written.
func hostileName(endpoint, repo string, err error) error {
	return &app.Problem{Kind: app.KindEnvironment, Err: err,
		What: fmt.Sprintf("the hub at %s answered a name for %s that cannot be stored safely (%v); nothing was written", endpoint, repo, err),
		Fix:  "this server is broken or hostile: use https://huggingface.co (unset HF_ENDPOINT) or a mirror you trust"}
}

// inside reports an error unless p, once cleaned, lies within root.
func inside(root, p string) error {
	rel, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	if err != nil || !filepath.IsLocal(rel) {
		return &app.Problem{Kind: app.KindInternal, What: fmt.Sprintf("refusing to write %s: it is outside the cache folder %s", p, root)}
	}
	return nil
}
