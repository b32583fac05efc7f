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
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
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

// Load verifies every checksum of the bundle before anything is changed,
// then loads the images the engine lacks, imports the weights the hub cache
// lacks, records the gateway's tags, the catalog and the docs index, and
// points an existing deployment config at the bundle's images. A refused
// or failed load leaves the engine, the hub cache, the records and the
// config as they were; loading the same bundle again changes nothing.
func Load(ctx context.Context, o LoadOptions, file string, progress ProgressFunc) (res LoadResult, err error) {
	start := time.Now()
	res.File = file
	m, err := OpenManifest(file)
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
	if err := o.checkDisk(o.HubCache, weightBytes+16<<20, "the model weights"); err != nil {
		return res, err
	}
	if eng.DataRoot != "" {
		if err := o.checkDisk(eng.DataRoot, 2*imageBytes, "the images (the engine keeps the archive's layers and their unpacked files)"); err != nil {
			return res, err
		}
	}

	// Verify every entry; stage the weights inside the hub cache (so that
	// they are moved into place, not copied again) and the small files
	// under the data folder. Nothing outside the staging folders changes.
	vstart := time.Now()
	st, err := o.verify(ctx, file, m, progress)
	defer st.cleanup()
	if err != nil {
		return res, err
	}
	res.Bytes = m.Bytes()
	res.VerifySeconds = time.Since(vstart).Seconds()

	// Apply. A failure from here undoes the images this load added.
	var added []string
	defer func() {
		if err != nil {
			for _, ref := range added {
				_ = o.Engine.RemoveImage(context.WithoutCancel(ctx), ref)
			}
		}
	}()
	f, err := os.Open(file)
	if err != nil {
		return res, err
	}
	defer f.Close()
	for _, img := range m.Images {
		ref := img.Ref()
		if info, err := o.Engine.Image(ctx, ref); err == nil && info.ID == img.ID {
			res.Images = append(res.Images, ImageAction{Ref: ref, ID: img.ID, Action: "present"})
			newMeter(progress, PhaseImage, ref, img.Size).finish("already in the engine")
			continue
		}
		_, before := o.Engine.Image(ctx, ref) // an error: the tag is new, and a failure removes it
		at, ok := st.offsets[img.File]
		if !ok {
			return res, damaged(file, "%s is missing", img.File)
		}
		mt := newMeter(progress, PhaseImage, ref, at.size)
		r := io.TeeReader(io.NewSectionReader(f, at.offset, at.size), meterWriter{mt})
		if err := o.Engine.LoadImageArchive(ctx, r); err != nil {
			if before != nil {
				added = append(added, ref)
			}
			if isNoSpace(err) {
				return res, app.Environment(err, "free disk space for the engine ('docker system df', 'docker image prune'), then run 'duobox bundle load' again",
					"the engine's disk filled while loading %s; the images this load added were removed", ref)
			}
			return res, app.Environment(err, "check the engine's log ('journalctl -u docker'), then run 'duobox bundle load' again",
				"the engine refused %s from the bundle: %v", ref, err)
		}
		if before != nil {
			added = append(added, ref)
		}
		info, err := o.Engine.Image(ctx, ref)
		if err != nil || info.ID != img.ID {
			return res, app.Environment(err, "run 'duobox bundle load' again; if it repeats, make a new bundle",
				"after loading, %s is image %s, not %s as the bundle says", ref, info.ID, img.ID)
		}
		mt.finish("")
		res.Images = append(res.Images, ImageAction{Ref: ref, ID: img.ID, Action: "loaded"})
		res.Changed = true
	}

	if m.Model != nil {
		t := weights.Target{Repo: m.Model.Repo, Revision: m.Model.Revision, LoadFormat: m.Model.LoadFormat}
		res.WeightsRepo = m.Model.Repo
		if have, ok := weights.Cached(o.HubCache, t); ok && have.Commit == m.Model.Commit {
			res.Weights, res.Snapshot = "present", have.Snapshot
			newMeter(progress, PhaseWeights, t.Repo, m.Model.Bytes).finish("already in the Hugging Face cache")
		} else {
			mt := newMeter(progress, PhaseWeights, t.Repo, m.Model.Bytes)
			r, err := weights.Import(ctx, weights.ImportOptions{Env: weights.Env{HubCache: o.HubCache, Offline: true}, Target: t,
				Commit: m.Model.Commit, Headroom: -1, Staged: true}, filepath.Join(st.hubDir, path.Base(m.Model.Dir)),
				func(p weights.Progress) { mt.set(p.BytesDone) })
			if err != nil {
				if isNoSpace(err) {
					return res, app.Environment(err, "free disk space in "+o.HubCache+", then run 'duobox bundle load' again",
						"the disk filled while importing %s; the images this load added were removed", t.Repo)
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

// span is where an entry's bytes are in the bundle file.
type span struct{ offset, size int64 }

// staging is what verify left for the apply steps.
type staging struct {
	hubDir  string // inside the hub cache: the weights, as models--org--name
	dataDir string // inside the data folder: catalog, tags, docs index
	offsets map[string]span
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

// countingReader counts the bytes read from the file, so that an entry's
// offset is known when tar.Reader returns its header.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// verify reads the bundle once: every entry must be listed in the
// manifest, in order, with its size and sha256; the weights are staged in
// the hub cache and the small files in the data folder.
func (o LoadOptions) verify(ctx context.Context, file string, m Manifest, progress ProgressFunc) (*staging, error) {
	st := &staging{offsets: map[string]span{}}
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
	if st.dataDir, err = os.MkdirTemp(o.DataDir, ".duobox-bundle-"); err != nil {
		return st, err
	}
	f, err := os.Open(file)
	if err != nil {
		return st, app.BadInput("give a readable bundle file", "cannot open %s: %v", file, err)
	}
	defer f.Close()
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	mt := newMeter(progress, PhaseVerify, file, m.Bytes())
	buf := make([]byte, 1<<20)
	next := 0
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if err != nil {
			return st, damaged(file, "it is cut short or damaged after %d of %d entries (%v)", next, len(m.Files), err)
		}
		if hdr.Name == ManifestName {
			break
		}
		if next >= len(m.Files) || m.Files[next].Name != hdr.Name {
			return st, damaged(file, "entry %q is not the one its manifest lists next", hdr.Name)
		}
		want := m.Files[next]
		next++
		if want.Link != "" {
			if hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != want.Link {
				return st, damaged(file, "entry %s is not the link its manifest lists", hdr.Name)
			}
			if dst, ok := st.place(m, hdr.Name); ok {
				if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
					return st, err
				}
				if err := os.Symlink(hdr.Linkname, dst); err != nil {
					return st, err
				}
			}
			continue
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size != want.Size {
			return st, damaged(file, "entry %s is %d bytes, its manifest says %d", hdr.Name, hdr.Size, want.Size)
		}
		st.offsets[hdr.Name] = span{offset: cr.n, size: hdr.Size}
		h := sha256.New()
		var w io.Writer = h
		var out *os.File
		if dst, ok := st.place(m, hdr.Name); ok {
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return st, err
			}
			if out, err = os.Create(dst); err != nil {
				return st, err
			}
			w = io.MultiWriter(out, h)
		}
		n, err := io.CopyBuffer(io.MultiWriter(w, meterWriter{mt}), tr, buf)
		if out != nil {
			if cerr := out.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			if isNoSpace(err) {
				return st, app.Environment(err, "free disk space there, then run 'duobox bundle load' again; nothing was changed",
					"the disk filled while unpacking %s from the bundle", hdr.Name)
			}
			return st, damaged(file, "entry %s is cut short (%v)", hdr.Name, err)
		}
		got := hex.EncodeToString(h.Sum(nil))
		if n != want.Size || got != want.SHA256 {
			return st, damaged(file, "entry %s does not match its checksum (sha256 %s, the manifest says %s)", hdr.Name, got, want.SHA256)
		}
		if m.Model != nil && path.Dir(hdr.Name) == m.Model.Dir+"/blobs" && len(path.Base(hdr.Name)) == 64 && path.Base(hdr.Name) != got {
			// The cache names a weight blob by its sha256; the import trusts that name.
			return st, damaged(file, "weight blob %s holds content with sha256 %s", hdr.Name, got)
		}
	}
	if next != len(m.Files) {
		return st, damaged(file, "%d entries listed in its manifest are missing", len(m.Files)-next)
	}
	mt.finish("all checksums match")
	return st, nil
}

// place says where a verified entry is staged ("" for images, which are
// loaded from the bundle file itself).
func (s *staging) place(m Manifest, name string) (string, bool) {
	switch {
	case m.Model != nil && strings.HasPrefix(name, m.Model.Dir+"/"):
		rel := strings.TrimPrefix(name, path.Dir(m.Model.Dir)+"/")
		return filepath.Join(s.hubDir, filepath.FromSlash(rel)), true
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
