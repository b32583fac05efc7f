// Package fakehub is a FAKE of the Hugging Face hub: an HTTP server that
// speaks only the API shapes DuoBox's weights package uses (the revision
// listing with ?blobs=true, /resolve/ downloads with Range, the LFS redirect
// to a CDN path, X-Repo-Commit / X-Linked-Etag / X-Linked-Size headers, and
// the 401/403 GatedRepo refusal). The real hub cannot be reached from tests
// and benchmarks; this exists for them only and never ships as a feature.
// Hooks let a test cut a connection mid-file, announce a wrong checksum or
// hold a download, and every request is recorded for assertions.
package fakehub

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"
)

// File is one file of a fake repository: in memory (Data) or on disk (DiskPath).
type File struct {
	Path     string
	Data     []byte
	DiskPath string
	LFS      bool // listed with lfs.sha256 and served through the CDN redirect
	// AnnouncedSHA256, when set, is listed instead of the real sha256 (a corrupt mirror).
	AnnouncedSHA256 string
	// AnnouncedBlobID, when set, is listed as the blobId and sent as the ETag
	// instead of the real git blob id (a hostile mirror: "../../../tmp/x").
	AnnouncedBlobID string
	// CutAfter, when > 0, makes the first full GET of the file send that many
	// bytes and then drop the connection.
	CutAfter int64
	// FailFirst makes the first that many requests for the file's bytes answer 503.
	FailFirst int
	// IgnoreRange serves the whole file with 200 to Range requests, as some servers do.
	IgnoreRange bool

	size          int64
	sha256, gitID string
	cut           bool
}

// Repo is a fake repository at one commit (reachable as "main" and as the commit).
type Repo struct {
	ID     string
	Commit string // 40 hex digits; derived from the files when empty
	Files  []*File
	// Gated refuses file downloads unless the request carries one of Tokens:
	// 401 without a token, 403 with another one, as the hub does.
	Gated  bool
	Tokens []string
	// NoBlobs lists only file names, as a mirror ignoring ?blobs=true does;
	// clients must read sizes and hashes from HEAD requests.
	NoBlobs bool
	// AnyRevision answers every revision with the repo's commit, as a mirror
	// that does not check them would (a revision of "../.." included).
	AnyRevision bool
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Range  string
	Token  bool // an Authorization header was sent
}

// Server is a running fake hub.
type Server struct {
	*httptest.Server
	mu    sync.Mutex
	repos map[string]*Repo
	log   []Request
	// served are the requests answered with file bytes
	served []Request
	// BeforeContent, when set, runs before a file's bytes are sent with the
	// request's Range header; tests block in it to hold a download. A
	// non-zero status is answered instead of the bytes.
	BeforeContent func(repo, path, rangeHeader string) (status int)
}

