package docsindex

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
)

func buildIndex(t *testing.T, docs []Document) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "docs.db")
	if _, err := Build(context.Background(), docs, out, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSanitizeQuery_StripsPunctuationOnly(t *testing.T) {
	if got := SanitizeQuery(`How do I "configure" runners (CI/CD)? Straße!`); got != "How do I configure runners CICD Straße" {
		t.Errorf("SanitizeQuery = %q", got)
	}
}

func TestSearch_GatewayTokenBudget(t *testing.T) {
	// 4000 words are 5600 estimated tokens: the first fits in the gateway's 8000, the second does not,
	// and the small third one is not passed on either, as the gateway stops at the first misfit.
	big := "# Big runner page\n" + strings.Repeat("runner ", 4000)
	out := buildIndex(t, []Document{
		{Name: "/a.md", Text: big},
		{Name: "/b.md", Text: big + "runner"},
		{Name: "/c.md", Text: "runner runner runner runner runner runner runner runner runner"},
	})
	hits, err := Search(context.Background(), out, "runner?", DefaultLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 3 {
		t.Fatalf("hits = %+v", hits)
	}
	var inContext int
	for _, h := range hits {
		if h.InContext {
			inContext++
		}
		if h.Filename == "/a.md" && (h.Tokens != 5605 || h.Title != "Big runner page") {
			t.Errorf("hit %+v: want 5605 tokens and the page title", h)
		}
	}
	if !hits[0].InContext || inContext != 1 {
		t.Errorf("in-context flags: %+v", hits)
	}
	if hits, err := Search(context.Background(), out, "runner", 1); err != nil || len(hits) != 1 {
		t.Errorf("limit 1: %d hits, %v", len(hits), err)
	}
}

func TestSearch_BadQueries(t *testing.T) {
	out := buildIndex(t, []Document{{Name: "/a.md", Text: "gitlab runner"}})
	for q, want := range map[string]string{
		"?!":       "no words left",
		"NOT":      "gateway's query fails",
		"runner":   "", // fine
		"  \t  ":   "no words left",
		"a OR NOT": "gateway's query fails",
	} {
		_, err := Search(context.Background(), out, q, DefaultLimit)
		if want == "" {
			if err != nil {
				t.Errorf("Search(%q): %v", q, err)
			}
			continue
		}
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), want) {
			t.Errorf("Search(%q) = %v, want a bad-input error containing %q", q, err, want)
		}
	}
	if _, err := Search(context.Background(), out, "runner", 0); app.KindOf(err) != app.KindBadInput {
		t.Errorf("limit 0: %v", err)
	}
	if _, err := Search(context.Background(), filepath.Join(t.TempDir(), "none.db"), "runner", 5); app.KindOf(err) != app.KindBadInput {
		t.Errorf("missing index: %v", err)
	}
}

func TestPageTitle_FrontMatterThenHeading(t *testing.T) {
	for in, want := range map[string]string{
		"---\nstage: Verify\ntitle: \"Runner fleet\"\n---\n# Other\n": "Runner fleet",
		"---\nstage: Verify\n---\n\n# Heading one\n":                  "Heading one",
		"intro\n## two\n# One\n":                                      "One",
		"no title here":                                               "",
		"# A\r\nbody":                                                 "A",
	} {
		if got := pageTitle(in); got != want {
			t.Errorf("pageTitle(%q) = %q, want %q", in, got, want)
		}
	}
}
