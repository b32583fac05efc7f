package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app/docsindex"
)

// bench: docs-index — `duobox docs-index` over a generated tree the size of
// GitLab's doc/ folder (2,500 pages, about 40 MB) against the sqlite3 CLI
// inserting the same rows (the same processed values) into the gateway's
// schema in one transaction. Only the sqlite3 run is timed for the
// reference; writing its SQL file is not.
func init() { registerBench("docs-index", benchDocsIndex) }

const (
	benchDocsPages = 2500
	benchDocsBytes = 40 << 20
	benchDocsRuns  = 3
)

func benchDocsIndex(ctx context.Context, env *benchEnv) (result, error) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		return result{}, fmt.Errorf("the reference needs the sqlite3 CLI (Debian package sqlite3): %w", err)
	}
	dir := filepath.Join(env.tmp, "docs-index")
	tree := filepath.Join(dir, "gitlab")
	size, err := writeBenchDocsTree(tree)
	if err != nil {
		return result{}, err
	}
	docs, err := docsindex.ReadSource(tree)
	if err != nil {
		return result{}, err
	}
	script := filepath.Join(dir, "insert.sql")
	if err := writeBenchInsertSQL(script, docs); err != nil {
		return result{}, err
	}
	var ours, ref, oursCPU, refCPU []float64
	for i := range benchDocsRuns {
		out := filepath.Join(dir, fmt.Sprintf("duobox-%d.db", i))
		d, cpu, err := timeDocsRun(ctx, "", env.duobox, "docs-index", "--from", tree, "-o", out)
		if err != nil {
			return result{}, err
		}
		ours, oursCPU = append(ours, d), append(oursCPU, cpu)
		refOut := filepath.Join(dir, fmt.Sprintf("sqlite3-%d.db", i))
		d, cpu, err = timeDocsRun(ctx, script, "sqlite3", "-batch", "-bail", refOut)
		if err != nil {
			return result{}, err
		}
		ref, refCPU = append(ref, d), append(refCPU, cpu)
		if i == 0 {
			if err := compareBenchIndexes(out, refOut); err != nil {
				return result{}, err
			}
		}
		os.Remove(out)
		os.Remove(refOut)
	}
	return result{
		value: median(ours), reference: median(ref), unit: "s", goal: 1.5, lowerIsBetter: true,
		note: fmt.Sprintf("%d pages, %.1f MB; median of %d runs each; wall s: duobox %.1f, sqlite3 %.1f; CPU s (user+sys): duobox %.1f, sqlite3 %.1f (ratio %.2f)",
			len(docs), float64(size)/1e6, benchDocsRuns, ours, ref, oursCPU, refCPU, median(oursCPU)/median(refCPU)),
	}, nil
}

// timeDocsRun runs name args (stdin from the file in, if any) and returns
// its wall time and the CPU time it used, in seconds.
func timeDocsRun(ctx context.Context, in, name string, args ...string) (wall, cpu float64, err error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return 0, 0, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return time.Since(start).Seconds(), cpuSeconds(cmd), nil
}

// compareBenchIndexes checks both files hold the same rows, so the two sides did the same work.
func compareBenchIndexes(a, b string) error {
	q := "SELECT count(*), sum(length(processed)), sum(length(content)), sum(length(metadata)) FROM doc_index;"
	var outs []string
	for _, db := range []string{a, b} {
		out, err := exec.Command("sqlite3", "-batch", db, q).Output()
		if err != nil {
			return fmt.Errorf("sqlite3 %s: %w", db, err)
		}
		outs = append(outs, strings.TrimSpace(string(out)))
	}
	if outs[0] != outs[1] {
		return fmt.Errorf("the indexes differ: duobox %s, sqlite3 %s", outs[0], outs[1])
	}
	return nil
}

