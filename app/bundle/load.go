package bundle

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/diskspace"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/units"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/app/weights"
)

// Engine is what Load needs from the container engine (runtime/docker's
// Engine has it).
type Engine interface {
	Probe(ctx context.Context) hardware.Engine
	// Image inspects a local image; app.ErrNotFound when it is not there.
	Image(ctx context.Context, ref string) (engine.ImageInfo, error)
	// LoadImageArchive loads a 'docker save' archive.
	LoadImageArchive(ctx context.Context, archive io.Reader) error
	// RemoveImage untags ref (the image goes with its last tag).
	RemoveImage(ctx context.Context, ref string) error
}

// LoadOptions say where a bundle goes.
type LoadOptions struct {
	Engine   Engine
	HubCache string // the Hugging Face cache the model server mounts
	// DataDir is DuoBox's data folder: the bundle's tags, catalog and docs
	// index are recorded under DataDir/offline.
	DataDir string
	// ConfigPath is the deployment config; when it exists, its GitLab version
	// must be the bundle's, and its images are set to the bundle's.
	ConfigPath string
	// FreeDisk reads the free bytes under a folder; nil reads the file system.
	// (A seam for tests of a disk that fills during the load.)
	FreeDisk func(dir string) (uint64, error)
}

// ImageAction is what Load did with one image.
type ImageAction struct {
	Ref    string `json:"ref"`
	ID     string `json:"id"`
	Action string `json:"action"` // loaded, present
}

// LoadResult is what Load did.
type LoadResult struct {
	File          string        `json:"file"`
	GitLabVersion string        `json:"gitlab_version"`
	Images        []ImageAction `json:"images"`
	Weights       string        `json:"weights"`         // imported, present
	WeightsRepo   string        `json:"weights_repo"`    //
	Snapshot      string        `json:"snapshot"`        // the snapshot folder in the hub cache
	DocsIndex     string        `json:"docs_index"`      // the docs.db recorded, when the bundle has one
	Recorded      bool          `json:"recorded"`        // tags, catalog or docs index written now
	ConfigUpdated bool          `json:"config_updated"`  // the deployment config now names the bundle's images
	Changed       bool          `json:"changed"`         // false: everything was in place already
	Notes         []string      `json:"notes,omitempty"` // e.g. the config serves another model
	Bytes         int64         `json:"bytes"`           // bytes verified
	VerifySeconds float64       `json:"verify_seconds"`  //
	Seconds       float64       `json:"seconds"`         //
	Warnings      []string      `json:"warnings,omitempty"`
}

// OfflineDir is where Load records what it brought, under DuoBox's data folder.
func OfflineDir(dataDir string) string { return filepath.Join(dataDir, "offline") }

