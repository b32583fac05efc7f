package bundle

import (
	"archive/tar"
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
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/cache"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/registry"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/app/weights"
)

// CreateOptions say what goes into a bundle.
type CreateOptions struct {
	GitLabVersion string // X.Y[.Z]; required
	Model         string // catalog id or Hugging Face repo; required
	Mode          string // config.ModeGPU (default) or config.ModeCPU: which model server image
	Platform      string // os/arch of the target machine; linux/amd64 when empty
	// GatewayImage and ModelServerImage replace the default images
	// ("repository:tag"); without a tag the gateway's is chosen from its
	// registry's tags by GitLab's rule and the model server's is DuoBox's pinned one.
	GatewayImage        string
	ModelServerImage    string
	GatewayRegistry     string // fetch the gateway from this registry instead (a mirror)
	ModelServerRegistry string
	DocsIndex           string // an existing docs.db to include (GitLab 17.2–17.3); downloaded and built when empty
	Catalog             catalog.Catalog
	CatalogYAML         []byte      // the catalog file written into the bundle
	Weights             weights.Env // the hub to download from; its HubCache is read when it already holds the model
	Output              string      // the bundle file; it must not exist
	// WorkDir keeps what was fetched until the bundle is written, so that an
	// interrupted create resumes there; Output + ".parts" when empty.
	WorkDir string
	// ListTags lists a repository's tags; release.ListTags when nil.
	ListTags func(ctx context.Context, repository string) ([]string, error)
}

// CreateResult is the bundle written.
type CreateResult struct {
	File     string   `json:"file"`
	Manifest Manifest `json:"manifest"`
	Bytes    int64    `json:"bytes"`
	Reused   []string `json:"reused,omitempty"` // parts an earlier, interrupted run had fetched
	Seconds  float64  `json:"seconds"`
}

// NeedsDocsIndex reports whether GitLab v needs a separately built docs
// index: 17.2–17.3 (from self-hosted-v17.4.0-ee the gateway image has it
// built in), as the GitLab version table says.
func NeedsDocsIndex(v version.GitLab) bool {
	r, err := gitlabversions.For(v)
	return err == nil && r.NeedsSeparateDocsIndex()
}

// DefaultPlatform is the platform bundles are made for unless told.
const DefaultPlatform = "linux/amd64"