// writeBenchInsertSQL writes the gateway's schema and one INSERT per page in one transaction.
func writeBenchInsertSQL(file string, docs []docsindex.Document) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintf(w, "CREATE VIRTUAL TABLE doc_index USING fts5(processed, content, metadata, tokenize='porter trigram');\nPRAGMA user_version = 1;\nBEGIN;\n")
	quote := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	for _, d := range docs {
		r := docsindex.RowOf(d)
		fmt.Fprintf(w, "INSERT INTO doc_index (processed, content, metadata) VALUES (%s,%s,%s);\n", quote(r.Processed), quote(r.Content), quote(r.Metadata))
	}
	fmt.Fprintf(w, "COMMIT;\n")
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeBenchDocsTree writes a deterministic docs tree shaped like GitLab's:
// nested folders, front matter, headings, prose from a Zipf-distributed
// vocabulary, code blocks, links, tables, a little non-ASCII text. It
// returns the bytes written.
func writeBenchDocsTree(root string) (int64, error) {
	rng := rand.New(rand.NewPCG(9, 2500))
	vocab := benchVocabulary(rng, 12000)
	zipf := rand.NewZipf(rng, 1.1, 2, uint64(len(vocab)-1))
	word := func() string { return vocab[zipf.Uint64()] }
	sections := []string{"user", "administration", "ci", "api", "development", "install", "operations", "security", "tutorials", "integration"}
	var total int64
	for i := range benchDocsPages {
		// Page sizes vary around the average (40 MB / 2,500 pages ≈ 16.8 kB).
		target := int(float64(benchDocsBytes/benchDocsPages) * math.Exp(rng.NormFloat64()*0.6-0.18))
		var b strings.Builder
		fmt.Fprintf(&b, "---\nstage: %s\ngroup: %s\ninfo: To determine the technical writer assigned to the Stage/Group associated with this page, see https://handbook.gitlab.com/\ntitle: %s %s\n---\n\n",
			word(), word(), strings.ToUpper(word()[:1])+word()[1:], word())
		for b.Len() < target {
			switch rng.IntN(10) {
			case 0:
				fmt.Fprintf(&b, "## %s %s %s\n\n", word(), word(), word())
			case 1:
				fmt.Fprintf(&b, "```yaml\n%s:\n  %s: \"%s\"\n  script:\n    - %s --%s=%d\n```\n\n", word(), word(), word(), word(), word(), rng.IntN(1000))
			case 2:
				fmt.Fprintf(&b, "| %s | %s |\n|---|---|\n| `%s` | %s %s. |\n\n", word(), word(), word(), word(), word())
			case 3:
				fmt.Fprintf(&b, "- [%s %s](../%s/%s.md#%s)\n- Über %s, straße, café — %s.\n\n", word(), word(), word(), word(), word(), word(), word())
			default:
				for s := 3 + rng.IntN(4); s > 0; s-- {
					n := 6 + rng.IntN(14)
					for w := range n {
						if w > 0 {
							b.WriteByte(' ')
						}
						b.WriteString(word())
					}
					b.WriteString(". ")
				}
				b.WriteString("\n\n")
			}
		}
		sec := sections[i%len(sections)]
		p := filepath.Join(root, "doc", sec, fmt.Sprintf("area%02d", i/len(sections)%40), fmt.Sprintf("page_%04d", i), "index.md")
		if i%3 == 0 {
			p = filepath.Join(root, "doc", sec, fmt.Sprintf("page_%04d.md", i))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			return 0, err
		}
		total += int64(b.Len())
	}
	return total, nil
}

// benchVocabulary makes n distinct pronounceable words, short ones first.
func benchVocabulary(rng *rand.Rand, n int) []string {
	common := strings.Fields("the to and a of in for is you your with on can this that be or use if by from an as are project gitlab runner pipeline merge request job group issue")
	syllables := strings.Fields("ba be bi bo bu ca ce ci co cu da de di do du fa fe fi fo ga ge gi go ha he hi ho ka ke ki ko la le li lo lu ma me mi mo mu na ne ni no nu pa pe pi po pu ra re ri ro ru sa se si so su ta te ti to tu va ve vi vo za ze zi zo ing er ed tion ment")
	seen := map[string]bool{}
	words := append([]string(nil), common...)
	for _, w := range common {
		seen[w] = true
	}
	for len(words) < n {
		var b strings.Builder
		for s := 1 + rng.IntN(2+len(words)*3/n); s > 0; s-- {
			b.WriteString(syllables[rng.IntN(len(syllables))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			words = append(words, w)
		}
	}
	return words
}
