package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/units"
)

func init() {
	register(newDocsIndexCommand)
	register(newDocsSearchCommand)
}

func newDocsIndexCommand(g *globals) *cobra.Command {
	var req docsindex.Request
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "docs-index (--from DIR|ARCHIVE | --version vX.Y.Z-ee) [-o FILE] [--force]",
		Short: "Build the AI Gateway's documentation index (docs.db) from GitLab's doc/ folder",
		Long: `Docs-index builds docs.db, the index the GitLab AI Gateway searches to answer Duo Chat
questions about GitLab itself, natively and exactly as the gateway's own indexer does: one
FTS5 table doc_index(processed, content, metadata) with tokenize='porter trigram',
PRAGMA user_version = 1, one row per doc/**/*.md file.

--from reads a GitLab checkout or extracted archive (the folder holding doc/), a doc/ folder
itself, or the .zip/.tar.gz/.tar.bz2 archive GitLab serves for a version tag. --version
downloads that archive instead (https://gitlab.com/gitlab-org/gitlab/-/archive/<tag>/...,
?path=doc), with progress. Gateways for GitLab 17.1-17.3 need the index mounted; later
images carry one built in, which the deployment's docs_index setting replaces.

The index is written to a temporary file beside FILE and renamed into place when complete;
an existing FILE is refused without --force. The file does not record the GitLab version
(the gateway's schema has no place for it).
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if u, err := url.Parse(req.SourceURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return app.BadInput("give the GitLab server as http(s)://host, for example "+docsindex.DefaultSourceURL, "--source-url %q is not an http(s) URL", req.SourceURL)
			}
			if req.Output == "" {
				out, err := g.core().DefaultDocsIndex()
				if err != nil {
					return err
				}
				req.Output = out
			}
			p := &docsProgress{w: os.Stderr, tty: docsIsTerminal(os.Stderr)}
			req.DownloadProgress = p.download
			req.IndexProgress = p.index
			res, err := docsindex.Make(cmd.Context(), req)
			p.end()
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wrote %s: %d pages, %s, from %s\n", res.Path, res.Rows, units.HumanBytes(res.SizeBytes), res.Source)
			if res.GitLabVersion != "" {
				fmt.Fprintf(out, "GitLab docs version: %s\n", res.GitLabVersion)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.From, "from", "", "GitLab checkout, its doc/ folder, or a .zip/.tar.gz/.tar.bz2 archive of it")
	f.StringVar(&req.Tag, "version", "", "download GitLab's docs for this version tag (vX.Y.Z-ee, X.Y.Z or master)")
	f.StringVarP(&req.Output, "output", "o", "", "index file to write (default <data dir>/docs.db)")
	f.BoolVar(&req.Force, "force", false, "replace an existing output file")
	f.StringVar(&req.SourceURL, "source-url", docsindex.DefaultSourceURL, "GitLab server hosting gitlab-org/gitlab, for --version")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newDocsSearchCommand(g *globals) *cobra.Command {
	var index string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "docs-search QUERY [--limit N] [--index FILE]",
		Short: "Run the AI Gateway's documentation search on a docs.db and show the pages found",
		Long: `Docs-search runs the gateway's own query on the index:

  SELECT metadata, content FROM doc_index WHERE processed MATCH ? ORDER BY bm25(doc_index) LIMIT ?

with punctuation removed from QUERY first, as the gateway does (no other change: FTS5 reads
upper-case AND, OR and NOT as operators, for the gateway too). It lists the pages in the
gateway's order with their estimated size; "yes" under CONTEXT marks the pages the gateway
would pass to the model (it stops once 8000 estimated tokens are used).

The index is --index, else the deployment's docs_index, else <data dir>/docs.db.
` + exitStatusHelp,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if index == "" {
				var err error
				if index, err = g.core().SearchIndexPath(); err != nil {
					return err
				}
			}
			info, err := docsindex.Inspect(index)
			if err != nil {
				return err
			}
			hits, err := docsindex.Search(cmd.Context(), index, args[0], limit)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Index docsindex.Info  `json:"index"`
					Query string          `json:"query"`
					Hits  []docsindex.Hit `json:"hits"`
				}{info, docsindex.SanitizeQuery(args[0]), docsNonNil(hits)})
			}
			return printDocsHits(cmd.OutOrStdout(), info, docsindex.SanitizeQuery(args[0]), hits)
		},
	}
	f := cmd.Flags()
	f.StringVar(&index, "index", "", "docs.db to search (default: the deployment's docs_index, else <data dir>/docs.db)")
	f.IntVar(&limit, "limit", docsindex.DefaultLimit, "most pages to return (the gateway asks for 20)")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func docsNonNil(h []docsindex.Hit) []docsindex.Hit {
	if h == nil {
		return []docsindex.Hit{}
	}
	return h
}

func printDocsHits(w io.Writer, info docsindex.Info, query string, hits []docsindex.Hit) error {
	fmt.Fprintf(w, "Index %s: %d pages, %s\n", info.Path, info.Rows, units.HumanBytes(info.SizeBytes))
	if len(hits) == 0 {
		fmt.Fprintf(w, "No page matches %q.\n", query)
		return nil
	}
	fmt.Fprintf(w, "Pages matching %q, best first:\n", query)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tFILE\tTITLE\tTOKENS\tCONTEXT")
	for i, h := range hits {
		ctx := "no"
		if h.InContext {
			ctx = "yes"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\n", i+1, h.Filename, h.Title, h.Tokens, ctx)
	}
	return tw.Flush()
}

// docsProgress prints download and indexing progress on stderr: one
// rewritten line on a terminal, a line per tenth otherwise.
type docsProgress struct {
	w         io.Writer
	tty       bool
	drawn     bool
	lastTenth int64
	phase     string
}

func (p *docsProgress) download(url string, done, total int64) {
	line := "Downloading " + url + ": " + units.HumanBytes(done)
	tenth := int64(-1)
	if total > 0 {
		line += " of " + units.HumanBytes(total)
		tenth = done * 10 / total
	}
	p.show("download", line, tenth)
}

func (p *docsProgress) index(done, total int) {
	p.show("index", fmt.Sprintf("Indexing pages: %d of %d", done, total), int64(done*10/total))
}

func (p *docsProgress) show(phase, line string, tenth int64) {
	if p.tty {
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	if phase != p.phase || tenth > p.lastTenth {
		fmt.Fprintln(p.w, line)
		p.phase, p.lastTenth = phase, tenth
	}
}

func (p *docsProgress) end() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}

func docsIsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