// Create fetches everything into the work folder (skipping what an earlier
// run left complete there), then writes the bundle: each entry hashed as it
// is written, the manifest last. The work folder is removed once the
// bundle is complete; Output appears only then (written as Output.partial
// and renamed).
func Create(ctx context.Context, o CreateOptions, progress ProgressFunc) (CreateResult, error) {
	start := time.Now()
	v, err := version.Parse(o.GitLabVersion)
	if err != nil || !v.HasMinor() {
		return CreateResult{}, app.BadInput("pass --gitlab-version X.Y, the GitLab version the workstation will serve (e.g. 18.5)", "--gitlab-version %q is not a GitLab version X.Y", o.GitLabVersion)
	}
	if o.Model == "" {
		return CreateResult{}, app.BadInput("pass --model with a catalog id or Hugging Face repo (see 'duobox recommend')", "no model given")
	}
	if o.Output == "" {
		return CreateResult{}, app.BadInput("pass -o FILE", "no output file given")
	}
	if _, err := os.Stat(o.Output); err == nil {
		return CreateResult{}, app.BadInput("choose another -o path, or remove the file first", "%s exists already", o.Output)
	}
	if o.Mode == "" {
		o.Mode = config.ModeGPU
	}
	if o.Mode != config.ModeGPU && o.Mode != config.ModeCPU {
		return CreateResult{}, app.BadInput("pass --mode gpu or --mode cpu", "--mode %q is neither gpu nor cpu", o.Mode)
	}
	if o.Platform == "" {
		o.Platform = DefaultPlatform
	}
	plat, err := v1.ParsePlatform(o.Platform)
	if err != nil || plat.OS == "" || plat.Architecture == "" {
		return CreateResult{}, app.BadInput("pass --platform like linux/amd64 or linux/arm64", "--platform %q is not os/arch", o.Platform)
	}
	target, err := weights.ResolveTarget(o.Catalog, o.Model, "")
	if err != nil {
		return CreateResult{}, err
	}
	if o.ListTags == nil {
		o.ListTags = release.ListTags
	}
	if o.WorkDir == "" {
		o.WorkDir = o.Output + ".parts"
	}
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return CreateResult{}, app.Environment(err, "choose an -o path in a writable folder", "cannot create the work folder %s: %v", o.WorkDir, err)
	}
	c := &creator{o: o, v: v, plat: *plat, progress: progress}
	m := Manifest{Format: FormatVersion, GitLabVersion: v.MinorString(), Platform: plat.OS + "/" + plat.Architecture, Mode: o.Mode}
	m.GPUClass, m.MinGPUMemory = gpuClass(o.Catalog, v, target, o.Mode)

	// The gateway's tags, and its tag for this GitLab version.
	gwRepo, gwTag := splitRef(o.GatewayImage, config.DefaultGatewayImage)
	tags, err := c.tags(ctx, config.Relocate(gwRepo, o.GatewayRegistry))
	if err != nil {
		return CreateResult{}, err
	}
	if gwTag == "" {
		if gwTag, err = release.GatewayTag(v, tags); err != nil {
			return CreateResult{}, err
		}
	}
	msDefault := config.DefaultModelServerImage
	if o.Mode == config.ModeCPU {
		msDefault = config.DefaultCPUModelServerImage
	}
	msRepo, msTag := splitRef(o.ModelServerImage, msDefault)
	if msTag == "" {
		msTag = config.DefaultModelServerTag
	}
	for _, img := range []Image{
		{Role: RoleGateway, Repository: gwRepo, Registry: o.GatewayRegistry, Tag: gwTag},
		{Role: RoleModel, Repository: msRepo, Registry: o.ModelServerRegistry, Tag: msTag},
	} {
		if img, err = c.image(ctx, img); err != nil {
			return CreateResult{}, err
		}
		m.Images = append(m.Images, img)
	}
	model, wdir, err := c.weights(ctx, target)
	if err != nil {
		return CreateResult{}, err
	}
	m.Model = model
	docs := ""
	if NeedsDocsIndex(v) {
		if docs, err = c.docs(ctx); err != nil {
			return CreateResult{}, err
		}
	}
	if err := os.WriteFile(filepath.Join(o.WorkDir, "catalog.yaml"), o.CatalogYAML, 0o644); err != nil {
		return CreateResult{}, fmt.Errorf("write the catalog: %w", err)
	}

	// The entries, in order; then the file.
	var entries []entry
	entries = append(entries, entry{name: "catalog.yaml", src: filepath.Join(o.WorkDir, "catalog.yaml")},
		entry{name: "tags/gateway.txt", src: filepath.Join(o.WorkDir, "gateway-tags.txt")})
	m.Catalog, m.GatewayTags = "catalog.yaml", "tags/gateway.txt"
	for i, img := range m.Images {
		m.Images[i].File = "images/" + img.Role + ".tar"
		entries = append(entries, entry{name: m.Images[i].File, src: c.imagePath(img.Role)})
	}
	if docs != "" {
		m.DocsIndex = "docs/docs.db"
		entries = append(entries, entry{name: m.DocsIndex, src: docs})
	}
	wentries, err := weightEntries(wdir, o.WorkDir, model)
	if err != nil {
		return CreateResult{}, err
	}
	entries = append(entries, wentries...)
	m.CreatedAt = time.Now().UTC().Truncate(time.Second)
	if err := c.write(ctx, &m, entries); err != nil {
		return CreateResult{}, err
	}
	for i, img := range m.Images {
		for _, f := range m.Files {
			if f.Name == img.File {
				m.Images[i].Size = f.Size
			}
		}
	}
	os.RemoveAll(o.WorkDir)
	return CreateResult{File: o.Output, Manifest: m, Bytes: m.Bytes(), Reused: c.reused, Seconds: time.Since(start).Seconds()}, nil
}

type creator struct {
	o        CreateOptions
	v        version.GitLab
	plat     v1.Platform
	progress ProgressFunc
	reused   []string
}