// Load reads the bundle once, verifying every entry's sha256 as it goes:
// the images the engine lacks are streamed into it (each held short of its
// end until its checksum matched), while the weights and the small files
// are staged beside where they go. Only when every checksum matched does it
// move the weights into the hub cache, record the gateway's tags, the
// catalog and the docs index, and point an existing deployment config at
// the bundle's images. A refused or failed load leaves the engine (the
// images this load added are removed), the hub cache, the records and the
// config as they were; loading the same bundle again changes nothing.
func Load(ctx context.Context, o LoadOptions, file string, progress ProgressFunc) (res LoadResult, err error) {
	start := time.Now()
	res.File = file
	m, hdrs, err := scan(file)
	if err != nil {
		return res, err
	}
	res.GitLabVersion = m.GitLabVersion
	if o.FreeDisk == nil {
		o.FreeDisk = diskspace.Free
	}
	if o.HubCache == "" || o.DataDir == "" || o.Engine == nil {
		return res, errors.New("bundle load: HubCache, DataDir and Engine are required")
	}
	entries, err := checkHeaders(file, m, hdrs)
	if err != nil {
		return res, err
	}

	// Refusals that need no reading of the contents.
	eng := o.Engine.Probe(ctx)
	if !eng.Reachable {
		return res, app.Environment(nil, cmpOr(eng.Fix, "start the Docker engine and run 'duobox bundle load' again"), "the Docker engine does not answer: %s", eng.Error)
	}
	if want, have := m.Platform, "linux/"+hostArch(eng.Arch); eng.Arch != "" && want != have {
		return res, app.BadInput("on a machine with internet, run 'duobox bundle create --platform "+have+"' and bring that bundle",
			"%s holds images for %s; this machine's engine runs %s", file, want, have)
	}
	cfg, haveCfg, err := readConfig(o.ConfigPath)
	if err != nil {
		return res, err
	}
	if haveCfg {
		v, err := version.Parse(cfg.GitLab.Version)
		if err == nil && v.MinorString() != m.GitLabVersion {
			return res, app.BadInput(fmt.Sprintf("on a machine with internet, run 'duobox bundle create --gitlab-version %s' and bring that bundle (or change gitlab.version in %s if GitLab was upgraded)", v.MinorString(), o.ConfigPath),
				"%s is for GitLab %s; this deployment serves GitLab %s", file, m.GitLabVersion, v.MinorString())
		}
		if cfg.Mode != m.Mode {
			return res, app.BadInput(fmt.Sprintf("make the bundle with 'duobox bundle create --mode %s', or change mode in %s", cfg.Mode, o.ConfigPath),
				"%s holds the %s model server image; this deployment runs in %s mode", file, m.Mode, cfg.Mode)
		}
		if m.Model != nil && len(cfg.Models) > 0 && !strings.EqualFold(cfg.Models[0].Repo(), m.Model.Repo) {
			res.Notes = append(res.Notes, fmt.Sprintf("the deployment serves %s, the bundle brings %s: 'duobox up' needs %s's weights (change the model with 'duobox init --model %s')",
				cfg.Models[0].Repo(), m.Model.Repo, cfg.Models[0].Repo(), m.Model.Repo))
		}
	}
	var imageBytes, weightBytes int64
	for _, f := range m.Files {
		switch {
		case strings.HasPrefix(f.Name, "images/"):
			imageBytes += f.Size
		case m.Model != nil && strings.HasPrefix(f.Name, m.Model.Dir+"/"):
			weightBytes += f.Size
		}
	}
	var target weights.Target
	weightsPresent := ""
	if m.Model != nil {
		target = weights.Target{Repo: m.Model.Repo, Revision: m.Model.Revision, LoadFormat: m.Model.LoadFormat}
		if have, ok := weights.Cached(o.HubCache, target); ok && have.Commit == m.Model.Commit {
			weightsPresent, weightBytes = have.Snapshot, 0 // verified, not staged
		}
	}
	if err := o.checkDisk(o.HubCache, weightBytes+16<<20, "the model weights"); err != nil {
		return res, err
	}
	if eng.DataRoot != "" {
		if err := o.checkDisk(eng.DataRoot, 2*imageBytes, "the images (the engine keeps the archive's layers and their unpacked files)"); err != nil {
			return res, err
		}
	}

	// One pass over the contents: the images into the engine, the rest
	// staged inside the hub cache (so that the weights are moved into place,
	// not copied again) and the data folder. A failure from here removes the
	// images this load added and the staging folders.
	vstart := time.Now()
	st, err := newStaging(o, m, weightsPresent == "")
	defer st.cleanup()
	if err != nil {
		return res, err
	}
	var added []string
	defer func() {
		if err != nil {
			for _, ref := range added {
				_ = o.Engine.RemoveImage(context.WithoutCancel(ctx), ref)
			}
		}
	}()
	res.Images, added, err = o.unpack(ctx, file, m, entries, st, serialized(progress))
	if err != nil {
		return res, err
	}
	for _, i := range res.Images {
		res.Changed = res.Changed || i.Action == "loaded"
	}
	res.Bytes = m.Bytes()
	res.VerifySeconds = time.Since(vstart).Seconds()

	if m.Model != nil {
		res.WeightsRepo = m.Model.Repo
		if weightsPresent != "" {
			res.Weights, res.Snapshot = "present", weightsPresent
			newMeter(progress, PhaseWeights, target.Repo, m.Model.Bytes).finish("already in the Hugging Face cache")
		} else {
			mt := newMeter(progress, PhaseWeights, target.Repo, m.Model.Bytes)
			r, err := weights.Import(ctx, weights.ImportOptions{Env: weights.Env{HubCache: o.HubCache, Offline: true}, Target: target,
				Commit: m.Model.Commit, Headroom: -1, Staged: true}, filepath.Join(st.hubDir, path.Base(m.Model.Dir)),
				func(p weights.Progress) { mt.set(p.BytesDone) })
			if err != nil {
				if isNoSpace(err) {
					return res, app.Environment(err, "free disk space in "+o.HubCache+", then run 'duobox bundle load' again",
						"the disk filled while importing %s; the images this load added were removed", target.Repo)
				}
				return res, err
			}
			mt.finish("")
			res.Weights, res.Snapshot, res.Changed = "imported", r.Snapshot, true
		}
	}

	// Record the tags, the catalog and the docs index; then the config.
	rm := newMeter(progress, PhaseRecord, OfflineDir(o.DataDir), 0)
	changed, docs, err := st.record(o.DataDir, m)
	if err != nil {
		return res, err
	}
	res.Recorded, res.DocsIndex = changed, docs
	res.Changed = res.Changed || changed
	if haveCfg {
		if res.ConfigUpdated, err = pointConfig(o.ConfigPath, m, docs); err != nil {
			return res, err
		}
		res.Changed = res.Changed || res.ConfigUpdated
	}
	rm.finish("")
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// serialized calls progress from one goroutine at a time (unpack's lanes
// report at once).
func serialized(progress ProgressFunc) ProgressFunc {
	if progress == nil {
		return nil
	}
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		progress(p)
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func hostArch(a string) string {
	switch a {
	case "x86_64":
		return "amd64"
	case "aarch64":
		return "arm64"
	}
	return a
}

func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || strings.Contains(strings.ToLower(fmt.Sprint(err)), "no space left on device")
}

func (o LoadOptions) checkDisk(dir string, need int64, what string) error {
	free, err := o.FreeDisk(dir)
	if err != nil || need <= 0 {
		return nil
	}
	if free < uint64(need) {
		return app.Environment(nil, "free disk space there, then run 'duobox bundle load' again; nothing was changed",
			"not enough disk space for %s at %s: it needs %s, %s is free", what, dir, units.HumanBytes(need), units.HumanBytes(int64(free)))
	}
	return nil
}

func readConfig(p string) (config.Deployment, bool, error) {
	if p == "" {
		return config.Deployment{}, false, nil
	}
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		return config.Deployment{}, false, nil
	}
	cfg, err := config.Load(p)
	if err != nil {
		return cfg, false, err
	}
	return cfg.WithDefaults(), true, nil
}

