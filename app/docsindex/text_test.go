package docsindex

import (
	"bufio"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

// Expected values below are derived by hand from the gateway's rules
// (facts/gitlab-ai-gateway.md §9.3); each comment shows the steps.
func TestStripFrontMatter_Quirks(t *testing.T) {
	cases := []struct{ name, in, want string }{
		// no "---": unchanged, last character kept
		{"absent", "# Title\nText.\n", "# Title\nText.\n"},
		// open 0, close 15 ("---\n" + "title: Page\n"); keep [17:-1]: "-\n" + body without its last "\n"
		{"present", "---\ntitle: Page\n---\nBody.\n", "-\nBody."},
		// no closing marker: Python's find gives -1, so [1:-1]
		{"unclosed", "---\ntitle: Draft\nBody.\n", "--\ntitle: Draft\nBody."},
		// a horizontal rule counts as an opening marker too
		{"rule only", "# T\n\n---\n\nMore\n", " T\n\n---\n\nMore"},
		// "----" closes at its first "-": close 9, keep [11:-1]
		{"four dashes", "---\na: b\n----\nBody\n", "--\nBody"},
		// close 4, keep [6:-1] where len is 7: empty
		{"nothing after", "---\n---", ""},
		{"only marker", "---", "-"},
		{"five dashes", "-----", "-"},
		{"empty", "", ""},
		// [1:-1] drops one code point at each end, not one byte
		{"multibyte ends unclosed", "é---ü", "---"},
		// keep [close+2:-1]; the dropped last character is the two-byte "ü"
		{"multibyte last", "---\n---\nAü", "-\nA"},
	}
	for _, c := range cases {
		if got := StripFrontMatter(c.in); got != c.want {
			t.Errorf("%s: StripFrontMatter(%q) = %q, want %q", c.name, c.in, got, c.want)
		}
	}
}

func TestPythonLower_FullMappingAndFinalSigma(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ÜBER Straße ẞ", "über straße ß"},
		// İ lower-cases to i + COMBINING DOT ABOVE (SpecialCasing.txt)
		{"İstanbul", "i\u0307stanbul"},
		// Σ after a cased letter and not before one: final ς; alone or word-initial: σ
		{"ΟΔΟΣ ΣΟΦΙΑΣ", "οδος σοφιας"},
		{"Σ", "σ"},
		{"ΑΣ.", "ας."},   // '.' is Case_Ignorable, nothing cased after it
		{"ΑΣ.Β", "ασ.β"}, // ... but a cased letter after it makes the sigma medial
		{"Α'Σ", "α'ς"},   // apostrophe before the sigma is skipped too
		{"1Σ", "1σ"},     // a digit is not cased
		{"ǄǅǆⅫⒶ", "ǆǆǆⅻⓐ"},
	}
	for _, c := range cases {
		if got := PythonLower(c.in); got != c.want {
			t.Errorf("PythonLower(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestKeepWordsAndSpaces_PythonClasses(t *testing.T) {
	cases := []struct{ in, want string }{
		{"it's a `code` block: [link](x.md)!", "its a code block linkxmd"},
		// combining marks (Mn) are not \w in Python: e + U+0301 loses the accent
		{"café e\u0301", "café e"},
		// No/Nl numbers and '_' are \w; So symbols, Pd/Po punctuation are not
		{"x²½_Ⅻ ™©🙂 — 、！", "x²½_Ⅻ   "},
		// \s: NBSP, ideographic space, U+001C..U+001F, NEL; not ZERO WIDTH SPACE (Cf)
		{"a\u00a0b\u3000c\u001cd\u001fe\u0085f\u200bg", "a\u00a0b\u3000c\u001cd\u001fe\u0085fg"},
		{"日本語、テスト", "日本語テスト"},
	}
	for _, c := range cases {
		if got := KeepWordsAndSpaces(c.in); got != c.want {
			t.Errorf("KeepWordsAndSpaces(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTranslateNewlines_UniversalNewlines(t *testing.T) {
	if got := TranslateNewlines("a\r\nb\rc\n\r\n"); got != "a\nb\nc\n\n" {
		t.Errorf("got %q", got)
	}
}

func TestMetadata_PythonJSONDumps(t *testing.T) {
	// Outputs of Python 3's json.dumps({"filename": name}).
	cases := []struct{ in, want string }{
		{"/user/project/issues/index.md", `{"filename": "/user/project/issues/index.md"}`},
		{"/ü/日本.md", `{"filename": "/\u00fc/\u65e5\u672c.md"}`},
		{"/x\"y\\z\n\t\x01\x7f.md", `{"filename": "/x\"y\\z\n\t\u0001\u007f.md"}`},
		{"/🙂.md", `{"filename": "/\ud83d\ude42.md"}`},
		{"/<a>&b.md", `{"filename": "/<a>&b.md"}`},
		{"/bad\xffname.md", `{"filename": "/bad\udcffname.md"}`}, // os.fsdecode's surrogateescape
	}
	for _, c := range cases {
		if got := Metadata(c.in); got != c.want {
			t.Errorf("Metadata(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

// TestProcess_MatchesCPythonReference checks Process against processed values
// that CPython computed (testdata/python_reference.py wrote the file).
func TestProcess_MatchesCPythonReference(t *testing.T) {
	f, err := os.Open("testdata/python_reference.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var c struct{ Text, Processed string }
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		n++
		if got := Process(c.Text); got != c.Processed {
			t.Errorf("Process(%q) = %q, CPython gives %q", c.Text, got, c.Processed)
		}
	}
	if n < 100 {
		t.Fatalf("only %d reference cases read", n)
	}
}

// stripFrontMatterRunes is an independent transcription of the Python code
// on code-point slices, to check the byte-offset version against.
func stripFrontMatterRunes(text string) string {
	r := []rune(text)
	find := func(from int) int {
		for i := max(from, 0); i+3 <= len(r); i++ {
			if r[i] == '-' && r[i+1] == '-' && r[i+2] == '-' {
				return i
			}
		}
		return -1
	}
	open := find(0)
	if open == -1 {
		return text
	}
	start, end := find(open+1)+2, len(r)-1
	if start >= end {
		return ""
	}
	return string(r[start:end])
}

func FuzzProcess(f *testing.F) {
	for _, s := range []string{"", "---", "---\na\n---\nb\n", "ΑΣ. İ é\u0301", "x---y", "日本---語", "\r\n---\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // documents are checked to be UTF-8 before processing
		}
		stripped := StripFrontMatter(s)
		if want := stripFrontMatterRunes(s); stripped != want {
			t.Fatalf("StripFrontMatter(%q) = %q, code-point version gives %q", s, stripped, want)
		}
		if !strings.Contains(s, stripped) {
			t.Fatalf("StripFrontMatter(%q) = %q is not part of the input", s, stripped)
		}
		p := Process(s)
		if !utf8.ValidString(p) {
			t.Fatalf("Process(%q) = %q is not UTF-8", s, p)
		}
		for _, r := range p {
			if !isWord(r) && !isSpace(r) {
				t.Fatalf("Process(%q) = %q keeps %U", s, p, r)
			}
		}
		if again := KeepWordsAndSpaces(PythonLower(p)); again != p {
			t.Fatalf("processing %q twice gives %q, once %q", s, again, p)
		}
		m := Metadata(s)
		var back map[string]string
		if err := json.Unmarshal([]byte(m), &back); err != nil || back["filename"] != s {
			t.Fatalf("Metadata(%q) = %s does not decode back: %v %q", s, m, err, back["filename"])
		}
	})
}
