package weights

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/units"
)

// Options control a pull. Only Env and Target are required.
type Options struct {
	Env     Env
	Target  Target
	Jobs    int           // files downloaded at once; 8 when 0
	Retries int           // further attempts per file after a failed one; 5 when 0, none when < 0
	Backoff time.Duration // wait before the first retry, doubled each time up to 30 s; 1 s when 0
	Stall   time.Duration // an attempt that receives nothing this long is retried; 60 s when 0
	// ChunkSize is the size of one Range request when a large file (4 chunks
	// or more left) downloads over several connections, which it does when
	// fewer than Jobs/2 large files are pending (a Mistral repository's single
	// consolidated.safetensors); with more, the files themselves keep the
	// connections busy. DefaultChunkSize when 0. At most 2×Jobs chunks are in
	// flight or buffered across all files.
	ChunkSize int64
	Headroom  int64        // free space kept beyond the download; DefaultHeadroom when 0, none when < 0
	Client    *http.Client // nil: a client made for large downloads
	// ProgressInterval is how often progress is reported while bytes move; 250 ms when 0.
	ProgressInterval time.Duration
}

func (o Options) withDefaults() Options {
	if o.Jobs <= 0 {
		o.Jobs = 8
	}
	if o.Retries == 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Stall <= 0 {
		o.Stall = 60 * time.Second
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = DefaultChunkSize
	}
	if o.Headroom == 0 {
		o.Headroom = DefaultHeadroom
	} else if o.Headroom < 0 {
		o.Headroom = 0
	}
	if o.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 3 * o.Jobs // file streams plus chunk requests
		t.ResponseHeaderTimeout = time.Minute
		t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		o.Client = &http.Client{Transport: t}
	}
	return o
}

// Result is what a pull or import left in the cache.
type Result struct {
	Repo     string   `json:"repo"`
	Revision string   `json:"revision"`
	Commit   string   `json:"commit"`
	Format   Format   `json:"format"`
	Snapshot string   `json:"snapshot"` // snapshots/<commit> folder
	Files    []string `json:"files"`
	Skipped  []string `json:"skipped,omitempty"` // in the repo, not needed by vLLM
	Bytes    int64    `json:"bytes"`             // size of the selected files
	Fetched  int64    `json:"fetched"`           // bytes transferred (or copied) by this run
	Reused   int64    `json:"reused"`            // bytes already complete or resumed from an interrupted run
	Waited   bool     `json:"waited"`            // another pull of the model held its lock first
	Cached   bool     `json:"cached"`            // Ensure found the model complete and fetched nothing
	Seconds  float64  `json:"seconds"`
}

// Ensure makes sure the cache holds target's weights, the way `duobox up`
// and the GUI's Deploy need them: when refs/<revision> already points at a
// complete snapshot in the target's format it returns at once without using
// the network (Result.Cached); otherwise it pulls. Call it before creating
// the model container and start that container with HF_HUB_OFFLINE=1 and
// opts.Env.HubCache mounted as its hub cache.
func Ensure(ctx context.Context, opts Options, progress ProgressFunc) (Result, error) {
	if r, ok := Cached(opts.Env.HubCache, opts.Target); ok {
		if progress != nil {
			progress(Progress{Repo: r.Repo, Phase: PhaseDone, FilesDone: len(r.Files), FilesTotal: len(r.Files), BytesDone: r.Bytes, BytesTotal: r.Bytes})
		}
		return r, nil
	}
	return Pull(ctx, opts, progress)
}