// New starts a fake hub serving repos; Close it when done.
func New(repos ...*Repo) (*Server, error) {
	s := &Server{repos: map[string]*Repo{}}
	for _, r := range repos {
		if err := s.Add(r); err != nil {
			return nil, err
		}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// Add serves one more repository, hashing its files.
func (s *Server) Add(r *Repo) error {
	commit := sha1.New()
	for _, f := range r.Files {
		in, err := f.open()
		if err != nil {
			return err
		}
		h256 := sha256.New()
		n, err := io.Copy(h256, in)
		in.Close()
		if err != nil {
			return err
		}
		f.size, f.sha256 = n, hex.EncodeToString(h256.Sum(nil))
		// The git blob id: of the content, or for an LFS file of its pointer file.
		h1 := sha1.New()
		if f.LFS {
			pointer := fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", f.sha256, n)
			fmt.Fprintf(h1, "blob %d\x00%s", len(pointer), pointer)
		} else {
			fmt.Fprintf(h1, "blob %d\x00", n)
			in, _ = f.open()
			io.Copy(h1, in)
			in.Close()
		}
		f.gitID = hex.EncodeToString(h1.Sum(nil))
		fmt.Fprintf(commit, "%s %s\n", f.Path, f.sha256)
	}
	if r.Commit == "" {
		r.Commit = hex.EncodeToString(commit.Sum(nil))
	}
	s.mu.Lock()
	s.repos[r.ID] = r
	s.mu.Unlock()
	return nil
}

// SHA256 is the real sha256 of a file's content (after Add).
func (f *File) SHA256() string { return f.sha256 }

// GitBlobID is the git blob id of a file: of its content, or of its LFS
// pointer for an LFS file, as the hub lists it (after Add).
func (f *File) GitBlobID() string { return f.gitID }

type readSeekCloser interface {
	io.ReadSeeker
	io.Closer
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func (f *File) open() (readSeekCloser, error) {
	if f.DiskPath != "" {
		return os.Open(f.DiskPath)
	}
	return nopCloser{bytes.NewReader(f.Data)}, nil
}

// Requests returns what the fake received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// ContentRequests returns the requests answered with file bytes (the CDN
// for LFS files, /resolve/ for the others) whose path ends with suffix; an
// empty suffix returns them all.
func (s *Server) ContentRequests(suffix string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.served {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, req *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, Request{Method: req.Method, Path: req.URL.Path, Range: req.Header.Get("Range"), Token: req.Header.Get("Authorization") != ""})
	s.mu.Unlock()
	switch p := req.URL.Path; {
	case strings.HasPrefix(p, "/api/models/"):
		s.serveInfo(w, strings.TrimPrefix(p, "/api/models/"))
	case strings.HasPrefix(p, "/cdn/"):
		s.serveCDN(w, req, strings.TrimPrefix(p, "/cdn/"))
	case strings.Contains(p, "/resolve/"):
		s.serveResolve(w, req)
	default:
		http.NotFound(w, req)
	}
}

// repo finds the repository and checks the revision ("main" or the commit).
func (s *Server) repo(id, revision string) (*Repo, string) {
	s.mu.Lock()
	r := s.repos[id]
	s.mu.Unlock()
	switch {
	case r == nil:
		return nil, "RepoNotFound"
	case revision != "main" && revision != r.Commit && !r.AnyRevision:
		return nil, "RevisionNotFound"
	}
	return r, ""
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveInfo answers /api/models/{org}/{name}/revision/{revision}.
func (s *Server) serveInfo(w http.ResponseWriter, rest string) {
	id, revision, ok := strings.Cut(rest, "/revision/")
	if !ok {
		http.NotFound(w, nil)
		return
	}
	r, code := s.repo(id, revision)
	if r == nil {
		refuse(w, http.StatusNotFound, code, code+" for "+id)
		return
	}
	type lfs struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		Size      int64  `json:"size,omitempty"`
		BlobID    string `json:"blobId,omitempty"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	body := struct {
		ID       string    `json:"id"`
		SHA      string    `json:"sha"`
		Gated    any       `json:"gated"`
		Siblings []sibling `json:"siblings"`
	}{ID: r.ID, SHA: r.Commit, Gated: false}
	if r.Gated {
		body.Gated = "manual"
	}
	for _, f := range r.Files {
		if r.NoBlobs {
			body.Siblings = append(body.Siblings, sibling{RFilename: f.Path})
			continue
		}
		sb := sibling{RFilename: f.Path, Size: f.size, BlobID: f.blobID()}
		if f.LFS {
			sb.LFS = &lfs{SHA256: f.announced(), Size: f.size}
		}
		body.Siblings = append(body.Siblings, sb)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(body)
}

func (f *File) blobID() string {
	if f.AnnouncedBlobID != "" {
		return f.AnnouncedBlobID
	}
	return f.gitID
}

func (f *File) announced() string {
	if f.AnnouncedSHA256 != "" {
		return f.AnnouncedSHA256
	}
	return f.sha256
}

// serveResolve answers /{org}/{name}/resolve/{revision}/{path}.
func (s *Server) serveResolve(w http.ResponseWriter, req *http.Request) {
	id, rest, _ := strings.Cut(strings.TrimPrefix(req.URL.Path, "/"), "/resolve/")
	revision, path, _ := strings.Cut(rest, "/")
	r, code := s.repo(id, revision)
	if r == nil {
		refuse(w, http.StatusNotFound, code, code+" for "+id)
		return
	}
	if r.Gated {
		auth := strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
		allowed := false
		for _, t := range r.Tokens {
			allowed = allowed || (auth != "" && auth == t)
		}
		switch {
		case auth == "":
			refuse(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
			return
		case !allowed:
			refuse(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list. Visit https://huggingface.co/"+id+" to ask for access.")
			return
		}
	}
	var f *File
	for _, c := range r.Files {
		if c.Path == path {
			f = c
		}
	}
	if f == nil {
		refuse(w, http.StatusNotFound, "EntryNotFound", path+" does not exist")
		return
	}
	w.Header().Set("X-Repo-Commit", r.Commit)
	if f.LFS {
		w.Header().Set("X-Linked-Etag", `"`+f.announced()+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(f.size))
		w.Header().Set("ETag", `"`+f.announced()+`"`)
		w.Header().Set("Location", "/cdn/"+id+"/"+path)
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+f.blobID()+`"`)
	s.content(w, req, r, f)
}

// serveCDN answers the LFS redirect target /cdn/{org}/{name}/{path}.
func (s *Server) serveCDN(w http.ResponseWriter, req *http.Request, rest string) {
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) < 3 {
		http.NotFound(w, req)
		return
	}
	r, _ := s.repo(parts[0]+"/"+parts[1], "main")
	if r == nil {
		http.NotFound(w, req)
		return
	}
	for _, f := range r.Files {
		if f.Path == parts[2] {
			s.content(w, req, r, f)
			return
		}
	}
	http.NotFound(w, req)
}

// content sends a file's bytes with Range support, honouring the hooks.
func (s *Server) content(w http.ResponseWriter, req *http.Request, r *Repo, f *File) {
	if req.Method == http.MethodGet && s.BeforeContent != nil {
		if status := s.BeforeContent(r.ID, f.Path, req.Header.Get("Range")); status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
	}
	in, err := f.open()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer in.Close()
	s.mu.Lock()
	if req.Method == http.MethodGet {
		s.served = append(s.served, Request{Method: req.Method, Path: req.URL.Path, Range: req.Header.Get("Range"), Token: req.Header.Get("Authorization") != ""})
	}
	if f.FailFirst > 0 {
		f.FailFirst--
		s.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	cut := f.CutAfter > 0 && !f.cut && req.Method == http.MethodGet && req.Header.Get("Range") == ""
	if cut {
		f.cut = true
	}
	s.mu.Unlock()
	if cut {
		w.Header().Set("Content-Length", fmt.Sprint(f.size))
		w.WriteHeader(http.StatusOK)
		io.CopyN(w, in, f.CutAfter)
		w.(http.Flusher).Flush()
		time.Sleep(20 * time.Millisecond)
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	if f.IgnoreRange {
		req.Header.Del("Range")
	}
	http.ServeContent(w, req, "", time.Time{}, in)
}

// Safetensors returns a valid safetensors file of exactly size bytes (size
// ≥ 128): one U8 tensor whose bytes are derived from seed.
func Safetensors(size int, seed byte) []byte {
	var buf bytes.Buffer
	WriteSafetensors(&buf, int64(size), seed)
	return buf.Bytes()
}

// WriteSafetensors streams a valid safetensors file of exactly size bytes.
func WriteSafetensors(w io.Writer, size int64, seed byte) error {
	header := safetensorsHeader(size)
	if err := binary.Write(w, binary.LittleEndian, uint64(len(header))); err != nil {
		return err
	}
	if _, err := w.Write(header); err != nil {
		return err
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i*7+i/251) ^ seed
	}
	for left := size - 8 - int64(len(header)); left > 0; {
		n := min(left, int64(len(block)))
		if _, err := w.Write(block[:n]); err != nil {
			return err
		}
		left -= n
		block[0]++ // no two blocks alike
	}
	return nil
}

// safetensorsHeader is the JSON header, padded with spaces to a multiple of
// 8 bytes, for one tensor filling the rest of a size-byte file.
func safetensorsHeader(size int64) []byte {
	for l := int64(64); l <= 128; l += 8 {
		n := size - 8 - l
		h := fmt.Sprintf(`{"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}`, n, n)
		if n >= 0 && int64(len(h)) <= l {
			return []byte(h + strings.Repeat(" ", int(l)-len(h)))
		}
	}
	panic("fakehub: a safetensors file needs at least 128 bytes")
}
