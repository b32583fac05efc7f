package weights

import (
	"archive/tar"
	"bufio"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
)

// ImportOptions control an import. Env.HubCache and Target.Repo are required.
type ImportOptions struct {
	Env    Env
	Target Target // Revision names the ref written ("main" when empty)
	// Commit is the commit the files come from. When empty it is read from
	// the source (huggingface-cli --local-dir metadata, or a cache folder's
	// refs/), or derived from the files' hashes.
	Commit           string
	Headroom         int64 // as in Options
	ProgressInterval time.Duration
	// Staged says source is a folder the caller unpacked on the hub cache's
	// file system (an offline bundle's weights) in the cache layout, after
	// verifying every file's sha256: its files, and the blobs its snapshot
	// links point at, are moved into blobs/ instead of copied; a blob named
	// by its sha256 is not hashed again. The caller removes the folder.
	Staged bool
}

// localFile is a file of the import source.
type localFile struct {
	RemoteFile        // SHA256 / BlobID hold what a manifest says, when one does
	full       string // path on disk
	staged     bool   // from a staged folder (ImportOptions.Staged): links may be moved through
}

// Import places a local copy of a model into the cache for an air-gapped
// machine. source is a folder (a huggingface-cli download, a git clone, a
// copied snapshots/<commit> folder or models--org--name cache folder) or a
// tar archive of one, gzip-compressed or not. It selects what vLLM needs as
// a pull would, and verifies every file before it enters blobs/: the size,
// the safetensors header against the file's length, every shard of the
// weight index present, and the sha256 (or git blob id) where a manifest
// gives it — huggingface-cli's .cache/huggingface/download/*.metadata, a
// SHA256SUMS file, or a cache folder's blob names. A failed check leaves the
// cache as it was.
func Import(ctx context.Context, opts ImportOptions, source string, progress ProgressFunc) (_ Result, err error) {
	start := time.Now()
	t := opts.Target
	if err := CheckRepoID(t.Repo); err != nil {
		return Result{}, err
	}
	if err := CheckRevision(t.revision()); err != nil {
		return Result{}, err
	}
	if opts.Commit != "" && !reCommit().MatchString(opts.Commit) {
		return Result{}, app.BadInput("give the 40-hex-digit commit id", "%q is not a commit id", opts.Commit)
	}
	if opts.Headroom == 0 {
		opts.Headroom = DefaultHeadroom
	} else if opts.Headroom < 0 {
		opts.Headroom = 0
	}
	rc := repoCache{hubCache: opts.Env.HubCache, repo: t.Repo}
	m := newMeter(t.Repo, progress, opts.ProgressInterval)
	dir, move, cleanup, err := openSource(ctx, opts, source, m)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	root, commit, err := findModelRoot(dir)
	if err != nil {
		return Result{}, app.BadInput("point at the folder that holds config.json (or params.json) and the *.safetensors files", "%s: %v", source, err)
	}
	files, metaCommit, err := listLocal(root)
	if err != nil {
		return Result{}, err
	}
	for i := range files {
		files[i].staged = opts.Staged
	}
	commit = cmp.Or(opts.Commit, commit, metaCommit)
	remote := make([]RemoteFile, len(files))
	byPath := map[string]localFile{}
	for i, f := range files {
		remote[i] = f.RemoteFile
		byPath[f.Path] = f
	}
	sel, err := Select(t.Repo, remote, t.LoadFormat)
	if err != nil {
		return Result{}, err
	}
	if err := checkLocalSelection(sel, byPath); err != nil {
		return Result{}, app.BadInput("copy the missing or damaged files again, then import", "%s is not a complete copy of %s: %v", source, t.Repo, err)
	}
	need := sel.Bytes()
	if move {
		need = 0 // unpacked on the cache's file system already
	}
	if err := checkSpace(rc.dir(), need, opts.Headroom); err != nil {
		return Result{}, err
	}

	res := Result{Repo: t.Repo, Revision: t.revision(), Format: sel.Format, Files: sel.Paths(), Skipped: sel.Skipped, Bytes: sel.Bytes()}
	modelLock, err := lock(ctx, rc.modelLockPath(), func() { res.Waited = true; m.setPhase(PhaseWaiting) })
	if err != nil {
		return Result{}, fmt.Errorf("wait for the other pull of %s: %w", t.Repo, err)
	}
	defer modelLock.Unlock()
	defer func() {
		if err != nil {
			m.finish("")
			rc.removeEmpty(commit)
		}
	}()
	if err := os.MkdirAll(filepath.Join(rc.dir(), "blobs"), 0o755); err != nil {
		return Result{}, fmt.Errorf("create the cache folder: %w", err)
	}
	m.start(len(sel.Files), sel.Bytes())
	blobs := map[string]string{} // path -> blob name
	for _, f := range sel.Files {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if blobs[f.Path], err = placeBlob(rc, byPath[f.Path], move, m); err != nil {
			return Result{}, err
		}
		m.files.Add(1)
	}
	commit = cmp.Or(commit, derivedCommit(blobs))
	for path, blob := range blobs {
		if err := rc.link(commit, path, blob); err != nil {
			return Result{}, err
		}
	}
	if err := rc.writeRef(res.Revision, commit); err != nil {
		return Result{}, err
	}
	m.finish(PhaseDone)
	res.Commit, res.Snapshot, res.Fetched = commit, rc.snapshot(commit), m.fetched.Load()
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// openSource returns the folder to import from: source itself, or for an
// archive a staging folder inside the hub cache it was unpacked into (on the
// cache's file system, so its files are renamed into blobs/, not copied
// again; move reports that). cleanup removes the staging folder.
func openSource(ctx context.Context, opts ImportOptions, source string, m *meter) (dir string, move bool, cleanup func(), err error) {
	st, err := os.Stat(source)
	if err != nil {
		return "", false, nil, app.BadInput("give a folder with the model's files, or a .tar / .tar.gz of one", "cannot read the import source %s: %v", source, err)
	}
	if st.IsDir() {
		return source, opts.Staged, func() {}, nil
	}
	if err := os.MkdirAll(opts.Env.HubCache, 0o755); err != nil {
		return "", false, nil, fmt.Errorf("create the hub cache: %w", err)
	}
	staging, err := os.MkdirTemp(opts.Env.HubCache, ".duobox-import-")
	if err != nil {
		return "", false, nil, fmt.Errorf("create a staging folder: %w", err)
	}
	cleanup = func() { os.RemoveAll(staging) }
	m.setPhase(PhaseExtracting)
	if err := extractTar(ctx, source, staging, opts.Headroom); err != nil {
		cleanup()
		return "", false, nil, err
	}
	return staging, true, cleanup, nil
}

// derivedCommit names a snapshot made from files whose commit is unknown:
// the same files give the same name.
func derivedCommit(blobs map[string]string) string {
	paths := make([]string, 0, len(blobs))
	for p := range blobs {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha1.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s %s\n", p, blobs[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// findModelRoot finds the model folder in dir: dir itself when it holds
// config.json or params.json, the snapshot refs/main points at in a
// models--org--name folder (its commit is returned), or the only subfolder,
// a few levels down.
func findModelRoot(dir string) (root, commit string, err error) {
	for depth := 0; depth < 4; depth++ {
		for _, name := range []string{"config.json", "params.json"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return dir, "", nil
			}
		}
		if data, err := os.ReadFile(filepath.Join(dir, "refs", "main")); err == nil {
			c := strings.TrimSpace(string(data))
			if _, err := os.Stat(filepath.Join(dir, "snapshots", c)); err == nil && reCommit().MatchString(c) {
				return filepath.Join(dir, "snapshots", c), c, nil
			}
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", "", err
		}
		var sub []string
		for _, e := range entries {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				sub = append(sub, e.Name())
			}
		}
		if len(sub) != 1 {
			break
		}
		dir = filepath.Join(dir, sub[0])
	}
	return "", "", errors.New("no config.json or params.json found")
}

// listLocal lists the files under root with what manifests say of them, and
// the commit huggingface-cli's metadata names (when all files agree).
func listLocal(root string) ([]localFile, string, error) {
	var files []localFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir // .git, .cache
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p) // follows a snapshot's links into blobs/
		if err != nil || !st.Mode().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		f := localFile{RemoteFile: RemoteFile{Path: filepath.ToSlash(rel), Size: st.Size()}, full: p}
		if target, err := os.Readlink(p); err == nil && reSHA256().MatchString(filepath.Base(target)) {
			f.SHA256 = filepath.Base(target)
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", root, err)
	}
	sums := readSHA256Sums(root)
	commits := map[string]bool{}
	for i := range files {
		f := &files[i]
		if s, ok := sums[f.Path]; ok {
			f.SHA256 = s
		}
		// huggingface-cli download --local-dir: "<commit>\n<etag>\n<timestamp>\n"
		data, err := os.ReadFile(filepath.Join(root, ".cache", "huggingface", "download", filepath.FromSlash(f.Path)+".metadata"))
		if err != nil {
			continue
		}
		lines := strings.Split(string(data), "\n")
		if len(lines) >= 2 {
			commits[strings.TrimSpace(lines[0])] = true
			switch etag := normalizeETag(strings.TrimSpace(lines[1])); {
			case reSHA256().MatchString(etag):
				f.SHA256 = etag
			case reGitOID().MatchString(etag):
				f.BlobID = etag
			}
		}
	}
	commit := ""
	if len(commits) == 1 {
		for c := range commits {
			if reCommit().MatchString(c) {
				commit = c
			}
		}
	}
	return files, commit, nil
}

