package logs

import (
	"unicode/utf8"
)

// sanitize makes one line safe to keep and show: it drops a trailing CR,
// strips ANSI colour sequences, replaces invalid UTF-8 and control bytes
// (except tab) with U+FFFD, and flags the line binary when most of it was
// replaced. truncated says the line was cut at the cap, so an incomplete
// UTF-8 sequence at its end is dropped rather than flagged.
func sanitize(b []byte, truncated bool) ([]byte, Flags) {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	if truncated {
		b = trimIncompleteRune(b)
	}
	if clean(b) {
		return b, 0
	}
	var flags Flags
	out := make([]byte, 0, len(b)+8)
	bad := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0x1b && i+1 < len(b) && b[i+1] == '[' { // CSI: ESC [ params final-byte
			j := i + 2
			for j < len(b) && b[j] >= 0x20 && b[j] <= 0x3f {
				j++
			}
			if j < len(b) && b[j] >= 0x40 && b[j] <= 0x7e {
				i = j + 1
				continue
			}
		}
		if c < utf8.RuneSelf {
			if (c < 0x20 && c != '\t') || c == 0x7f {
				out = utf8.AppendRune(out, utf8.RuneError)
				bad++
			} else {
				out = append(out, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
			flags |= FlagInvalidUTF8
			bad++
			i++
			continue
		}
		out = append(out, b[i:i+size]...)
		i += size
	}
	if bad > 0 && bad*10 >= len(b)*3 { // 30 % or more replaced: not text
		flags |= FlagBinary
	}
	return out, flags
}

// clean reports whether b is valid UTF-8 without control bytes other than tab.
func clean(b []byte) bool {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
		} else if (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return ascii || utf8.Valid(b)
}

// trimIncompleteRune drops a UTF-8 sequence cut off at the end of b.
func trimIncompleteRune(b []byte) []byte {
	for k := 1; k <= utf8.UTFMax-1 && k <= len(b); k++ {
		c := b[len(b)-k]
		if c < utf8.RuneSelf {
			return b
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-k:]) {
				return b[:len(b)-k]
			}
			return b
		}
	}
	return b
}
