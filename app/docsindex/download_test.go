package docsindex

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/duobox/duobox/app"
)

// archiveServer is a local httptest server standing in for gitlab.com (the
// real one cannot be reached here): it serves the given archives by URL path
// and records every request.
type archiveServer struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string
}

func newArchiveServer(t *testing.T, files map[string][]byte, tooManyFirst bool) *archiveServer {
	s := &archiveServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.RequestURI())
		first := len(s.requests) == 1
		s.mu.Unlock()
		if tooManyFirst && first {
			w.Header().Set("Retry-After", "0")
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		}
		if r.URL.Query().Get("path") != "doc" {
			http.Error(w, "want ?path=doc", http.StatusBadRequest)
			return
		}
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestDownload_LocalHTTPTestServer_ZipWithProgress(t *testing.T) {
	zipData := zipBytes(t, archiveFiles("gitlab-v17.3.0-ee-doc/"))
	srv := newArchiveServer(t, map[string][]byte{"/gitlab-org/gitlab/-/archive/v17.3.0-ee/gitlab-v17.3.0-ee.zip": zipData}, true)
	dir := t.TempDir()
	var last, total int64 = -1, 0
	dl, err := Download(context.Background(), DownloadOptions{
		Tag: "17.3.0", SourceURL: srv.URL + "/", Dir: dir,
		Progress: func(_ string, done, size int64) { last, total = done, size },
	})
	if err != nil {
		t.Fatal(err)
	}
	if dl.Tag != "v17.3.0-ee" || dl.URL != srv.URL+"/gitlab-org/gitlab/-/archive/v17.3.0-ee/gitlab-v17.3.0-ee.zip?path=doc" {
		t.Errorf("Download = %+v", dl)
	}
	if last != int64(len(zipData)) || total != int64(len(zipData)) {
		t.Errorf("last progress %d of %d, want %d of %d", last, total, len(zipData), len(zipData))
	}
	if len(srv.requests) != 2 {
		t.Errorf("requests = %q, want the 429 retried once", srv.requests)
	}
	got, err := ReadSource(dl.File)
	assertDocs(t, dl.File, got, err)
}

func TestDownload_LocalHTTPTestServer_FallsBackToTarGzAndEarlierPatch(t *testing.T) {
	srv := newArchiveServer(t, map[string][]byte{
		"/gitlab-org/gitlab/-/archive/v17.3.1-ee/gitlab-v17.3.1-ee.tar.gz": {0x1f, 0x8b},
	}, false)
	dl, err := Download(context.Background(), DownloadOptions{Tag: "v17.3.2-ee", SourceURL: srv.URL, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if dl.Tag != "v17.3.1-ee" || !strings.HasSuffix(dl.URL, ".tar.gz?path=doc") {
		t.Errorf("Download = %+v, want v17.3.1-ee's tar.gz", dl)
	}
	want := []string{
		"/gitlab-org/gitlab/-/archive/v17.3.2-ee/gitlab-v17.3.2-ee.zip?path=doc",
		"/gitlab-org/gitlab/-/archive/v17.3.2-ee/gitlab-v17.3.2-ee.tar.gz?path=doc",
		"/gitlab-org/gitlab/-/archive/v17.3.1-ee/gitlab-v17.3.1-ee.zip?path=doc",
		"/gitlab-org/gitlab/-/archive/v17.3.1-ee/gitlab-v17.3.1-ee.tar.gz?path=doc",
	}
	if strings.Join(srv.requests, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(srv.requests, "\n"), strings.Join(want, "\n"))
	}
}

func TestDownload_Failures(t *testing.T) {
	srv := newArchiveServer(t, nil, false)
	dir := t.TempDir()
	_, err := Download(context.Background(), DownloadOptions{Tag: "v17.3.0-ee", SourceURL: srv.URL, Dir: dir})
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "no documentation archive for v17.3.0-ee") {
		t.Errorf("missing tag: %v", err)
	}
	_, err = Download(context.Background(), DownloadOptions{Tag: "seventeen", SourceURL: srv.URL, Dir: dir})
	if app.KindOf(err) != app.KindBadInput {
		t.Errorf("bad tag: %v", err)
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	defer failing.Close()
	_, err = Download(context.Background(), DownloadOptions{Tag: "master", SourceURL: failing.URL, Dir: dir})
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("server error: %v", err)
	}
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	_, err = Download(context.Background(), DownloadOptions{Tag: "master", SourceURL: closed.URL, Dir: dir})
	if app.KindOf(err) != app.KindEnvironment || !strings.Contains(err.Error(), "--from") {
		t.Errorf("unreachable server: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("files left in the download folder: %v", entries)
	}
}

func TestMake_DownloadsBuildsAndCleansUp(t *testing.T) {
	srv := newArchiveServer(t, map[string][]byte{
		"/gitlab-org/gitlab/-/archive/v17.2.4-ee/gitlab-v17.2.4-ee.zip": zipBytes(t, archiveFiles("gitlab-v17.2.4-ee-doc/")),
	}, false)
	dir := t.TempDir()
	out := filepath.Join(dir, "index", "docs.db")
	res, err := Make(context.Background(), Request{Tag: "17.2.4", SourceURL: srv.URL, Output: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rows != int64(len(wantDocs())) || res.GitLabVersion != "v17.2.4-ee" || !strings.HasPrefix(res.Source, srv.URL) {
		t.Errorf("Make = %+v", res)
	}
	assertNoTempFiles(t, filepath.Dir(out))

	// The output now exists: refused before anything is downloaded.
	before := len(srv.requests)
	_, err = Make(context.Background(), Request{Tag: "17.2.4", SourceURL: srv.URL, Output: out})
	if app.KindOf(err) != app.KindBadInput || len(srv.requests) != before {
		t.Errorf("Make over an existing output: %v, %d new requests", err, len(srv.requests)-before)
	}
	for _, req := range []Request{
		{From: dir, Tag: "17.2.4", Output: out + "2"},
		{Output: out + "2"},
		{From: dir},
	} {
		if _, err := Make(context.Background(), req); app.KindOf(err) != app.KindBadInput {
			t.Errorf("Make(%+v) = %v, want bad input", req, err)
		}
	}
}
