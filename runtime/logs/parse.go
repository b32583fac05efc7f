package logs

import (
	"strconv"
	"strings"
)

// parseJSON reads a JSON object line: the AI Gateway's structlog output
// (facts: gitlab-ai-gateway.md §6). Every field may be missing or of an
// unexpected type. ok is false when text is not a JSON object.
func parseJSON(text string) (Level, *Fields, bool) {
	f := &Fields{}
	var level, event string
	var status, duration string
	ok := scanObject(text, func(key, raw string) {
		switch key {
		case "level":
			level = scalar(raw)
		case "logger":
			f.Logger = scalar(raw)
		case "message":
			f.Message = scalar(raw)
		case "event":
			event = scalar(raw)
		case "correlation_id":
			f.CorrelationID = scalar(raw)
		case "status_code":
			status = raw
		case "duration_s":
			duration = raw
		case "exception_class":
			f.Exception = scalar(raw)
		}
	})
	if !ok {
		return LevelUnknown, nil, false
	}
	if f.Message == "" {
		f.Message = event
	}
	if n, err := strconv.ParseFloat(status, 64); err == nil {
		f.StatusCode = int(n)
	}
	if d, err := strconv.ParseFloat(duration, 64); err == nil {
		f.DurationS = d
	}
	lvl, _ := ParseLevel(level)
	if lvl == LevelUnknown {
		switch {
		case f.Exception != "":
			lvl = LevelError
		case f.StatusCode >= 500:
			lvl = LevelError
		case f.StatusCode >= 400:
			lvl = LevelWarning
		}
	}
	return lvl, f, true
}

// plainLevel detects the level of a non-JSON line. It knows vLLM's
// "INFO 05-12 10:00:00 [file.py:12] …" (optionally after "(APIServer pid=1) "),
// uvicorn's "INFO:     …", structlog's console "[info     ]", Go/Python
// "level=warn", and Python tracebacks and "XxxError: …" lines.
func plainLevel(text string) Level {
	head := text
	if len(head) > 96 {
		head = head[:96]
	}
	if l := levelToken(head); l != LevelUnknown {
		return l
	}
	t := strings.TrimLeft(text, " \t")
	switch {
	case strings.HasPrefix(t, "Traceback (most recent call last)"):
		return LevelError
	case exceptionLine(t):
		return LevelError
	}
	return LevelUnknown
}

// levelToken finds the first level word in head: an upper-case word (INFO,
// WARNING, ERROR, …), a bracketed one ([info], [warning ]), or level=x.
func levelToken(head string) Level {
	for i := 0; i < len(head); {
		c := head[i]
		if !isWordByte(c) {
			i++
			continue
		}
		j := i
		for j < len(head) && isWordByte(head[j]) {
			j++
		}
		word := head[i:j]
		if len(word) >= 3 && len(word) <= 9 {
			prev := byte(' ')
			if i > 0 {
				prev = head[i-1]
			}
			upper := strings.ToUpper(word) == word
			if upper || prev == '[' || strings.Contains(head[max(0, i-10):i], "level") {
				if l, ok := ParseLevel(word); ok && l != LevelUnknown && !(upper && word == "ERR") {
					return l
				}
			}
		}
		i = j
	}
	return LevelUnknown
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// exceptionLine matches "ValueError: …", "torch.OutOfMemoryError: …",
// "jose.exceptions.JWTError: …" at the start of a line.
func exceptionLine(t string) bool {
	i := strings.IndexByte(t, ':')
	if i <= 0 || i > 120 {
		return false
	}
	name := t[:i]
	if strings.ContainsAny(name, " \t") {
		return false
	}
	return strings.HasSuffix(name, "Error") || strings.HasSuffix(name, "Exception")
}