// readSHA256Sums reads a sha256sum-style manifest (SHA256SUMS or
// sha256sums.txt) in root: "<hex>  <path>" per line.
func readSHA256Sums(root string) map[string]string {
	sums := map[string]string{}
	for _, name := range []string{"SHA256SUMS", "sha256sums.txt", "SHA256SUMS.txt"} {
		f, err := os.Open(filepath.Join(root, name))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			sum, path, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
			path = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(path), "*"), "./")
			if ok && reSHA256().MatchString(strings.ToLower(sum)) {
				sums[path] = strings.ToLower(sum)
			}
		}
		f.Close()
	}
	return sums
}

// checkLocalSelection checks what can be checked before copying: every shard
// of the weight index is there and every safetensors file is as long as its
// header says.
func checkLocalSelection(sel Selection, byPath map[string]localFile) error {
	for _, f := range sel.Files {
		full := byPath[f.Path].full
		switch {
		case strings.HasSuffix(f.Path, ".index.json"):
			shards, err := indexShards(full)
			if err != nil {
				return err
			}
			for _, s := range shards {
				if _, ok := byPath[s]; !ok {
					return fmt.Errorf("%s is missing (listed in %s)", s, f.Path)
				}
			}
		case strings.HasSuffix(f.Path, ".safetensors"):
			if err := checkSafetensors(full, f.Path, f.Size); err != nil {
				return err
			}
		}
	}
	return nil
}