// entry is one file to write: a regular file from src, or a link.
type entry struct {
	name, src, link string
}

// splitRef splits "repository[:tag]" (def when empty).
func splitRef(ref, def string) (repo, tag string) {
	if ref == "" {
		return def, ""
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// gpuClass describes the GPU the model needs at the catalog's fit.
func gpuClass(cat catalog.Catalog, v version.GitLab, t weights.Target, mode string) (string, uint64) {
	if mode == config.ModeCPU {
		return "none: CPU mode (for trying the flow; vLLM on CPU is slow)", 0
	}
	res, err := recommend.Recommend(hardware.Machine{}, cat, recommend.Options{GitLab: v})
	if err == nil {
		for _, f := range res.Models {
			if (strings.EqualFold(f.HFRepo, t.Repo) || (f.Variant != nil && strings.EqualFold(f.Variant.Repo, t.Repo))) && f.MinGPUMemory > 0 {
				return fmt.Sprintf("NVIDIA GPU with at least %.1f GiB free (one card, at %d tokens of context)", float64(f.MinGPUMemory)/(1<<30), f.Context), f.MinGPUMemory
			}
		}
	}
	return "NVIDIA GPU (the model is not in the catalog: its memory need is unknown)", 0
}

func (c *creator) tags(ctx context.Context, repo string) ([]string, error) {
	path := filepath.Join(c.o.WorkDir, "gateway-tags.txt")
	if data, err := os.ReadFile(path); err == nil {
		c.reused = append(c.reused, "gateway tags")
		return strings.Fields(string(data)), nil
	}
	mt := newMeter(c.progress, PhaseTags, repo, 0)
	tags, err := c.o.ListTags(ctx, repo)
	if err != nil {
		return nil, app.Environment(err, "run 'duobox bundle create' on a machine that reaches the registry (it is the online half of the offline path), or name a mirror with --gateway-registry",
			"cannot list the gateway's tags at %s: %v", repo, err)
	}
	sort.Strings(tags)
	if err := writeAtomic(path, []byte(strings.Join(tags, "\n")+"\n")); err != nil {
		return nil, err
	}
	mt.finish(fmt.Sprintf("%d tags", len(tags)))
	return tags, nil
}

func (c *creator) imagePath(role string) string {
	return filepath.Join(c.o.WorkDir, "images", role+".tar")
}

// imageRecord is what the work folder remembers of a fetched image.
type imageRecord struct {
	Ref      string `json:"ref"`
	Platform string `json:"platform"`
	Image    Image  `json:"image"`
}

// image fetches one image for the platform into images/<role>.tar (a
// 'docker save' archive), its layers cached in the work folder so that an
// interrupted fetch resumes with what it had.
func (c *creator) image(ctx context.Context, img Image) (Image, error) {
	ref := img.Ref()
	out := c.imagePath(img.Role)
	recPath := out + ".json"
	if data, err := os.ReadFile(recPath); err == nil {
		var rec imageRecord
		if json.Unmarshal(data, &rec) == nil && rec.Ref == ref && rec.Platform == c.o.Platform {
			if _, err := os.Stat(out); err == nil {
				c.reused = append(c.reused, ref)
				newMeter(c.progress, PhaseImage, ref, 0).finish("fetched by an earlier run")
				return rec.Image, nil
			}
		}
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return img, app.BadInput("give an image as repository:tag", "%q is not an image reference: %v", ref, err)
	}
	opts := append(registry.Options(ctx), remote.WithPlatform(c.plat))
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return img, app.Environment(err, "check the image name and that this machine reaches "+registry.Host(ref)+" (or name a mirror with --gateway-registry / --model-server-registry)",
			"cannot fetch %s: %v", ref, err)
	}
	remoteImg, err := desc.Image()
	if err != nil {
		return img, app.Environment(err, "choose an image published for "+c.o.Platform, "cannot read %s for %s: %v", ref, c.o.Platform, err)
	}
	cfg, err := remoteImg.ConfigFile()
	if err != nil {
		return img, fmt.Errorf("read the config of %s: %w", ref, err)
	}
	if cfg.OS != c.plat.OS || cfg.Architecture != c.plat.Architecture {
		return img, app.BadInput("pass --platform "+cfg.OS+"/"+cfg.Architecture+" if the workstation has that platform, or choose an image published for "+c.o.Platform,
			"%s has no variant for %s (it is built for %s/%s)", ref, c.o.Platform, cfg.OS, cfg.Architecture)
	}
	id, err := remoteImg.ConfigName()
	if err != nil {
		return img, err
	}
	img.ID, img.Digest = id.String(), desc.Digest.String()
	if err := os.MkdirAll(filepath.Join(c.o.WorkDir, "layers"), 0o755); err != nil {
		return img, err
	}
	cached := cache.Image(remoteImg, cache.NewFilesystemCache(filepath.Join(c.o.WorkDir, "layers")))
	size := int64(0)
	if m, err := remoteImg.Manifest(); err == nil {
		for _, l := range m.Layers {
			size += l.Size
		}
	}
	mt := newMeter(c.progress, PhaseImage, ref, size)
	tmp := out + ".partial"
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return img, err
	}
	f, err := os.Create(tmp)
	if err != nil {
		return img, err
	}
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			mt.setTotal(u.Total)
			mt.set(u.Complete)
		}
	}()
	tag, _ := name.NewTag(ref)
	err = tarball.Write(tag, cached, f, tarball.WithProgress(updates))
	close(updates) // Write does not close it
	<-done
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		if ctx.Err() != nil {
			return img, interrupted(ctx.Err())
		}
		return img, app.Environment(err, "check the network and run the same 'duobox bundle create' again: layers already fetched are kept",
			"fetching %s failed: %v", ref, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return img, err
	}
	rec, _ := json.Marshal(imageRecord{Ref: ref, Platform: c.o.Platform, Image: img})
	if err := writeAtomic(recPath, rec); err != nil {
		return img, err
	}
	mt.finish("")
	return img, nil
}

