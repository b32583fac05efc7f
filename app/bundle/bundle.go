// Package bundle is the offline path: one file that carries everything an
// air-gapped workstation needs to deploy (the gateway and model server
// images for its platform, the model weights in the Hugging Face cache
// layout, the docs index when the GitLab version needs one, the gateway's
// tag list and the catalog), with a manifest of sha256 checksums.
//
// Create builds a bundle on an online machine (resumable), Inspect says what
// one holds and whether this machine can run it, and Load reads it once,
// verifying every checksum as it loads the images into the engine and
// stages the weights; only when all match does it import the weights and
// record the tags (a mismatch removes the images it added), so that
// 'duobox up', 'duobox test' and 'duobox upgrade --check' work with no
// network.
//
// The file is an uncompressed tar of the entries the manifest lists, then
// duobox-bundle.json last (its own sha256 in a PAX record):
//
//	catalog.yaml                      the catalog the bundle was made with
//	tags/gateway.txt                  the gateway registry's tags, one a line
//	images/<role>.tar                 a 'docker save' archive of one image
//	docs/docs.db                      the docs index (GitLab 17.2–17.3 only)
//	weights/models--org--name/...     blobs/, snapshots/<commit>/ (links), refs/main
package bundle

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
)

// FormatVersion is the manifest format this DuoBox writes and reads.
const FormatVersion = 1

// ManifestName is the last entry of every bundle.
const ManifestName = "duobox-bundle.json"

// paxSHA256 is the PAX record on the manifest's header that holds the
// manifest's own sha256.
const paxSHA256 = "DUOBOX.sha256"

// Roles of the images in a bundle (stack.RoleGateway, stack.RoleModel).
const (
	RoleGateway = "gateway"
	RoleModel   = "model"
)

// Manifest is what a bundle holds.
type Manifest struct {
	Format        int       `json:"format"`
	CreatedAt     time.Time `json:"created_at"`
	GitLabVersion string    `json:"gitlab_version"` // X.Y
	Platform      string    `json:"platform"`       // os/arch of the images, e.g. linux/amd64
	Mode          string    `json:"mode"`           // gpu or cpu: which model server image
	// GPUClass says what GPU the model needs, in words ("NVIDIA GPU with at
	// least 18.5 GiB free"); MinGPUMemory in bytes (0 when unknown or CPU).
	GPUClass     string  `json:"gpu_class"`
	MinGPUMemory uint64  `json:"min_gpu_memory_bytes,omitempty"`
	Images       []Image `json:"images"`
	Model        *Model  `json:"model,omitempty"`
	DocsIndex    string  `json:"docs_index,omitempty"` // entry name of docs.db, when the version needs one
	GatewayTags  string  `json:"gateway_tags"`         // entry name of the tag list
	Catalog      string  `json:"catalog"`              // entry name of the catalog
	Files        []File  `json:"files"`                // every entry before the manifest, in order
}

// Image is one image of the bundle.
type Image struct {
	Role       string `json:"role"`
	Repository string `json:"repository"`         // as the config names it
	Registry   string `json:"registry,omitempty"` // the registry it was fetched from instead, when one was named
	Tag        string `json:"tag"`
	ID         string `json:"id"`     // the image ID (config digest) the engine will report
	Digest     string `json:"digest"` // the manifest digest in its registry
	File       string `json:"file"`   // entry name of its 'docker save' archive
	Size       int64  `json:"size"`   // bytes of the archive
}

// Ref is the reference the image is tagged with in the engine.
func (i Image) Ref() string { return config.Relocate(i.Repository, i.Registry) + ":" + i.Tag }

// Model is the model weights of the bundle.
type Model struct {
	Repo       string `json:"repo"`
	Revision   string `json:"revision"`
	Commit     string `json:"commit"`
	LoadFormat string `json:"load_format,omitempty"`
	Dir        string `json:"dir"` // entry prefix: weights/models--org--name
	Bytes      int64  `json:"bytes"`
}

// File is one entry with its checksum.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	Link   string `json:"link,omitempty"` // a symbolic link (snapshots/ → blobs/); Size and SHA256 empty
}

// Bytes is the size of every entry.
func (m Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Image returns the image of role.
func (m Manifest) Image(role string) (Image, bool) {
	for _, i := range m.Images {
		if i.Role == role {
			return i, true
		}
	}
	return Image{}, false
}

func damaged(file string, format string, args ...any) error {
	return app.BadInput("copy the bundle again from the machine that made it (compare its size and sha256sum with the original), or make a new one with 'duobox bundle create'",
		"%s is not a complete DuoBox bundle: %s", file, fmt.Sprintf(format, args...))
}

// OpenManifest reads a bundle file's manifest, its last entry: the tar
// headers are read and the contents skipped (seeked over), so this is quick
// however large the bundle. The manifest's own checksum and format version
// are checked; the other entries are not (Load does that).
func OpenManifest(file string) (Manifest, error) {
	m, _, err := scan(file)
	return m, err
}

// header is one entry before the manifest, as its tar header says, and
// where its contents are in the file.
type header struct {
	name     string
	typeflag byte
	link     string
	offset   int64
	size     int64
}

// scan reads the headers of a bundle file (seeking over the contents) and
// its manifest, the last entry.
func scan(file string) (Manifest, []header, error) {
	f, err := os.Open(file)
	if err != nil {
		return Manifest{}, nil, app.BadInput("give the path of a bundle made by 'duobox bundle create'", "cannot open the bundle: %v", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return Manifest{}, nil, app.BadInput("give the path of a bundle file made by 'duobox bundle create'", "%s is a folder, not a bundle", file)
	}
	tr := tar.NewReader(f) // reads whole blocks, never ahead: after Next, f is at the entry's contents
	var hdrs []header
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if n == 0 {
				return Manifest{}, nil, damaged(file, "it is not a tar file (%v)", err)
			}
			return Manifest{}, nil, damaged(file, "it is cut short or damaged after %d entries (%v)", n, err)
		}
		if hdr.Name == ManifestName {
			m, err := readManifest(tr, hdr, file)
			return m, hdrs, err
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return Manifest{}, nil, err
		}
		hdrs = append(hdrs, header{name: hdr.Name, typeflag: hdr.Typeflag, link: hdr.Linkname, offset: off, size: hdr.Size})
	}
	if len(hdrs) == 0 {
		return Manifest{}, nil, damaged(file, "it is empty")
	}
	return Manifest{}, nil, damaged(file, "it has no manifest (%s, written last): the file is cut short, or it is not a DuoBox bundle", ManifestName)
}

func readManifest(tr *tar.Reader, hdr *tar.Header, file string) (Manifest, error) {
	if hdr.Size > 64<<20 {
		return Manifest{}, damaged(file, "its manifest is %d bytes, too large", hdr.Size)
	}
	data, err := io.ReadAll(tr)
	if err != nil {
		return Manifest{}, damaged(file, "its manifest is cut short (%v)", err)
	}
	sum := sha256.Sum256(data)
	if want := hdr.PAXRecords[paxSHA256]; want != hex.EncodeToString(sum[:]) {
		return Manifest{}, damaged(file, "its manifest does not match its checksum")
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, damaged(file, "its manifest is not valid JSON (%v)", err)
	}
	if m.Format != FormatVersion {
		return Manifest{}, app.BadInput("use the DuoBox version that made the bundle, or make a new bundle with this one",
			"%s is a bundle of format %d; this DuoBox reads format %d", file, m.Format, FormatVersion)
	}
	return m, nil
}
