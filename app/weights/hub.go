package weights

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/duobox/duobox/app"
)

// RemoteFile is one file of a repository revision as the hub lists it.
type RemoteFile struct {
	Path   string // relative, slash-separated
	Size   int64
	SHA256 string // set for LFS files: the content's sha256, also the cache blob name
	BlobID string // the git blob id, the cache blob name of a non-LFS file
}

// BlobName is the file's name under blobs/ in the cache, as huggingface_hub
// names it: the sha256 for LFS files, the git blob id (the ETag) otherwise.
func (f RemoteFile) BlobName() string {
	if f.SHA256 != "" {
		return f.SHA256
	}
	return f.BlobID
}

// RepoInfo is a repository at one revision.
type RepoInfo struct {
	Repo   string
	Commit string
	Files  []RemoteFile
}

// hub talks to the hub's HTTP API.
type hub struct {
	env    Env
	client *http.Client
}

var (
	reSHA256 = app.LazyRegexp(`^[0-9a-f]{64}$`)
	reGitOID = app.LazyRegexp(`^[0-9a-f]{40}$`)
	reRepoID = app.LazyRegexp(`^[A-Za-z0-9][\w.\-]*/[\w.\-]+$`)
	reCommit = reGitOID
)

const userAgent = "duobox (huggingface_hub-compatible)"

// CheckRepoID reports whether repo is an "org/name" Hugging Face repo id.
func CheckRepoID(repo string) error {
	org, name, _ := strings.Cut(repo, "/")
	if !reRepoID().MatchString(repo) || strings.Contains(repo, "--") || strings.Contains(repo, "..") || len(repo) > 96 ||
		strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.HasSuffix(org, ".") {
		return app.BadInput("give a Hugging Face repo id such as mistralai/Mistral-7B-Instruct-v0.3, or a catalog id such as mistral-7b-instruct-v0.3",
			"%q is not a Hugging Face repo id (org/name)", repo)
	}
	return nil
}

// revisionURL is the API address huggingface_hub's model_info uses.
func (h *hub) revisionURL(repo, revision string) string {
	return fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", h.env.Endpoint, repo, url.PathEscape(revision))
}

// resolveURL is the download address of one file (hf_hub_url).
func (h *hub) resolveURL(repo, revision, path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("%s/%s/resolve/%s/%s", h.env.Endpoint, repo, url.PathEscape(revision), strings.Join(parts, "/"))
}

// newRequest builds a request carrying the token. Go's client drops the
// Authorization header when a redirect leaves the endpoint's host (the CDN).
func (h *hub) newRequest(ctx context.Context, method, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if h.env.Token != "" {
		req.Header.Set("Authorization", "Bearer "+h.env.Token)
	}
	return req, nil
}

