// Package bundles embeds DuoBox's declarative data: the approved-model
// catalog and the GitLab version table. It holds no logic beyond loading and validating the files into
// app types; tests validate every file.
package bundles

import (
	_ "embed"
	"errors"
	"fmt"
	"os"

	"github.com/duobox/duobox/app/catalog"
)

//go:embed catalog.yaml
var catalogYAML []byte

// CatalogYAML is the bundled catalog file as embedded (offline bundles carry it).
func CatalogYAML() []byte { return append([]byte(nil), catalogYAML...) }

// Catalog returns the bundled catalog.
func Catalog() (catalog.Catalog, error) {
	return catalog.Parse(catalogYAML, "bundled")
}

// CatalogWithOverlay returns the bundled catalog extended by the overlay file
// at path. A missing overlay is not an error; a broken one is returned as
// overlayErr next to the bundled catalog, which it never hides.
func CatalogWithOverlay(path string) (c catalog.Catalog, overlayErr error, err error) {
	c, err = Catalog()
	if err != nil {
		return c, nil, err
	}
	if path == "" {
		return c, nil, nil
	}
	data, readErr := os.ReadFile(path)
	if errors.Is(readErr, os.ErrNotExist) {
		return c, nil, nil
	}
	if readErr != nil {
		return c, fmt.Errorf("catalog overlay %s cannot be read: %v; using the bundled catalog only", path, readErr), nil
	}
	o, perr := catalog.Parse(data, path)
	if perr != nil {
		return c, fmt.Errorf("catalog overlay ignored, fix it to use it: %v", perr), nil
	}
	return c.Overlay(o), nil, nil
}

//go:embed gitlab-versions.yaml
var gitlabVersionsYAML []byte

// GitLabVersionsFile is the bundled GitLab version table (gitlab-versions.yaml),
// which app/gitlabversions parses; a copy, so callers cannot change it.
func GitLabVersionsFile() []byte { return append([]byte(nil), gitlabVersionsYAML...) }
