package logs

import (
	"encoding/json"
	"strconv"
	"strings"
)

// scanObject walks the top level of a JSON object and calls visit with each
// key and its raw value (strings still quoted; nested objects and arrays
// whole). It is a fast path for the gateway's one-object-per-line logs:
// encoding/json validates and decodes the whole line, which costs several
// times more, and DuoBox needs only a few scalar fields. It reports false
// when text is not a well-formed object at the top level; values it does not
// need are skipped, not validated.
func scanObject(text string, visit func(key, raw string)) bool {
	i := skipSpace(text, 0)
	if i >= len(text) || text[i] != '{' {
		return false
	}
	i = skipSpace(text, i+1)
	if i < len(text) && text[i] == '}' {
		return skipSpace(text, i+1) == len(text)
	}
	for {
		if i >= len(text) || text[i] != '"' {
			return false
		}
		end := stringEnd(text, i)
		if end < 0 {
			return false
		}
		key := text[i : end+1]
		i = skipSpace(text, end+1)
		if i >= len(text) || text[i] != ':' {
			return false
		}
		i = skipSpace(text, i+1)
		vEnd := valueEnd(text, i)
		if vEnd < 0 {
			return false
		}
		visit(unquote(key), text[i:vEnd])
		i = skipSpace(text, vEnd)
		if i >= len(text) {
			return false
		}
		switch text[i] {
		case ',':
			i = skipSpace(text, i+1)
		case '}':
			return skipSpace(text, i+1) == len(text)
		default:
			return false
		}
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the closing quote of the string starting at i.
func stringEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// valueEnd returns the index just after the value starting at i.
func valueEnd(s string, i int) int {
	if i >= len(s) {
		return -1
	}
	switch s[i] {
	case '"':
		if e := stringEnd(s, i); e >= 0 {
			return e + 1
		}
		return -1
	case '{', '[':
		depth := 0
		for j := i; j < len(s); j++ {
			switch s[j] {
			case '"':
				e := stringEnd(s, j)
				if e < 0 {
					return -1
				}
				j = e
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
		j++
	}
	if j == i || !validLiteral(s[i:j]) {
		return -1
	}
	return j
}

func validLiteral(v string) bool {
	switch v {
	case "true", "false", "null":
		return true
	}
	_, err := strconv.ParseFloat(v, 64)
	return err == nil && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// unquote decodes a JSON string token; escapes are rare in the fields
// DuoBox reads, so only then does it go through encoding/json.
func unquote(tok string) string {
	body := tok[1 : len(tok)-1]
	if !strings.Contains(body, `\`) {
		return body
	}
	if s, ok := unescapeShort(body); ok {
		return s
	}
	var s string
	if json.Unmarshal([]byte(tok), &s) != nil {
		return body
	}
	return s
}

// shortEscapes maps JSON's two-character escapes to their bytes.
var shortEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// unescapeShort decodes a JSON string body whose escapes are all two-character
// ones: the common case of quoted text in a log message, decoded without
// encoding/json's reflection. It reports false for anything else (\u, an
// unknown escape, a control byte or bare quote), which encoding/json then decides.
func unescapeShort(body string) (string, bool) {
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c < 0x20 || c == '"':
			return "", false
		case c == '\\':
			if i+1 == len(body) || shortEscapes[body[i+1]] == 0 {
				return "", false
			}
			i++
			c = shortEscapes[body[i]]
		}
		out = append(out, c)
	}
	return string(out), true
}

// scalar renders a raw JSON value as text: strings decoded, numbers and
// booleans as written; null, objects and arrays give "".
func scalar(raw string) string {
	if raw == "" {
		return ""
	}
	switch raw[0] {
	case '"':
		return unquote(raw)
	case '{', '[', 'n':
		return ""
	}
	return raw
}