// placeBlob copies (or, from a staging folder, moves) one file into blobs/,
// hashing it on the way: by sha256 for weights and files a manifest gives a
// sha256 for, by git blob id for the rest, as huggingface_hub names blobs.
// A hash that disagrees with the manifest removes the copy.
func placeBlob(rc repoCache, f localFile, move bool, m *meter) (string, error) {
	useSHA256 := f.SHA256 != "" || formatOf(f.Path) != "" || (f.BlobID == "" && f.Size > 10<<20)
	var h hash.Hash
	if useSHA256 {
		h = sha256.New()
	} else {
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", f.Size)
	}
	tmp, err := os.CreateTemp(filepath.Join(rc.dir(), "blobs"), ".import-*.incomplete")
	if err != nil {
		return "", fmt.Errorf("import %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	var n int64
	src := f.full
	if st, err := os.Lstat(src); err != nil || !st.Mode().IsRegular() {
		move = false // a link (into a copied cache's blobs/) is copied, not moved
		if err == nil && st.Mode()&os.ModeSymlink != 0 && f.staged {
			// A staged cache folder: move the blob the link points at, unless
			// another path of the snapshot moved the same blob already.
			if target, err := filepath.EvalSymlinks(src); err == nil {
				src, move = target, true
			} else if link, err := os.Readlink(src); err == nil {
				name := filepath.Base(link)
				if st, err := os.Stat(rc.blob(name)); err == nil && st.Size() == f.Size {
					m.bytes.Add(f.Size)
					return name, nil
				}
			}
		}
	}
	if move {
		tmp.Close()
		if f.staged && f.SHA256 != "" && useSHA256 {
			// Staged from an offline bundle whose sha256 checksums the
			// caller verified while unpacking: the blob is named by it, and
			// the staged file is renamed straight to that name. (Not over
			// another file: ext4 writes a file renamed over another out to
			// disk there and then, auto_da_alloc.)
			st, err := os.Stat(src)
			if err != nil {
				return "", fmt.Errorf("import %s: %w", f.Path, err)
			}
			if st.Size() != f.Size {
				return "", app.BadInput("copy the file again, then import", "%s changed while importing: %d bytes, expected %d", f.Path, st.Size(), f.Size)
			}
			m.bytes.Add(f.Size)
			m.fetched.Add(f.Size)
			if have, err := os.Stat(rc.blob(f.SHA256)); err == nil && have.Size() == f.Size {
				return f.SHA256, nil // in the cache already; the staged copy goes with its folder
			}
			if err := os.Rename(src, rc.blob(f.SHA256)); err != nil {
				return "", fmt.Errorf("import %s: %w", f.Path, err)
			}
			return f.SHA256, nil
		}
		if err := os.Rename(src, tmp.Name()); err != nil {
			return "", fmt.Errorf("import %s: %w", f.Path, err)
		}
		in, err := os.Open(tmp.Name())
		if err != nil {
			return "", fmt.Errorf("import %s: %w", f.Path, err)
		}
		n, err = io.Copy(h, &countingReader{in, m})
		in.Close()
		if err != nil {
			return "", fmt.Errorf("import %s: %w", f.Path, err)
		}
	} else {
		in, err := os.Open(f.full)
		if err != nil {
			tmp.Close()
			return "", fmt.Errorf("import %s: %w", f.Path, err)
		}
		n, err = io.Copy(tmp, io.TeeReader(&countingReader{in, m}, h))
		in.Close()
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("import %s: %w", f.Path, err)
		}
	}
	got := hex.EncodeToString(h.Sum(nil))
	want, kind := f.SHA256, "sha256"
	if !useSHA256 {
		want, kind = f.BlobID, "git blob id"
	}
	switch {
	case n != f.Size:
		return "", app.BadInput("copy the file again, then import", "%s changed while importing: %d bytes, expected %d", f.Path, n, f.Size)
	case want != "" && got != want:
		return "", app.BadInput("the copy is damaged: copy it again from the source, then import",
			"%s failed verification: %s mismatch: expected %s, got %s", f.Path, kind, want, got)
	}
	if err := os.Rename(tmp.Name(), rc.blob(got)); err != nil {
		return "", fmt.Errorf("import %s: %w", f.Path, err)
	}
	return got, nil
}

// countingReader reports the bytes it reads to the meter.
type countingReader struct {
	r io.Reader
	m *meter
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.m.bytes.Add(int64(n))
	c.m.fetched.Add(int64(n))
	return n, err
}

// extractTar unpacks a tar or tar.gz archive into dir: regular files,
// folders and links that stay inside dir; anything else is skipped. It
// refuses entries that would leave dir and stops when the disk fills up.
func extractTar(ctx context.Context, archive, dir string, headroom int64) error {
	f, err := os.Open(archive)
	if err != nil {
		return app.BadInput("give a readable .tar or .tar.gz file", "cannot open %s: %v", archive, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return app.BadInput("give a .tar or .tar.gz file", "%s is not a gzip archive: %v", archive, err)
		}
		defer gz.Close()
		r = gz
	}
	tr := tar.NewReader(r)
	bad := func(err error) error {
		return app.BadInput("give a complete .tar or .tar.gz of the model folder", "cannot read the archive %s: %v", archive, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return bad(err)
		}
		name := filepath.FromSlash(strings.TrimPrefix(hdr.Name, "./"))
		if name == "" || name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return bad(fmt.Errorf("entry %q points outside the archive's folder", hdr.Name))
		}
		dst := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := checkSpace(dir, hdr.Size, headroom); err != nil {
				return err
			}
			if err := writeEntry(dst, tr); err != nil {
				return bad(fmt.Errorf("%s: %w", hdr.Name, err))
			}
		case tar.TypeSymlink:
			target := filepath.Join(filepath.Dir(name), filepath.FromSlash(hdr.Linkname))
			if filepath.IsAbs(hdr.Linkname) || !filepath.IsLocal(target) {
				continue // never follow a link out of the folder
			}
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(hdr.Linkname, dst); err != nil {
				return err
			}
		}
	}
}

func writeEntry(dst string, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