// checkHeaders checks the entries' headers against the manifest before any
// content is read: every entry listed, in order, of its type, link and
// size, and each image's archive among them. It returns the entries with
// the manifest's checksums.
func checkHeaders(file string, m Manifest, hdrs []header) ([]entryAt, error) {
	entries := make([]entryAt, 0, len(hdrs))
	for i, hdr := range hdrs {
		if i >= len(m.Files) || m.Files[i].Name != hdr.name {
			return nil, damaged(file, "entry %q is not the one its manifest lists next", hdr.name)
		}
		want := m.Files[i]
		if want.Link != "" {
			if hdr.typeflag != tar.TypeSymlink || hdr.link != want.Link {
				return nil, damaged(file, "entry %s is not the link its manifest lists", hdr.name)
			}
		} else if hdr.typeflag != tar.TypeReg || hdr.size != want.Size {
			return nil, damaged(file, "entry %s is %d bytes, its manifest says %d", hdr.name, hdr.size, want.Size)
		}
		entries = append(entries, entryAt{File: want, offset: hdr.offset})
	}
	if len(hdrs) != len(m.Files) {
		return nil, damaged(file, "%d entries listed in its manifest are missing", len(m.Files)-len(hdrs))
	}
	for _, img := range m.Images {
		if _, ok := find(entries, img.File); !ok {
			return nil, damaged(file, "%s is missing", img.File)
		}
	}
	return entries, nil
}

