package docsindex

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The gateway's indexer (ai_gateway/scripts/index_docs_as_sqlite.py,
// build_row_corpus) turns a file's text into the `processed` column like this:
//
//	preamble_start = corpus.find("---")
//	if preamble_start != -1:
//	    preamble_end = corpus.find("---", preamble_start + 1)
//	    corpus = corpus[preamble_end + 2 : -1]
//	corpus = corpus.lower()
//	corpus = re.sub(r"[^\w\s]", "", corpus)
//
// The functions below reproduce that on Go strings, with Python's str
// semantics: indexes count code points, lower() is Unicode's full lower-case
// mapping with the Final_Sigma rule, and \w / \s are Python's Unicode classes.
// Go's unicode tables are Unicode 15.0, the same as Python 3.12; Python 3.11
// (Unicode 14.0) differs only on the characters added in 15.0.

// Process returns the `processed` value the gateway stores for a file whose
// text (after newline translation, see ReadText) is text.
func Process(text string) string {
	return KeepWordsAndSpaces(PythonLower(StripFrontMatter(text)))
}

// StripFrontMatter reproduces the gateway's preamble removal, quirks included:
// with no "---" the text is returned unchanged; otherwise the text from two
// characters after the next "---" (searched from one character after the
// first) up to but excluding the last character, so one '-' of the closing
// marker stays and the file's last character goes. With no closing marker
// Python's find gives -1, so the kept text starts at the second character.
func StripFrontMatter(text string) string {
	open := strings.Index(text, "---")
	if open < 0 {
		return text
	}
	// open+1 is a byte offset inside the ASCII "---", so it is also a rune boundary.
	var start int
	if rel := strings.Index(text[open+1:], "---"); rel >= 0 {
		start = open + 1 + rel + 2 // still inside the ASCII closing marker
	} else {
		_, first := utf8.DecodeRuneInString(text) // corpus[1:]: drop one code point
		start = first
	}
	_, last := utf8.DecodeLastRuneInString(text) // corpus[:-1]: drop one code point
	end := len(text) - last
	if start >= end {
		return ""
	}
	return text[start:end]
}

// PythonLower is Python's str.lower(): the full Unicode lower-case mapping
// (U+0130 becomes "i\u0307") and Greek capital sigma becoming final sigma
// (U+03C2) at the end of a word.
func PythonLower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		if r < utf8.RuneSelf {
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
			continue
		}
		lowerRune(&b, s, i, r)
	}
	return b.String()
}

// lowerRune writes the lower-case form of the non-ASCII rune r found at byte i of s.
func lowerRune(b *strings.Builder, s string, i int, r rune) {
	switch r {
	case 0x0130: // LATIN CAPITAL LETTER I WITH DOT ABOVE: SpecialCasing.txt, unconditional
		b.WriteString("i\u0307")
	case 0x03A3: // GREEK CAPITAL LETTER SIGMA
		if finalSigma(s, i) {
			b.WriteRune(0x03C2)
		} else {
			b.WriteRune(0x03C3)
		}
	default:
		b.WriteRune(unicode.ToLower(r))
	}
}

// finalSigma is CPython's handle_capital_sigma for the sigma at byte i of s:
// \p{Cased}\p{Case_Ignorable}* before it and not \p{Case_Ignorable}*\p{Cased} after it.
func finalSigma(s string, i int) bool {
	before := s[:i]
	for {
		r, size := utf8.DecodeLastRuneInString(before)
		if size == 0 {
			return false
		}
		before = before[:len(before)-size]
		if !caseIgnorable(r) {
			if !cased(r) {
				return false
			}
			break
		}
	}
	for _, r := range s[i+len("Σ"):] {
		if !caseIgnorable(r) {
			return !cased(r)
		}
	}
	return true
}

// cased is Unicode's Cased property (DerivedCoreProperties.txt).
func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

// caseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk, and
// the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0x00B7, 0x0387, 0x055F, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// KeepWordsAndSpaces is re.sub(r"[^\w\s]", "", s) for a str pattern: it keeps
// Python's Unicode word characters (letters, numbers, '_') and whitespace and
// drops everything else, combining marks included.
func KeepWordsAndSpaces(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if isWord(r) || isSpace(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isWord is Python's \w on str: str.isalnum() (categories L*, and every
// character with a numeric value, which in Unicode are the N* categories) or '_'.
func isWord(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

// isSpace is Python's \s on str (str.isspace()): bidirectional classes WS, B
// and S or category Zs. That is Go's unicode.IsSpace plus U+001C..U+001F.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || 0x1C <= r && r <= 0x1F
}

// TranslateNewlines is what Python's text-mode read does to a file: "\r\n"
// and a lone "\r" become "\n" (universal newlines). The gateway reads files
// that way, so both `content` and `processed` carry the translated text.
func TranslateNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// Metadata is the gateway's metadata column for a file: Python's
// json.dumps({"filename": name}) with its defaults, i.e. ", "/": " separators
// and ensure_ascii (every character outside printable ASCII written as a
// lower-case \uXXXX escape, UTF-16 surrogate pairs above U+FFFF).
func Metadata(name string) string {
	var b strings.Builder
	b.Grow(len(name) + 16)
	b.WriteString(`{"filename": "`)
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			// os.fsdecode's surrogateescape: an undecodable byte b becomes U+DC00+b.
			r = 0xDC00 + rune(name[i])
		}
		i += size
		writeJSONRune(&b, r)
	}
	b.WriteString(`"}`)
	return b.String()
}

const hexDigits = "0123456789abcdef"

// writeJSONRune writes r as Python's json encoder with ensure_ascii does.
func writeJSONRune(b *strings.Builder, r rune) {
	switch r {
	case '"':
		b.WriteString(`\"`)
	case '\\':
		b.WriteString(`\\`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	case '\t':
		b.WriteString(`\t`)
	case '\b':
		b.WriteString(`\b`)
	case '\f':
		b.WriteString(`\f`)
	default:
		switch {
		case ' ' <= r && r <= '~':
			b.WriteByte(byte(r))
		case r > 0xFFFF:
			r -= 0x10000
			writeUnicodeEscape(b, 0xD800+(r>>10))
			writeUnicodeEscape(b, 0xDC00+(r&0x3FF))
		default:
			writeUnicodeEscape(b, r)
		}
	}
}

func writeUnicodeEscape(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xF])
	}
}
