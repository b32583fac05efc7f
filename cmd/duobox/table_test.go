package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

// In an 80-column terminal the recommend table keeps its columns: no line
// is wider than 80, every row's cells start where the header's do, and no
// word is lost (long cells wrap inside their column).
func TestTable_recommendFitsEightyColumns(t *testing.T) {
	t.Setenv("COLUMNS", "80")
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	m := hardware.Machine{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", Name: "NVIDIA L40S", MemoryTotal: 46068 << 20, MemoryUsed: 479 << 20, MemoryFree: 45589 << 20}}}
	r, err := recommend.Recommend(m, cat, recommend.Options{GitLab: version.MustParse("18.5")})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printRecommendation(&out, m, r)
	lines := strings.Split(out.String(), "\n")
	header := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "MODEL") {
			header = i
			break
		}
	}
	if header < 0 {
		t.Fatalf("no table:\n%s", out.String())
	}
	starts := columnStarts(lines[header])
	if len(starts) != 5 { // LICENCE and WHY go under each row at 80 columns
		t.Fatalf("header %q", lines[header])
	}
	table := ""
	for _, l := range lines[header:] {
		if l == "" {
			break
		}
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("%d columns: %q", n, l)
		}
		if strings.HasPrefix(l, "    ") { // WHY, under its row
			table += l + " "
			continue
		}
		for _, at := range starts[1:] { // a cell starts at its column, or the column is blank
			if r := []rune(l); at < len(r) && r[at-1] != ' ' {
				t.Errorf("column at %d broken: %q", at, l)
			}
		}
		table += l + " "
	}
	t.Logf("\n%s", out.String())
	for _, f := range r.Models {
		for _, word := range strings.Fields(f.Why) {
			if utf8.RuneCountInString(word) < 20 && !strings.Contains(table, word) { // longer ones are cut across lines
				t.Fatalf("%s: %q lost from the table", f.ID, word)
			}
		}
	}
	if !strings.Contains(table, "MNPL-0.1") || !strings.Contains(table, "(non-production)") {
		t.Error("Codestral's licence is not in the table")
	}
}

func columnStarts(header string) []int {
	var at []int
	r := []rune(header)
	for i := range r {
		if r[i] != ' ' && (i == 0 || (r[i-1] == ' ' && i > 1 && r[i-2] == ' ')) {
			at = append(at, i)
		}
	}
	return at
}

func TestTable_wrapsAndNarrowsWidestFirst(t *testing.T) {
	tb := newTable("NAME", "STATE", "NOTE")
	tb.under = 1
	tb.add("duobox-model-server-codestral", "running", "restarted 3 times in the last 5 minutes (last exit 137: killed, out of memory)")
	tb.note("    ", "a reason under the row that is longer than the terminal is wide, wrapped")
	var out bytes.Buffer
	tb.print(&out, 64)
	want := `NAME                           STATE
duobox-model-server-codestral  running
    restarted 3 times in the last 5 minutes (last exit 137:
    killed, out of memory)
    a reason under the row that is longer than the terminal is
    wide, wrapped
`
	if out.String() != want {
		t.Errorf("got\n%s\nwant\n%s", out.String(), want)
	}
	out.Reset()
	tb.print(&out, 0) // not a terminal: one line per row
	if n := strings.Count(out.String(), "\n"); n != 3 || !strings.HasPrefix(out.String(), "NAME                           STATE    NOTE\n") {
		t.Errorf("unlimited width gave %d lines:\n%s", n, out.String())
	}
}