// entryAt is an entry of the manifest and where its contents are.
type entryAt struct {
	File
	offset int64
}

func find(entries []entryAt, name string) (entryAt, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return entryAt{}, false
}

// staging is where unpack puts what is moved into place once every
// checksum matched.
type staging struct {
	hubDir  string // inside the hub cache: the weights, as models--org--name
	dataDir string // inside the data folder: catalog, tags, docs index
	weights bool   // stage the weights (false: the hub cache has them; only verify)
}

func newStaging(o LoadOptions, m Manifest, weights bool) (*staging, error) {
	st := &staging{weights: weights && m.Model != nil}
	if err := os.MkdirAll(o.HubCache, 0o755); err != nil {
		return st, app.Environment(err, "make the Hugging Face cache writable (HF_HUB_CACHE / HF_HOME)", "cannot create %s: %v", o.HubCache, err)
	}
	var err error
	if st.hubDir, err = os.MkdirTemp(o.HubCache, ".duobox-bundle-"); err != nil {
		return st, app.Environment(err, "make the Hugging Face cache writable (HF_HUB_CACHE / HF_HOME)", "cannot stage the weights in %s: %v", o.HubCache, err)
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return st, err
	}
	st.dataDir, err = os.MkdirTemp(o.DataDir, ".duobox-bundle-")
	return st, err
}

func (s *staging) cleanup() {
	if s == nil {
		return
	}
	if s.hubDir != "" {
		os.RemoveAll(s.hubDir)
	}
	if s.dataDir != "" {
		os.RemoveAll(s.dataDir)
	}
}

// lanes is the shared state of unpack's lanes: the first failure stops
// them all (the image lane after the loads in flight, so that the engine holds
// no half-loaded image when the failed load is undone).
type lanes struct {
	mu     sync.Mutex
	err    error
	stop   atomic.Bool
	cancel context.CancelFunc // the staging lane's context
}

func (l *lanes) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
	l.stop.Store(true)
	l.cancel()
}

