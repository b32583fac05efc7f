package docsindex

import (
	"context"
	"net/http"
	"os"
	"path/filepath"

	"github.com/duobox/duobox/app"
)

// Request is one index build, as `duobox docs-index` and the GUI ask for it.
type Request struct {
	// From is a local folder or archive; when empty, Tag is downloaded.
	From string
	// Tag is the GitLab version whose docs are downloaded ("17.3.1", "v17.3.1-ee", "master").
	Tag string
	// SourceURL is the GitLab server to download from; DefaultSourceURL when empty.
	SourceURL string
	// Output is the index file to write.
	Output string
	// Force replaces an existing Output.
	Force bool
	// Client is the HTTP client for downloads; http.DefaultClient when nil.
	Client           *http.Client
	DownloadProgress func(url string, done, total int64)
	IndexProgress    func(done, total int)
}

// Result is what Make built. Its GitLabVersion is the tag downloaded, when
// the docs were downloaded (the index file itself does not record it).
type Result struct {
	Info
	// Source is the folder, archive or URL the docs came from.
	Source string `json:"source"`
}

// Make reads (or downloads) the docs and builds the index at req.Output.
// Nothing is downloaded or written when the request is wrong or the output
// exists without Force; a downloaded archive is removed afterwards.
func Make(ctx context.Context, req Request) (Result, error) {
	switch {
	case req.Output == "":
		return Result{}, app.BadInput("give -o FILE", "no output file given")
	case req.From != "" && req.Tag != "":
		return Result{}, app.BadInput("give --from for docs on this machine, or --version to download them, not both", "both --from and --version given")
	case req.From == "" && req.Tag == "":
		return Result{}, app.BadInput("give --from DIR|ARCHIVE, or --version vX.Y.Z-ee to download GitLab's docs for that version", "no docs source given")
	}
	if err := checkOutput(req.Output, req.Force); err != nil {
		return Result{}, err
	}
	src, source, tag := req.From, req.From, ""
	if src == "" {
		dir := filepath.Dir(req.Output)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return Result{}, app.Environment(err, "choose another -o path or make the folder writable", "cannot create folder %s: %v", dir, err)
		}
		dl, err := Download(ctx, DownloadOptions{Tag: req.Tag, SourceURL: req.SourceURL, Dir: dir, Client: req.Client, Progress: req.DownloadProgress})
		if err != nil {
			return Result{}, err
		}
		defer os.Remove(dl.File)
		src, source, tag = dl.File, dl.URL, dl.Tag
	}
	docs, err := ReadSource(src)
	if err != nil {
		return Result{}, err
	}
	info, err := Build(ctx, docs, req.Output, BuildOptions{Force: req.Force, Progress: req.IndexProgress})
	if err != nil {
		return Result{}, err
	}
	info.GitLabVersion = tag
	return Result{Info: info, Source: source}, nil
}