// Pull lists target's files on the hub, selects what vLLM needs and
// downloads what the cache lacks, Jobs files at a time. A file interrupted
// earlier (blobs/<blob>.incomplete) resumes with a Range request, and so does
// a failed attempt, after a backoff. Each file is verified (sha256 for LFS
// files, the git blob id for others, the size always) before it is renamed
// into blobs/ and linked from the snapshot; refs/<revision> is written last,
// only when every file is in place. A second pull of the same repository
// waits for the first and then finds nothing left to fetch.
func Pull(ctx context.Context, opts Options, progress ProgressFunc) (Result, error) {
	start := time.Now()
	o := opts.withDefaults()
	t := o.Target
	if err := CheckRepoID(t.Repo); err != nil {
		return Result{}, err
	}
	if err := CheckRevision(t.revision()); err != nil {
		return Result{}, err
	}
	if o.Env.Offline {
		return Result{}, app.Environment(nil, "unset HF_HUB_OFFLINE to download, or bring the files with `duobox weights import`",
			"%s is not complete in %s and HF_HUB_OFFLINE forbids downloading it", t.Repo, o.Env.HubCache)
	}
	if o.Env.Endpoint == "" {
		o.Env.Endpoint = DefaultEndpoint
	}
	h := &hub{env: o.Env, client: o.Client}
	m := newMeter(t.Repo, progress, o.ProgressInterval)
	m.setPhase(PhaseListing)
	info, err := h.Info(ctx, t.Repo, t.revision())
	if err != nil {
		return Result{}, err
	}
	sel, err := Select(t.Repo, info.Files, t.LoadFormat)
	if err != nil {
		return Result{}, err
	}
	for i, f := range sel.Files {
		if f.Size < 0 || f.BlobName() == "" {
			if sel.Files[i], err = h.Head(ctx, t.Repo, info.Commit, f); err != nil {
				return Result{}, err
			}
		}
	}
	rc := repoCache{hubCache: o.Env.HubCache, repo: t.Repo}
	if err := rc.checkPaths(t.revision(), info.Commit, sel.Files); err != nil {
		return Result{}, hostileName(o.Env.Endpoint, t.Repo, err)
	}
	res := Result{Repo: t.Repo, Revision: t.revision(), Commit: info.Commit, Format: sel.Format,
		Snapshot: rc.snapshot(info.Commit), Skipped: sel.Skipped, Bytes: sel.Bytes()}
	modelLock, err := lock(ctx, rc.modelLockPath(), func() { res.Waited = true; m.setPhase(PhaseWaiting) })
	if err != nil {
		return Result{}, fmt.Errorf("wait for the other pull of %s: %w", t.Repo, err)
	}
	defer modelLock.Unlock()

	p := &puller{opts: o, hub: h, cache: rc, commit: info.Commit, meter: m, paths: map[string][]string{},
		tokens: make(chan struct{}, 2*o.Jobs)}
	need, err := p.plan(sel.Files)
	if err != nil {
		return res, err
	}
	res.Files = sel.Paths()
	res.Reused = m.bytes.Load()
	if err := checkSpace(rc.dir(), need, o.Headroom); err != nil {
		return res, err
	}
	m.start(len(sel.Files), sel.Bytes())
	err = p.fetchAll(ctx, p.todo)
	res.Fetched = m.fetched.Load()
	if err == nil {
		err = rc.writeRef(res.Revision, info.Commit)
	}
	if err != nil {
		m.finish("")
		rc.removeEmpty(info.Commit)
		if errors.Is(err, context.Canceled) {
			err = &app.Problem{Kind: app.KindEnvironment, Err: err,
				What: fmt.Sprintf("the pull of %s was interrupted with %s of %s in place", t.Repo, units.HumanBytes(m.bytes.Load()), units.HumanBytes(res.Bytes)),
				Fix:  "run the same pull again: it resumes where it stopped"}
		}
		return res, err
	}
	m.finish(PhaseDone)
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// puller downloads the files of one repository revision.
type puller struct {
	opts   Options
	hub    *hub
	cache  repoCache
	commit string
	meter  *meter
	paths  map[string][]string // blob name -> the paths with that content
	todo   []pending
	tokens chan struct{} // one per chunk in flight or buffered (see chunkedBody)
	// chunking is set when too few large files are pending to keep Jobs
	// connections busy: those files then download as parallel ranges.
	chunking bool
}

// plan finds what the cache holds of files, links what is complete and
// queues the rest in p.todo, one entry per blob (files with the same content
// share one). It returns the bytes left to download.
func (p *puller) plan(files []RemoteFile) (need int64, err error) {
	var unique []pending
	large := 0
	for _, f := range files {
		name := f.BlobName()
		if p.paths[name] = append(p.paths[name], f.Path); len(p.paths[name]) == 1 {
			unique = append(unique, pending{RemoteFile: f})
		}
	}
	for _, f := range unique {
		f.have, f.complete = p.inPlace(f.RemoteFile)
		if f.complete {
			if err := p.finished(f.RemoteFile, 0); err != nil {
				return 0, err
			}
			continue
		}
		p.meter.bytes.Add(f.have)
		need += f.Size - f.have
		p.todo = append(p.todo, f)
		if f.Size-f.have >= chunkedMinChunks*p.opts.ChunkSize {
			large++
		}
	}
	p.chunking = large < max(2, p.opts.Jobs/2)
	return need, nil
}

// pending is a blob to fetch and what the cache held of it when planned.
type pending struct {
	RemoteFile
	have     int64 // bytes counted in the progress already
	complete bool
}

// finished links every path of f's blob into the snapshot and counts them
// done; counted is how many of their bytes the progress holds already.
func (p *puller) finished(f RemoteFile, counted int64) error {
	paths := p.paths[f.BlobName()]
	for _, path := range paths {
		if err := p.cache.link(p.commit, path, f.BlobName()); err != nil {
			return err
		}
	}
	p.meter.bytes.Add(int64(len(paths))*f.Size - counted)
	p.meter.files.Add(int64(len(paths)))
	return nil
}

// inPlace returns how many bytes of f the cache already holds: all of them
// when its blob is there (complete), else the size of an interrupted
// download. A blob of the wrong size is not trusted and removed.
func (p *puller) inPlace(f RemoteFile) (have int64, complete bool) {
	blob := p.cache.blob(f.BlobName())
	if st, err := os.Stat(blob); err == nil {
		if st.Size() == f.Size {
			return f.Size, true
		}
		os.Remove(blob)
	}
	if st, err := os.Stat(blob + ".incomplete"); err == nil && st.Size() <= f.Size {
		return st.Size(), false
	}
	return 0, false
}

// fetchAll downloads files with Jobs workers; the first failure stops the rest.
func (p *puller) fetchAll(ctx context.Context, files []pending) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan pending)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for range min(p.opts.Jobs, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range queue {
				if err := p.fetch(ctx, f); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
			}
		}()
	}