// unpack reads the bundle's contents once, in two lanes at the same time:
// the images (each hashed while the engine loads it, its last bytes held
// back until the checksum matched) and everything else (hashed while
// staged; the image lane helps once the images are in). It returns what was
// done with each image and the references this load added to the engine,
// to be removed when the load fails (now or later).
func (o LoadOptions) unpack(ctx context.Context, file string, m Manifest, entries []entryAt, st *staging, progress ProgressFunc) (images []ImageAction, added []string, err error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, app.BadInput("give a readable bundle file", "cannot open %s: %v", file, err)
	}
	defer f.Close()
	vm := newMeter(progress, PhaseVerify, file, m.Bytes())
	imageFiles := map[string]bool{}
	for _, img := range m.Images {
		imageFiles[img.File] = true
	}
	var rest []entryAt
	for _, e := range entries {
		if !imageFiles[e.Name] {
			rest = append(rest, e)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	l := &lanes{cancel: cancel}
	var next atomic.Int64
	stageRest := func() {
		buf := make([]byte, 1<<20)
		for i := int(next.Add(1) - 1); i < len(rest); i = int(next.Add(1) - 1) {
			if err := sctx.Err(); err != nil {
				l.fail(err)
				return
			}
			if err := st.stage(f, file, m, rest[i], vm, buf); err != nil {
				l.fail(err)
				return
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		stageRest()
	}()
	images, added, err = o.loadImages(ctx, f, file, m, entries, &l.stop, vm, progress)
	if err != nil {
		l.fail(err)
	} else {
		stageRest() // the images are in: help with what is left (a weight shard at a time)
	}
	wg.Wait()
	if l.err != nil {
		return images, added, l.err
	}
	vm.finish("all checksums match")
	return images, added, nil
}

// loadImages loads the images the engine lacks from their entries, all at
// once (the engine's fixed cost of a load is paid once, not per image), and
// verifies the entries of those it has. An image not started when stop is
// set is not loaded.
func (o LoadOptions) loadImages(ctx context.Context, f *os.File, file string, m Manifest, entries []entryAt, stop *atomic.Bool, vm *meter, progress ProgressFunc) (images []ImageAction, added []string, err error) {
	actions := make([]ImageAction, len(m.Images))
	refs := make([]string, len(m.Images))
	errs := make([]error, len(m.Images))
	var wg sync.WaitGroup
	for i, img := range m.Images {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !stop.Load() {
				actions[i], refs[i], errs[i] = o.loadImage(ctx, f, file, img, entries, vm, progress)
			}
		}()
	}
	wg.Wait()
	for i := range m.Images {
		if refs[i] != "" {
			added = append(added, refs[i])
		}
		if actions[i].Action != "" {
			images = append(images, actions[i])
		}
		if err == nil {
			err = errs[i]
		}
	}
	return images, added, err
}

// loadImage loads one image from its entry unless the engine has it, and
// says what it did; added is its reference when this load tagged it anew
// (whether or not the load then failed).
func (o LoadOptions) loadImage(ctx context.Context, f *os.File, file string, img Image, entries []entryAt, vm *meter, progress ProgressFunc) (_ ImageAction, added string, _ error) {
	ref := img.Ref()
	e, _ := find(entries, img.File)
	cr := newCheckedReader(f, e, meterWriter{vm})
	info, before := o.Engine.Image(ctx, ref) // an error: the tag is new, and a failure removes it
	if before == nil && info.ID == img.ID {
		if _, err := io.CopyBuffer(io.Discard, cr, make([]byte, 1<<20)); err != nil {
			return ImageAction{}, "", cr.explain(file, err)
		}
		newMeter(progress, PhaseImage, ref, img.Size).finish("already in the engine")
		return ImageAction{Ref: ref, ID: img.ID, Action: "present"}, "", nil
	}
	if before != nil {
		added = ref
	}
	mt := newMeter(progress, PhaseImage, ref, e.Size)
	cr.w = io.MultiWriter(meterWriter{vm}, meterWriter{mt})
	err := o.Engine.LoadImageArchive(ctx, cr)
	switch {
	case cr.err != nil:
		return ImageAction{}, added, cr.explain(file, err)
	case err != nil && ctx.Err() != nil:
		return ImageAction{}, added, ctx.Err()
	case err != nil && isNoSpace(err):
		return ImageAction{}, added, app.Environment(err, "free disk space for the engine ('docker system df', 'docker image prune'), then run 'duobox bundle load' again",
			"the engine's disk filled while loading %s; the images this load added were removed", ref)
	case err != nil:
		return ImageAction{}, added, app.Environment(err, "check the engine's log ('journalctl -u docker'), then run 'duobox bundle load' again",
			"the engine refused %s from the bundle: %v", ref, err)
	}
	info, err = o.Engine.Image(ctx, ref)
	if err != nil || info.ID != img.ID {
		return ImageAction{}, added, app.Environment(err, "run 'duobox bundle load' again; if it repeats, make a new bundle",
			"after loading, %s is image %s, not %s as the bundle says", ref, info.ID, img.ID)
	}
	mt.finish("")
	return ImageAction{Ref: ref, ID: img.ID, Action: "loaded"}, added, nil
}

// holdBack is how much of an image archive's end the engine gets only once
// the whole archive matched its checksum: with it the archive's trailer and
// last entry (a 'docker save' archive's manifest.json), so that the engine
// cannot complete a load of a damaged archive.
const holdBack = 1 << 20

// checkedReader reads one entry of the bundle, hashing it, and returns its
// last holdBack bytes only once the whole entry matched the manifest's
// sha256; a mismatch is returned as an error in their place (the engine's
// load API then sees its request cut short).
type checkedReader struct {
	head *io.SectionReader // the entry before the held-back tail
	tail *io.SectionReader
	want File
	h    hash.Hash
	w    io.Writer // what was read goes here too (meters)
	held []byte    // the tail, once verified
	ok   bool      // the tail is verified
	err  error     // the checksum failed
}

func newCheckedReader(f *os.File, e entryAt, w io.Writer) *checkedReader {
	hold := min(e.Size, holdBack)
	return &checkedReader{head: io.NewSectionReader(f, e.offset, e.Size-hold), tail: io.NewSectionReader(f, e.offset+e.Size-hold, hold),
		want: e.File, h: sha256.New(), w: w}
}

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if !c.ok {
		n, err := c.head.Read(p)
		c.h.Write(p[:n])
		c.w.Write(p[:n])
		if !errors.Is(err, io.EOF) || n > 0 {
			return n, err
		}
		c.held = make([]byte, c.tail.Size())
		if _, err := io.ReadFull(c.tail, c.held); err != nil {
			return 0, err
		}
		c.h.Write(c.held)
		c.w.Write(c.held)
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want.SHA256 {
			c.err = fmt.Errorf("entry %s does not match its checksum (sha256 %s, the manifest says %s)", c.want.Name, got, c.want.SHA256)
			return 0, c.err
		}
		c.ok = true
	}
	if len(c.held) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.held)
	c.held = c.held[n:]
	return n, nil
}

