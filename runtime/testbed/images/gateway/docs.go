package main

import (
	"os"
	"path/filepath"
)

// docsIndexPath is where the real gateway opens the documentation index:
// ai_gateway/searches/sqlite_search.py sets db_path = os.path.join("tmp",
// "docs.db"), relative to the working directory, which is the image's WORKDIR
// (/app before commit ebb4ec8ed of 2024-11-05, /home/aigateway/app since).
// The test bed gives each gateway image the WORKDIR of its GitLab version.
const docsIndexPath = "tmp/docs.db"

// init reports at start-up whether the docs index is where the gateway of
// this image reads it, with the real gateway's warning when it is not
// ("SqliteSearch: No database found for documentation searches.").
func init() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		return
	}
	wd, _ := os.Getwd()
	if wd == "/" {
		return // a tag that names no GitLab release: no WORKDIR, nothing to say
	}
	abs := filepath.Join(wd, docsIndexPath)
	st, err := os.Stat(docsIndexPath)
	if err != nil || st.IsDir() {
		// Images self-hosted-v17.4.0-ee and later carry their own index at this
		// path (docker/self_hosted/Dockerfile: index_docs -o ./tmp/docs.db); the
		// test bed says so with DUOBOX_FAKE_DOCS_BUILT_IN instead of shipping a file.
		if os.Getenv("DUOBOX_FAKE_DOCS_BUILT_IN") == "1" {
			logJSON("info", "searches", "SqliteSearch: documentation database opened (built into the image; DuoBox test stand-in)", map[string]any{"db_path": abs})
			return
		}
		logJSON("warning", "searches", "SqliteSearch: No database found for documentation searches.", map[string]any{"db_path": abs})
		return
	}
	logJSON("info", "searches", "SqliteSearch: documentation database opened (DuoBox test stand-in)", map[string]any{"db_path": abs, "bytes": st.Size()})
}