func interrupted(err error) error {
	return &app.Problem{Kind: app.KindEnvironment, Err: err, What: "bundle create was interrupted",
		Fix: "run the same 'duobox bundle create' again: it resumes with what was fetched"}
}

// weights makes sure the model's files are in a hub cache: the user's own
// when it holds them complete, else the work folder's (a resumable pull).
// It returns the models--org--name folder.
func (c *creator) weights(ctx context.Context, t weights.Target) (*Model, string, error) {
	env := c.o.Weights
	res, ok := weights.Cached(env.HubCache, t)
	if ok {
		c.reused = append(c.reused, t.Repo+" (from the local Hugging Face cache)")
		newMeter(c.progress, PhaseWeights, t.Repo, res.Bytes).finish("in the local Hugging Face cache")
	} else {
		env.HubCache = filepath.Join(c.o.WorkDir, "hub")
		env.Offline = false
		mt := newMeter(c.progress, PhaseWeights, t.Repo, 0)
		var err error
		res, err = weights.Pull(ctx, weights.Options{Env: env, Target: t}, func(p weights.Progress) {
			mt.setTotal(p.BytesTotal)
			mt.set(p.BytesDone)
		})
		if err != nil {
			return nil, "", err
		}
		mt.finish("")
	}
	dir := filepath.Join(env.HubCache, weights.FolderName(t.Repo))
	return &Model{Repo: t.Repo, Revision: res.Revision, Commit: res.Commit, LoadFormat: t.LoadFormat,
		Dir: "weights/" + weights.FolderName(t.Repo), Bytes: res.Bytes}, dir, nil
}