// explain turns a failed read of the entry (err, or the checksum) into the
// error Load returns.
func (c *checkedReader) explain(file string, err error) error {
	if c.err != nil {
		return damaged(file, "%v", c.err)
	}
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return damaged(file, "entry %s is cut short (%v)", c.want.Name, err)
}

// stage reads one entry that is not an image's archive: it is hashed, and
// when it is one of the weights or a small file Load records, written into
// the staging folders as it is read.
func (s *staging) stage(f *os.File, file string, m Manifest, e entryAt, vm *meter, buf []byte) error {
	dst, place := s.place(m, e.Name)
	if place {
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
	}
	if e.Link != "" {
		if place {
			return os.Symlink(e.Link, dst)
		}
		return nil
	}
	cr := newCheckedReader(f, e, meterWriter{vm})
	var out io.Writer = io.Discard
	var of *os.File
	if place {
		var err error
		if of, err = os.Create(dst); err != nil {
			return err
		}
		out = of
	}
	_, err := io.CopyBuffer(out, cr, buf)
	if of != nil {
		if cerr := of.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		if isNoSpace(err) {
			return app.Environment(err, "free disk space there, then run 'duobox bundle load' again; nothing was changed",
				"the disk filled while unpacking %s from the bundle", e.Name)
		}
		return cr.explain(file, err)
	}
	if m.Model != nil && path.Dir(e.Name) == m.Model.Dir+"/blobs" && len(path.Base(e.Name)) == 64 && path.Base(e.Name) != e.SHA256 {
		// The cache names a weight blob by its sha256; the import trusts that name.
		return damaged(file, "weight blob %s holds content with sha256 %s", e.Name, e.SHA256)
	}
	return nil
}

// place says where a verified entry is staged (false for the images, and
// for the weights when the hub cache has them already: only verified).
func (s *staging) place(m Manifest, name string) (string, bool) {
	switch {
	case m.Model != nil && strings.HasPrefix(name, m.Model.Dir+"/"):
		rel := strings.TrimPrefix(name, path.Dir(m.Model.Dir)+"/")
		return filepath.Join(s.hubDir, filepath.FromSlash(rel)), s.weights
	case name == m.Catalog, name == m.GatewayTags, name == m.DocsIndex && name != "":
		return filepath.Join(s.dataDir, filepath.FromSlash(name)), true
	}
	return "", false
}

