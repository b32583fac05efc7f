package docsindex

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
)

// DefaultSourceURL is the GitLab server that hosts gitlab-org/gitlab.
const DefaultSourceURL = "https://gitlab.com"

// DownloadOptions say which docs archive to fetch and where to put it.
type DownloadOptions struct {
	// Tag is a GitLab version tag ("v17.3.0-ee") or "master".
	Tag string
	// SourceURL is the GitLab server to ask; DefaultSourceURL when empty.
	SourceURL string
	// Dir receives the archive file; the caller removes it when done.
	Dir string
	// Client is the HTTP client; http.DefaultClient when nil.
	Client *http.Client
	// Progress, when set, is called as bytes arrive; total is -1 when the
	// server does not say.
	Progress func(url string, done, total int64)
	// RetryWait is the pause before retrying an HTTP 429 without Retry-After;
	// 2 s when zero.
	RetryWait time.Duration
}

// Downloaded is an archive fetched by Download.
type Downloaded struct {
	File string `json:"file"`
	URL  string `json:"url"`
	// Tag is the tag whose archive was served: an earlier patch of the
	// requested tag when the requested one does not exist yet.
	Tag string `json:"tag"`
}

var tagRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)-ee$`)

// NormalizeTag turns a version as users write it ("17.3.1", "v17.3.1-ee") into
// GitLab's tag ("v17.3.1-ee"); "master" stays.
func NormalizeTag(v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "master" {
		return v, nil
	}
	t := strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(v), "v"), "-ee")
	tag := "v" + t + "-ee"
	if !tagRE.MatchString(tag) {
		return "", app.BadInput("write it as X.Y.Z, for example 17.3.1 or v17.3.1-ee (or master)", "%q is not a GitLab version tag", v)
	}
	return tag, nil
}

// ArchiveURL is where GitLab serves the doc/ folder of gitlab-org/gitlab at
// tag, as the gateway's indexer downloads it; format is "zip" or "tar.gz".
func ArchiveURL(sourceURL, tag, format string) string {
	base := strings.TrimRight(sourceURL, "/")
	t := url.PathEscape(tag)
	return fmt.Sprintf("%s/gitlab-org/gitlab/-/archive/%s/gitlab-%s.%s?path=doc", base, t, t, format)
}

// errNotServed marks a 404: that tag or format is not available.
var errNotServed = errors.New("not served")

// Download fetches the docs archive for opts.Tag the way the gateway's
// current indexer does: the .zip, then the .tar.gz; if the tag is not found,
// earlier patch tags of the same minor (v17.3.2-ee, then v17.3.1-ee, ...);
// HTTP 429 is retried a few times.
func Download(ctx context.Context, opts DownloadOptions) (Downloaded, error) {
	tag, err := NormalizeTag(opts.Tag)
	if err != nil {
		return Downloaded{}, err
	}
	if opts.SourceURL == "" {
		opts.SourceURL = DefaultSourceURL
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	for _, t := range tagsToTry(tag) {
		for _, format := range []string{"zip", "tar.gz"} {
			u := ArchiveURL(opts.SourceURL, t, format)
			file, err := fetch(ctx, opts, u)
			if errors.Is(err, errNotServed) {
				continue
			}
			if err != nil {
				return Downloaded{}, err
			}
			return Downloaded{File: file, URL: u, Tag: t}, nil
		}
	}
	return Downloaded{}, app.BadInput("check the version; tags look like v17.3.1-ee",
		"%s has no documentation archive for %s (nor for an earlier patch of it)", opts.SourceURL, tag)
}

// tagsToTry is tag and then its earlier patch releases, newest first.
func tagsToTry(tag string) []string {
	m := tagRE.FindStringSubmatch(tag)
	if m == nil {
		return []string{tag}
	}
	patch, _ := strconv.Atoi(m[3])
	tags := []string{tag}
	for p := patch - 1; p >= 0; p-- {
		tags = append(tags, fmt.Sprintf("v%s.%s.%d-ee", m[1], m[2], p))
	}
	return tags
}

const maxRetries = 3

// fetch downloads u into a new file in opts.Dir and returns its path.
func fetch(ctx context.Context, opts DownloadOptions, u string) (string, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", fmt.Errorf("build request for %s: %w", u, err)
		}
		resp, err := opts.Client.Do(req)
		if err != nil {
			return "", app.Environment(err, "connect this machine to the internet, or download the archive elsewhere and pass it with --from",
				"cannot download %s: %v", u, err)
		}
		switch {
		case resp.StatusCode == http.StatusTooManyRequests && attempt < maxRetries:
			resp.Body.Close()
			if err := sleep(ctx, retryAfter(resp, opts.RetryWait, attempt)); err != nil {
				return "", err
			}
			continue
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			return "", errNotServed
		case resp.StatusCode != http.StatusOK:
			resp.Body.Close()
			return "", app.Environment(nil, "try again later, or download the archive elsewhere and pass it with --from",
				"downloading %s failed: HTTP %s", u, resp.Status)
		}
		defer resp.Body.Close()
		return save(ctx, opts, u, resp)
	}
}

func save(ctx context.Context, opts DownloadOptions, u string, resp *http.Response) (string, error) {
	f, err := os.CreateTemp(opts.Dir, ".docs-archive-*")
	if err != nil {
		return "", app.Environment(err, "free disk space or make the folder writable", "cannot store the download: %v", err)
	}
	var body io.Reader = resp.Body
	if opts.Progress != nil {
		body = &progressReader{r: resp.Body, total: resp.ContentLength, report: func(done, total int64) { opts.Progress(u, done, total) }}
		opts.Progress(u, 0, resp.ContentLength)
	}
	_, err = io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		os.Remove(f.Name())
		return "", app.Environment(err, "check the network and free disk space, then try again", "downloading %s failed: %v", u, err)
	}
	return f.Name(), nil
}

// retryAfter reads Retry-After in seconds, else backs off from wait.
func retryAfter(resp *http.Response, wait time.Duration, attempt int) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	if wait <= 0 {
		wait = 2 * time.Second
	}
	return wait << attempt
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// progressReader reports bytes read, at most every 256 KiB and at the end.
type progressReader struct {
	r            io.Reader
	done, total  int64
	lastReported int64
	report       func(done, total int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if p.done-p.lastReported >= 256<<10 || (err == io.EOF && p.done != p.lastReported) {
		p.lastReported = p.done
		p.report(p.done, p.total)
	}
	return n, err
}