feed:
	for _, f := range files {
		select {
		case queue <- f:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// fetch brings one blob into blobs/ and links its paths from the snapshot.
func (p *puller) fetch(ctx context.Context, f pending) error {
	name := f.BlobName()
	blobLock, err := lock(ctx, filepath.Join(p.cache.locks(), name+".lock"), nil)
	if err != nil {
		return err
	}
	defer blobLock.Unlock()
	if err := os.MkdirAll(filepath.Dir(p.cache.blob(name)), 0o755); err != nil {
		return fmt.Errorf("create the cache folder: %w", err)
	}
	counted := f.have
	// Another client (huggingface_hub takes the same lock) may have finished it meanwhile.
	if st, err := os.Stat(p.cache.blob(name)); err != nil || st.Size() != f.Size {
		if err := p.download(ctx, f.RemoteFile); err != nil {
			return err
		}
		counted = f.Size
	}
	return p.finished(f.RemoteFile, counted)
}

// download fetches f into blobs/<blob>.incomplete with retries, verifies it
// and renames it into place. A wrong checksum removes the partial file.
func (p *puller) download(ctx context.Context, f RemoteFile) error {
	incomplete := p.cache.blob(f.BlobName()) + ".incomplete"
	if err := inside(filepath.Join(p.cache.dir(), "blobs"), incomplete); err != nil {
		return err
	}
	v := newVerifier(f)
	backoff := p.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := p.attempt(ctx, f, incomplete, v)
		if err == nil {
			break
		}
		if !retryable(err) || attempt >= p.opts.Retries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("download %s of %s: %w", f.Path, p.cache.repo, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	if err := v.check(); err != nil {
		os.Remove(incomplete)
		p.meter.bytes.Add(-f.Size)
		return &app.Problem{Kind: app.KindEnvironment, Err: err,
			What: fmt.Sprintf("%s of %s failed verification and was removed: %v", f.Path, p.cache.repo, err),
			Fix:  "run the pull again; if it fails the same way, the server at " + p.hub.env.Endpoint + " serves a corrupt file"}
	}
	if err := os.Rename(incomplete, p.cache.blob(f.BlobName())); err != nil {
		return fmt.Errorf("store %s: %w", f.Path, err)
	}
	return nil
}

// errStalled marks an attempt that received nothing for too long.
var errStalled = errors.New("no data received for too long")

// attempt appends the rest of f to the incomplete file, asking for the range
// that starts at its current size. The file is created only once the server
// has agreed to send bytes, so a refusal leaves nothing behind.
func (p *puller) attempt(ctx context.Context, f RemoteFile, incomplete string, v *verifier) error {
	var offset int64
	if st, err := os.Stat(incomplete); err == nil {
		offset = st.Size()
	}
	if offset > f.Size { // not counted in the progress
		if err := os.Truncate(incomplete, 0); err != nil {
			return err
		}
		offset = 0
	}
	if v.hashed != offset {
		if err := v.rehash(incomplete, offset); err != nil {
			return err
		}
	}
	if offset == f.Size {
		return nil
	}
	attemptCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(p.opts.Stall, cancel)
	defer watchdog.Stop()
	body, offset, closeBody, err := p.open(attemptCtx, f, offset, incomplete, v)
	if err != nil {
		return p.attemptErr(ctx, err)
	}
	defer closeBody()
	out, err := os.OpenFile(incomplete, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	if _, err := out.Seek(offset, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 256<<10) // small enough to stay in the CPU cache between the read, the hash and the write
	for offset < f.Size {
		n, rerr := body.Read(buf[:min(int64(len(buf)), f.Size-offset)])
		if n > 0 {
			watchdog.Reset(p.opts.Stall)
			w, werr := out.Write(buf[:n])
			v.Write(buf[:w])
			offset += int64(w)
			p.meter.bytes.Add(int64(w))
			p.meter.fetched.Add(int64(w))
			if werr != nil {
				return fmt.Errorf("write %s: %w", incomplete, werr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return p.attemptErr(ctx, rerr)
		}
	}
	if offset < f.Size {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// open requests f from offset and returns its bytes and the offset they
// start at: 0 when the server ignored the range (the incomplete file is then
// emptied). A large file comes as a first chunk followed by parallel ranges.
func (p *puller) open(ctx context.Context, f RemoteFile, offset int64, incomplete string, v *verifier) (io.Reader, int64, func(), error) {
	req, err := p.hub.newRequest(ctx, http.MethodGet, p.hub.resolveURL(p.cache.repo, p.commit, f.Path))
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	chunked := p.chunking && f.Size-offset >= chunkedMinChunks*p.opts.ChunkSize
	switch {
	case chunked: // the first chunk; the others follow in parallel once the server agrees to ranges
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+p.opts.ChunkSize-1))
	case offset > 0:
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := p.hub.client.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	fail := func(err error) (io.Reader, int64, func(), error) {
		resp.Body.Close()
		return nil, 0, nil, err
	}
	gotRange := resp.Header.Get("Content-Range")
	switch {
	case resp.StatusCode == http.StatusOK && offset > 0: // the server ignored the range: start over
		if err := p.restart(incomplete, offset, v); err != nil {
			return fail(err)
		}
		return resp.Body, 0, func() { resp.Body.Close() }, nil
	case resp.StatusCode == http.StatusOK:
		return resp.Body, 0, func() { resp.Body.Close() }, nil
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if err := p.restart(incomplete, offset, v); err != nil {
			return fail(err)
		}
		return fail(errHTTPStatus{http.StatusServiceUnavailable}) // retry from the start
	case resp.StatusCode != http.StatusPartialContent:
		return fail(p.hub.statusError(resp, p.cache.repo, p.commit, f.Path))
	case !chunked && !strings.HasPrefix(gotRange, fmt.Sprintf("bytes %d-", offset)):
		return fail(fmt.Errorf("the server sent range %q, asked for bytes=%d-", gotRange, offset))
	case !chunked:
		return resp.Body, offset, func() { resp.Body.Close() }, nil
	case !strings.HasPrefix(gotRange, fmt.Sprintf("bytes %d-%d/", offset, offset+p.opts.ChunkSize-1)):
		return fail(fmt.Errorf("the server sent range %q, asked for bytes=%d-%d", gotRange, offset, offset+p.opts.ChunkSize-1))
	}
	rest := p.openChunked(ctx, resp.Request.URL, offset+p.opts.ChunkSize, f.Size, p.opts.ChunkSize)
	body := io.MultiReader(io.LimitReader(resp.Body, p.opts.ChunkSize), rest)
	return body, offset, func() { rest.Close(); resp.Body.Close() }, nil
}

// restart empties an incomplete file and takes its bytes off the progress.
func (p *puller) restart(incomplete string, counted int64, v *verifier) error {
	if err := os.Truncate(incomplete, 0); err != nil {
		return err
	}
	p.meter.bytes.Add(-counted)
	v.reset()
	return nil
}

// attemptErr tells a stall (the watchdog cancelled the attempt) from a cancel by the caller.
func (p *puller) attemptErr(ctx context.Context, err error) error {
	if ctx.Err() == nil && errors.Is(err, context.Canceled) {
		return errStalled
	}
	return err
}

// verifier hashes a file as it is written: sha256 for LFS files, the git
// blob id (sha1 of "blob <size>\0" + content) for the others.
type verifier struct {
	f      RemoteFile
	h      hash.Hash
	want   string
	hashed int64
}

func newVerifier(f RemoteFile) *verifier {
	v := &verifier{f: f}
	v.reset()
	return v
}

func (v *verifier) reset() {
	v.hashed = 0
	switch {
	case v.f.SHA256 != "":
		v.h, v.want = sha256.New(), v.f.SHA256
	case reGitOID().MatchString(v.f.BlobID):
		v.h, v.want = sha1.New(), v.f.BlobID
		fmt.Fprintf(v.h, "blob %d\x00", v.f.Size)
	default:
		v.h, v.want = nil, ""
	}
}

func (v *verifier) Write(b []byte) {
	if v.h != nil {
		v.h.Write(b)
	}
	v.hashed += int64(len(b))
}

// rehash reads the first n bytes of path, the part an earlier attempt wrote.
func (v *verifier) rehash(path string, n int64) error {
	v.reset()
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	w := io.Writer(io.Discard)
	if v.h != nil {
		w = v.h
	}
	copied, err := io.Copy(w, io.LimitReader(in, n))
	v.hashed = copied
	if err == nil && copied != n {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// checksumError says a file's content does not match what the hub announced.
type checksumError struct{ kind, want, got string }

func (e *checksumError) Error() string {
	return fmt.Sprintf("%s mismatch: expected %s, got %s", e.kind, e.want, e.got)
}

func (v *verifier) check() error {
	if v.hashed != v.f.Size {
		return &checksumError{"size", strconv.FormatInt(v.f.Size, 10), strconv.FormatInt(v.hashed, 10)}
	}
	if v.h == nil {
		return nil
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		kind := "sha256"
		if v.f.SHA256 == "" {
			kind = "git blob id"
		}
		return &checksumError{kind, v.want, got}
	}
	return nil
}