// record writes the bundle's catalog, gateway tags, docs index and manifest
// under DataDir/offline, each only when it differs from what is there.
func (s *staging) record(dataDir string, m Manifest) (changed bool, docs string, err error) {
	dir := OfflineDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, "", err
	}
	put := func(name string, data []byte) error {
		dst := filepath.Join(dir, name)
		if old, err := os.ReadFile(dst); err == nil && bytes.Equal(old, data) {
			return nil
		}
		changed = true
		return writeAtomic(dst, data)
	}
	move := func(entry, name string) error {
		src := filepath.Join(s.dataDir, filepath.FromSlash(entry))
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		return put(name, data)
	}
	if err := move(m.Catalog, "catalog.yaml"); err != nil {
		return changed, "", err
	}
	if err := move(m.GatewayTags, tagsFileName(m)); err != nil {
		return changed, "", err
	}
	if m.DocsIndex != "" {
		name := "docs-" + m.GitLabVersion + ".db"
		src := filepath.Join(s.dataDir, filepath.FromSlash(m.DocsIndex))
		dst := filepath.Join(dir, name)
		if !sameFile(src, dst) {
			if err := os.Rename(src, dst); err != nil {
				return changed, "", err
			}
			changed = true
		}
		docs = dst
	}
	rec := m
	rec.Files = nil
	data, _ := json.MarshalIndent(rec, "", "  ")
	return changed, docs, put("bundle.json", data)
}

func sameFile(a, b string) bool {
	ha, errA := fileSHA256(a)
	hb, errB := fileSHA256(b)
	return errA == nil && errB == nil && ha == hb
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// tagsFileName is where the gateway's tags are recorded.
func tagsFileName(m Manifest) string {
	gw, _ := m.Image(RoleGateway)
	return "tags-" + safeName(gw.Repository) + ".txt"
}

func safeName(repo string) string {
	return strings.NewReplacer("/", "_", ":", "_").Replace(repo)
}

// RecordedTags returns the tags of repository a loaded bundle recorded
// (ok false when none did): what 'duobox upgrade --check' and 'duobox init'
// use when the registry cannot be reached.
func RecordedTags(dataDir, repository string) (tags []string, ok bool) {
	data, err := os.ReadFile(filepath.Join(OfflineDir(dataDir), "tags-"+safeName(repository)+".txt"))
	if err != nil {
		return nil, false
	}
	return strings.Fields(string(data)), true
}

// Recorded returns the manifest of the bundle loaded last (without its file list).
func Recorded(dataDir string) (Manifest, bool) {
	data, err := os.ReadFile(filepath.Join(OfflineDir(dataDir), "bundle.json"))
	if err != nil {
		return Manifest{}, false
	}
	var m Manifest
	if json.Unmarshal(data, &m) != nil {
		return Manifest{}, false
	}
	return m, true
}

// pointConfig sets the config's images (and docs index) to the bundle's,
// writing the file only when something differs.
func pointConfig(p string, m Manifest, docs string) (bool, error) {
	raw, err := config.Load(p)
	if err != nil {
		return false, err
	}
	before, _ := config.Marshal(raw)
	set := func(dst *config.Image, role string) {
		img, ok := m.Image(role)
		if !ok {
			return
		}
		if dst.Repository != img.Repository || dst.Registry != img.Registry || dst.Tag != img.Tag || dst.Digest != "" {
			dst.Repository, dst.Registry, dst.Tag, dst.Digest = img.Repository, img.Registry, img.Tag, ""
		}
	}
	set(&raw.Gateway.Image, RoleGateway)
	set(&raw.ModelServer, RoleModel)
	if docs != "" {
		raw.DocsIndex = docs
	}
	after, err := config.Marshal(raw)
	if err != nil {
		return false, err
	}
	if bytes.Equal(before, after) {
		return false, nil
	}
	return true, config.Save(p, raw)
}

// TagLister lists a repository's tags from its registry (release.ListTags)
// and, when the registry cannot be reached, returns the tags a loaded
// bundle recorded for it instead: the offline answer for 'duobox upgrade
// --check' and 'duobox init'.
func TagLister(dataDir string) func(ctx context.Context, repository string) ([]string, error) {
	return func(ctx context.Context, repository string) ([]string, error) {
		tags, err := release.ListTags(ctx, repository)
		if err == nil {
			return tags, nil
		}
		if recorded, ok := RecordedTags(dataDir, repository); ok {
			return recorded, nil
		}
		return nil, err
	}
}
