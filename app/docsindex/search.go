package docsindex

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/duobox/duobox/app"
)

// Hit is one search result, in the gateway's order (best first).
type Hit struct {
	// Filename is the metadata "filename", which the gateway uses as the result id.
	Filename string `json:"filename"`
	// Title is the page's front-matter title, else its first "# " heading.
	Title string `json:"title,omitempty"`
	// Tokens is the gateway's size estimate: whitespace-separated words × 1.4.
	Tokens int `json:"tokens"`
	// InContext tells whether the gateway would pass this result on: it keeps
	// results in order while their Tokens add up to at most ContextTokens.
	InContext bool `json:"in_context"`
	// Content is the raw file as stored.
	Content string `json:"-"`
}

// SanitizeQuery is what the gateway does to a question before MATCH:
// re.sub(r"[^\w\s]", "", query, flags=re.UNICODE). No lower-casing.
func SanitizeQuery(query string) string { return KeepWordsAndSpaces(query) }

// Search runs the gateway's query on the index at path: the sanitized query
// in `processed MATCH ? ORDER BY bm25(doc_index) LIMIT ?`.
func Search(ctx context.Context, path, query string, limit int) ([]Hit, error) {
	if limit <= 0 {
		return nil, app.BadInput("give a positive --limit (the gateway uses 20)", "limit %d is not positive", limit)
	}
	q := SanitizeQuery(query)
	if strings.TrimSpace(q) == "" {
		return nil, app.BadInput("ask with words; punctuation is removed as the gateway does", "the query %q has no words left once punctuation is removed", query)
	}
	if _, err := Inspect(path); err != nil {
		return nil, err
	}
	db, err := openDB(context.Background(), path, true)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetInterrupt(ctx)
	stmt, _, err := db.Prepare(searchSQL)
	if err != nil {
		return nil, fmt.Errorf("prepare the gateway's query: %w", err)
	}
	defer stmt.Close()
	if err := stmt.BindText(1, q); err != nil {
		return nil, err
	}
	if err := stmt.BindInt(2, limit); err != nil {
		return nil, err
	}
	var hits []Hit
	budget := ContextTokens
	for stmt.Step() {
		var meta struct {
			Filename string `json:"filename"`
		}
		if err := json.Unmarshal([]byte(stmt.ColumnText(0)), &meta); err != nil {
			return nil, app.BadInput(fixNotIndex, "a row's metadata in %s is not JSON: %v", path, err)
		}
		content := stmt.ColumnText(1)
		h := Hit{Filename: meta.Filename, Title: pageTitle(content), Tokens: estimateTokens(content), Content: content}
		if budget >= 0 && h.Tokens <= budget {
			h.InContext = true
			budget -= h.Tokens
		} else {
			budget = -1 // the gateway stops at the first result that does not fit
		}
		hits = append(hits, h)
	}
	if err := stmt.Err(); err != nil {
		return nil, app.BadInput("rephrase the query: FTS5 reads upper-case AND, OR and NOT as operators; the gateway fails on it too",
			"the gateway's query fails for %q: %v", q, err)
	}
	return hits, nil
}

// estimateTokens is the gateway's int(len(text.split()) * 1.4).
func estimateTokens(text string) int {
	return int(float64(len(strings.FieldsFunc(text, isSpace))) * 1.4)
}

// pageTitle returns the "title:" of a leading front matter block (GitLab's
// docs keep titles there since 2025), else the text of the first "# " line.
func pageTitle(content string) string {
	first, inFrontMatter := true, false
	for line := range strings.Lines(content) {
		line = strings.TrimRight(line, "\r\n")
		opening := first && line == "---"
		first = false
		switch {
		case opening:
			inFrontMatter = true
		case inFrontMatter && line == "---":
			inFrontMatter = false
		case inFrontMatter:
			if t, ok := strings.CutPrefix(line, "title:"); ok {
				return strings.Trim(strings.TrimSpace(t), `"'`)
			}
		default:
			if t, ok := strings.CutPrefix(line, "# "); ok {
				return strings.TrimSpace(t)
			}
		}
	}
	return ""
}