// weightEntries lists the cache files of the model's snapshot: each blob it
// links to once, the snapshot's links, and refs/main.
func weightEntries(dir, workDir string, m *Model) ([]entry, error) {
	snap := filepath.Join(dir, "snapshots", m.Commit)
	var blobs, links []entry
	seen := map[string]bool{}
	err := filepath.WalkDir(snap, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(snap, p)
		name := path.Join(m.Dir, "snapshots", m.Commit, filepath.ToSlash(rel))
		target, err := os.Readlink(p)
		if err != nil {
			return fmt.Errorf("%s is not a link into blobs/: %w", p, err)
		}
		blob := filepath.Base(target)
		links = append(links, entry{name: name, link: filepath.ToSlash(target)})
		if !seen[blob] {
			seen[blob] = true
			blobs = append(blobs, entry{name: path.Join(m.Dir, "blobs", blob), src: filepath.Join(dir, "blobs", blob)})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read the weights of %s: %w", m.Repo, err)
	}
	refs := filepath.Join(workDir, "weights-ref-main")
	if err := os.WriteFile(refs, []byte(m.Commit), 0o644); err != nil {
		return nil, err
	}
	out := append(blobs, links...)
	return append(out, entry{name: path.Join(m.Dir, "refs", "main"), src: refs}), nil
}

func (c *creator) docs(ctx context.Context) (string, error) {
	out := filepath.Join(c.o.WorkDir, "docs.db")
	if c.o.DocsIndex != "" {
		if _, err := docsindex.Inspect(c.o.DocsIndex); err != nil {
			return "", err
		}
		return c.o.DocsIndex, nil
	}
	if _, err := os.Stat(out); err == nil {
		c.reused = append(c.reused, "docs index")
		return out, nil
	}
	mt := newMeter(c.progress, PhaseDocs, "GitLab "+c.v.MinorString()+" documentation", 0)
	_, err := docsindex.Make(ctx, docsindex.Request{Tag: fmt.Sprintf("%d.%d.0", c.v.Major, c.v.Minor), Output: out,
		DownloadProgress: func(_ string, done, total int64) { mt.setTotal(total); mt.set(done) }})
	if err != nil {
		os.Remove(out)
		return "", err
	}
	mt.finish("")
	return out, nil
}

// write writes the entries, then the manifest, into Output.partial, hashing
// each entry as it goes, and renames it to Output.
func (c *creator) write(ctx context.Context, m *Manifest, entries []entry) error {
	var total int64
	for _, e := range entries {
		if e.link == "" {
			st, err := os.Stat(e.src)
			if err != nil {
				return fmt.Errorf("bundle entry %s: %w", e.name, err)
			}
			total += st.Size()
		}
	}
	if err := checkFree(filepath.Dir(c.o.Output), total+1<<20, "the bundle"); err != nil {
		return err
	}
	tmp := c.o.Output + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return app.Environment(err, "choose an -o path in a writable folder", "cannot write %s: %v", tmp, err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	mt := newMeter(c.progress, PhaseWrite, c.o.Output, total)
	tw := tar.NewWriter(f)
	buf := make([]byte, 1<<20)
	mtime := m.CreatedAt
	m.Files = nil
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return interrupted(err)
		}
		if e.link != "" {
			if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeSymlink, Linkname: e.link, Mode: 0o777, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return err
			}
			m.Files = append(m.Files, File{Name: e.name, Link: e.link})
			continue
		}
		in, err := os.Open(e.src)
		if err != nil {
			return err
		}
		st, err := in.Stat()
		if err != nil {
			in.Close()
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Typeflag: tar.TypeReg, Size: st.Size(), Mode: 0o644, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			in.Close()
			return err
		}
		h := sha256.New()
		n, err := io.CopyBuffer(io.MultiWriter(tw, h, meterWriter{mt}), in, buf)
		in.Close()
		if err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return app.Environment(err, "free disk space or write the bundle elsewhere (-o), then run the same command again", "the disk filled while writing %s", c.o.Output)
			}
			return fmt.Errorf("write %s: %w", e.name, err)
		}
		m.Files = append(m.Files, File{Name: e.name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if err := tw.WriteHeader(&tar.Header{Name: ManifestName, Typeflag: tar.TypeReg, Size: int64(len(data)), Mode: 0o644, ModTime: mtime,
		Format: tar.FormatPAX, PAXRecords: map[string]string{paxSHA256: hex.EncodeToString(sum[:])}}); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	ok = true
	if err := os.Rename(tmp, c.o.Output); err != nil {
		return err
	}
	mt.finish("")
	return nil
}

func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return config.WriteFileAtomic(path, data, 0o644)
}
