package actions

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/duobox/duobox/app/docsindex"
)

// DefaultDocsIndex is where the docs index is built and searched when not told.
func (c *Core) DefaultDocsIndex() (string, error) {
	d, err := c.Dirs()
	if err != nil {
		return "", err
	}
	return filepath.Join(d.Data, "docs.db"), nil
}

// SearchIndexPath is the deployment's docs_index when a config sets one, else the default path.
func (c *Core) SearchIndexPath() (string, error) {
	if d, err := c.LoadConfig(); err == nil && d.DocsIndex != "" {
		return d.DocsIndex, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	return c.DefaultDocsIndex()
}

// BuildDocsIndex builds the gateway's documentation index ('duobox
// docs-index', Settings → Build index); an empty req.Output is the default file.
func (c *Core) BuildDocsIndex(ctx context.Context, req docsindex.Request) (docsindex.Result, error) {
	if req.Output == "" {
		out, err := c.DefaultDocsIndex()
		if err != nil {
			return docsindex.Result{}, err
		}
		req.Output = out
	}
	return docsindex.Make(ctx, req)
}

// SearchDocs runs the gateway's own query on an index ("" = the
// deployment's, else the default file).
func (c *Core) SearchDocs(ctx context.Context, index, query string, limit int) ([]docsindex.Hit, error) {
	if index == "" {
		out, err := c.SearchIndexPath()
		if err != nil {
			return nil, err
		}
		index = out
	}
	return docsindex.Search(ctx, index, query, limit)
}
