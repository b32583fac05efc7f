package main

import (
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// table prints rows under a header in aligned columns that fit the
// terminal: when the columns' natural widths do not fit, a free-text last
// column goes under its row, the widest columns narrow (never below their
// header or longest word), and each cell wraps within its
// column, so a long value makes its row taller instead of pushing the
// columns out of line. Nothing is cut: the full values are also in --json.
type table struct {
	header []string
	rows   [][]string
	notes  map[int][]string // lines under a row, wrapped to the width and indented
	// under is how many last columns are prose (licence, why, note): when a
	// row does not fit the terminal they go under it, joined by " · " and
	// wrapped at the full width.
	under int
}

const tableGap = 2

func newTable(header ...string) *table { return &table{header: header} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

// note puts text under the last row, indented (e.g. why it failed).
func (t *table) note(prefix, text string) {
	if t.notes == nil {
		t.notes = map[int][]string{}
	}
	i := len(t.rows) - 1
	t.notes[i] = append(t.notes[i], prefix+"\x00"+text)
}

// print writes the table for a terminal width (0: no limit).
func (t *table) print(w io.Writer, width int) {
	header, rows, notes := t.header, t.rows, t.notes
	if width > 0 && t.under > 0 && len(header) > t.under+1 && sum(t.widths(header, rows))+tableGap*(len(header)-1) > width {
		keep := len(header) - t.under
		notes = map[int][]string{}
		header, rows = header[:keep], make([][]string, len(t.rows))
		for i, r := range t.rows {
			rows[i] = r[:min(keep, len(r))]
			var prose []string
			for _, c := range r[min(keep, len(r)):] {
				if c != "" {
					prose = append(prose, c)
				}
			}
			if len(prose) > 0 {
				notes[i] = append(notes[i], "    \x00"+strings.Join(prose, " · "))
			}
			notes[i] = append(notes[i], t.notes[i]...)
		}
	}
	n := len(header)
	widths := t.widths(header, rows)
	// A column narrows first down to its longest word (up to 18) and its
	// short values (up to 10, e.g. "295.5 GiB"), so they stay whole; only
	// then, if it must, down to its header.
	header1, words := make([]int, n), make([]int, n)
	for i, h := range header {
		header1[i] = max(utf8.RuneCountInString(h), 6)
		words[i] = header1[i]
		for _, r := range rows {
			if i >= len(r) {
				continue
			}
			if c := utf8.RuneCountInString(r[i]); c <= 10 {
				words[i] = max(words[i], c)
			}
			for _, word := range strings.Fields(r[i]) {
				words[i] = max(words[i], min(utf8.RuneCountInString(word), 18))
			}
		}
	}
	for _, floor := range [][]int{words, header1} {
		for width > 0 && sum(widths)+tableGap*(n-1) > width {
			widest := -1
			for i := range widths {
				if widths[i] > floor[i] && (widest < 0 || widths[i] > widths[widest]) {
					widest = i
				}
			}
			if widest < 0 {
				break // as narrow as it goes: the terminal wraps
			}
			widths[widest]--
		}
	}
	t.printRow(w, header, widths)
	for i, r := range rows {
		t.printRow(w, r, widths)
		for _, note := range notes[i] {
			prefix, text, _ := strings.Cut(note, "\x00")
			noteWidth := 0
			if width > 0 {
				noteWidth = max(20, width-utf8.RuneCountInString(prefix))
			}
			for _, l := range strings.Split(text, "\n") {
				for _, part := range wrapText(l, noteWidth) {
					io.WriteString(w, prefix+part+"\n")
				}
			}
		}
	}
}

// widths are the columns' natural widths: their longest cell.
func (t *table) widths(header []string, rows [][]string) []int {
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = utf8.RuneCountInString(h)
	}
	for _, r := range rows {
		for i := 0; i < len(widths) && i < len(r); i++ {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	return widths
}

func (t *table) printRow(w io.Writer, cells []string, widths []int) {
	lines := make([][]string, len(widths))
	height := 1
	for i := range widths {
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		lines[i] = wrapText(cell, widths[i])
		height = max(height, len(lines[i]))
	}
	var b strings.Builder
	for l := 0; l < height; l++ {
		b.Reset()
		for i := range widths {
			s := ""
			if l < len(lines[i]) {
				s = lines[i][l]
			}
			b.WriteString(s)
			if i < len(widths)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(s)+tableGap))
			}
		}
		io.WriteString(w, strings.TrimRight(b.String(), " ")+"\n")
	}
}

// wrapText breaks s into lines of at most width runes, at spaces where it
// can and inside a word longer than a line where it must.
func wrapText(s string, width int) []string {
	if utf8.RuneCountInString(s) <= width || width <= 0 {
		return []string{s}
	}
	var out []string
	line := ""
	for _, word := range strings.Fields(s) {
		for utf8.RuneCountInString(word) > width {
			if line != "" {
				out, line = append(out, line), ""
			}
			r := []rune(word)
			out, word = append(out, string(r[:width])), string(r[width:])
		}
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) <= width:
			line += " " + word
		default:
			out, line = append(out, line), word
		}
	}
	if line != "" || len(out) == 0 {
		out = append(out, line)
	}
	return out
}

func sum(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// terminalWidth is $COLUMNS when set, else the width of the terminal w
// writes to, else 0 (a file or a pipe: no limit).
func terminalWidth(w io.Writer) int {
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 0
}