// Info lists repo at revision: its commit and every file with size and hashes.
func (h *hub) Info(ctx context.Context, repo, revision string) (RepoInfo, error) {
	req, err := h.newRequest(ctx, http.MethodGet, h.revisionURL(repo, revision))
	if err != nil {
		return RepoInfo{}, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return RepoInfo{}, app.Environment(err, "check the network, or set HF_ENDPOINT to a reachable mirror; on an air-gapped machine use `duobox weights import`",
			"cannot reach the hub at %s to list %s", h.env.Endpoint, repo)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return RepoInfo{}, h.statusError(resp, repo, revision, "")
	}
	var body struct {
		SHA      string `json:"sha"`
		Siblings []struct {
			RFilename string `json:"rfilename"`
			Size      *int64 `json:"size"`
			BlobID    string `json:"blobId"`
			LFS       *struct {
				SHA256 string `json:"sha256"`
				Size   int64  `json:"size"`
			} `json:"lfs"`
		} `json:"siblings"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&body); err != nil {
		return RepoInfo{}, fmt.Errorf("read the file list of %s from %s: %w", repo, h.env.Endpoint, err)
	}
	if !reCommit().MatchString(body.SHA) {
		return RepoInfo{}, hostileName(h.env.Endpoint, repo, fmt.Errorf("commit %q is not 40 hex digits", body.SHA))
	}
	info := RepoInfo{Repo: repo, Commit: body.SHA}
	for _, s := range body.Siblings {
		f := RemoteFile{Path: s.RFilename, Size: -1, BlobID: s.BlobID}
		if s.Size != nil {
			f.Size = *s.Size
		}
		if s.LFS != nil {
			f.SHA256, f.Size = strings.ToLower(s.LFS.SHA256), s.LFS.Size
		}
		if err := checkRemote(f); err != nil {
			return RepoInfo{}, hostileName(h.env.Endpoint, repo, err)
		}
		info.Files = append(info.Files, f)
	}
	return info, nil
}

// Head fills in the size and blob name of f from the download headers when
// the listing lacked them (a mirror that ignores ?blobs=true), as
// huggingface_hub's get_hf_file_metadata does.
func (h *hub) Head(ctx context.Context, repo, commit string, f RemoteFile) (RemoteFile, error) {
	req, err := h.newRequest(ctx, http.MethodHead, h.resolveURL(repo, commit, f.Path))
	if err != nil {
		return f, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	client := *h.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return f, fmt.Errorf("read metadata of %s: %w", f.Path, err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return f, h.statusError(resp, repo, commit, f.Path)
	}
	etag := normalizeETag(firstHeader(resp.Header, "X-Linked-Etag", "ETag"))
	if etag != "" && !reBlobID().MatchString(etag) {
		return f, hostileName(h.env.Endpoint, repo, fmt.Errorf("%s: ETag %q is not 40 or 64 hex digits", f.Path, etag))
	}
	size, _ := strconv.ParseInt(firstHeader(resp.Header, "X-Linked-Size", "Content-Length"), 10, 64)
	switch {
	case reSHA256().MatchString(etag):
		f.SHA256 = etag
	case etag != "":
		f.BlobID = etag
	}
	if f.Size < 0 && size > 0 {
		f.Size = size
	}
	if f.BlobName() == "" || f.Size < 0 {
		return f, fmt.Errorf("read metadata of %s: the hub sent no ETag or size", f.Path)
	}
	return f, nil
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// normalizeETag strips the weak marker and quotes, as huggingface_hub does.
func normalizeETag(etag string) string {
	return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
}

// GatedError is returned when the hub refuses access to a repository's files
// (HTTP 401 or 403): the terms must be accepted on its page, or a token with
// access must be given.
type GatedError struct {
	Repo      string
	Page      string // the page where the terms are accepted
	Status    int
	Message   string // the hub's own words (X-Error-Message)
	TokenSent bool
	TokenNote string
}

func (e *GatedError) Error() string {
	msg := fmt.Sprintf("the hub refused access to %s (HTTP %d)", e.Repo, e.Status)
	if e.Message != "" {
		msg += ": " + strings.TrimRight(e.Message, ". ")
	}
	return msg + "; " + e.TokenNote
}

// statusError turns a refused request into a Problem saying what to do.
func (h *hub) statusError(resp *http.Response, repo, revision, path string) error {
	code := resp.Header.Get("X-Error-Code")
	msg := resp.Header.Get("X-Error-Message")
	if msg == "" {
		var body struct {
			Error string `json:"error"`
		}
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(data, &body) == nil {
			msg = body.Error
		}
	}
	what := repo
	if path != "" {
		what = path + " of " + repo
	}
	switch {
	case code == "RepoNotFound" || (resp.StatusCode == http.StatusNotFound && code == "" && path == ""):
		return app.BadInput("check the spelling, or if the repo is private give a token with access (HF_TOKEN); "+h.env.tokenNote(),
			"repository %s not found at %s", repo, h.env.Endpoint)
	case code == "RevisionNotFound":
		return app.BadInput("give a branch, tag or commit that exists in "+repo, "revision %q not found in %s", revision, repo)
	case code == "EntryNotFound" || resp.StatusCode == http.StatusNotFound:
		return &app.Problem{Kind: app.KindEnvironment, What: fmt.Sprintf("%s not found at revision %s", what, revision),
			Fix: "the repository changed while downloading; run the pull again"}
	case code == "GatedRepo" || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		g := &GatedError{Repo: repo, Page: h.env.Endpoint + "/" + repo, Status: resp.StatusCode, Message: msg,
			TokenSent: h.env.Token != "", TokenNote: h.env.tokenNote()}
		fix := "open " + g.Page + " while logged in and accept the terms to get access; then "
		if g.TokenSent {
			fix += "check that the token's account is the one granted access and that the token can read (https://huggingface.co/settings/tokens)"
		} else {
			fix += "create a read token at https://huggingface.co/settings/tokens and set HF_TOKEN or save it in DuoBox's secrets folder as " + TokenSecretName + " (mode 0600)"
		}
		p := &app.Problem{Kind: app.KindEnvironment, What: g.Error(), Fix: fix, Err: g}
		if !g.TokenSent {
			p.Remedy = app.RemedyHFToken // the window: Configure's Hugging Face token field
		}
		return p
	}
	return &app.Problem{Kind: app.KindEnvironment, What: fmt.Sprintf("the hub answered %s for %s", resp.Status, what),
		Fix: "try again later, or set HF_ENDPOINT to a working mirror", Err: errHTTPStatus{resp.StatusCode}}
}

// errHTTPStatus marks a failed status; 5xx and 429 are worth a retry.
type errHTTPStatus struct{ code int }

func (e errHTTPStatus) Error() string { return "HTTP " + strconv.Itoa(e.code) }

// retryable reports whether a failed download attempt is worth another try.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var st errHTTPStatus
	if errors.As(err, &st) {
		return st.code >= 500 || st.code == http.StatusTooManyRequests || st.code == http.StatusRequestTimeout
	}
	var p *app.Problem
	if errors.As(err, &p) {
		return false
	}
	var ce *checksumError
	var pe *fs.PathError // the local disk, not the network
	return !errors.As(err, &ce) && !errors.As(err, &pe)
}
