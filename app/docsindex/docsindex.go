// Package docsindex builds, inspects and searches the GitLab AI Gateway's
// documentation index (docs.db) natively, byte-for-byte in the gateway's
// schema and text rules (facts/gitlab-ai-gateway.md §9): one FTS5 table
// doc_index(processed, content, metadata) with tokenize='porter trigram',
// PRAGMA user_version = 1, one row per markdown file under doc/.
//
// The index stores nothing beyond what the gateway's own indexer stores, so
// the GitLab version it was built from is not recorded in it; Inspect reports
// what the file does hold (row count, size, schema check).
package docsindex

// The gateway's schema and queries, verbatim (ai_gateway/scripts/index_docs_as_sqlite.py
// and ai_gateway/searches/sqlite_search.py).
const (
	createTableSQL = "CREATE VIRTUAL TABLE doc_index USING fts5(processed, content, metadata, tokenize='porter trigram')"
	userVersionSQL = "PRAGMA user_version = 1"
	insertSQL      = "INSERT INTO doc_index (processed, content, metadata) VALUES (?,?,?)"
	searchSQL      = "SELECT metadata, content FROM doc_index WHERE processed MATCH ? ORDER BY bm25(doc_index) LIMIT ?"

	// UserVersion is the PRAGMA user_version the gateway's indexer writes.
	UserVersion = 1
	// DefaultLimit is the gateway's page_size for documentation searches.
	DefaultLimit = 20
	// ContextTokens is how many estimated tokens of results the gateway passes on.
	ContextTokens = 8000
)
