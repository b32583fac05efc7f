// Package logs turns container log streams into records DuoBox can show,
// search and explain. A Pipeline takes the demultiplexed bytes of one
// container (stdout and stderr, with the engine's timestamps), cuts them into
// lines (capping very long lines and marking invalid UTF-8 or binary bytes),
// parses the gateway's JSON lines and plain vLLM / Agent Platform lines with
// level detection, runs the recognisers that explain known failures, and keeps
// the result in a bounded Ring. A Follower keeps a Pipeline fed across
// container restarts and engine reconnects without losing or repeating a line.
//
// The package never talks to the engine itself: it consumes the small Source
// interface that runtime/docker implements.
package logs

import (
	"strings"
	"time"
)

// Stream is the output a line came from.
type Stream uint8

// Streams. A TTY container has only Stdout.
const (
	Stdout Stream = 1
	Stderr Stream = 2
)

func (s Stream) String() string {
	if s == Stderr {
		return "stderr"
	}
	return "stdout"
}

// ParseStream reads "stdout" or "stderr".
func ParseStream(s string) (Stream, bool) {
	switch strings.ToLower(s) {
	case "stdout", "out":
		return Stdout, true
	case "stderr", "err":
		return Stderr, true
	}
	return 0, false
}

// Level is a line's severity. LevelUnknown sorts below Debug; filters treat it as Info.
type Level uint8

// Levels in increasing severity.
const (
	LevelUnknown Level = iota
	LevelDebug
	LevelInfo
	LevelWarning
	LevelError
	LevelCritical
)

var levelNames = [...]string{"unknown", "debug", "info", "warning", "error", "critical"}

func (l Level) String() string {
	if int(l) < len(levelNames) {
		return levelNames[l]
	}
	return "unknown"
}

// MarshalText writes the level's name (for --json).
func (l Level) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// ParseLevel reads a level name as users and loggers write it (case-insensitive;
// warn, err, fatal and crit are accepted).
func ParseLevel(s string) (Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug", "trace":
		return LevelDebug, true
	case "info", "information", "notice":
		return LevelInfo, true
	case "warning", "warn":
		return LevelWarning, true
	case "error", "err", "exception":
		return LevelError, true
	case "critical", "crit", "fatal", "panic":
		return LevelCritical, true
	}
	return LevelUnknown, false
}

// Flags mark what was done to a line to make it safe to keep and show.
type Flags uint8

// Line flags.
const (
	FlagTruncated   Flags = 1 << iota // longer than the cap; Omitted bytes were dropped
	FlagInvalidUTF8                   // invalid UTF-8 sequences were replaced with U+FFFD
	FlagBinary                        // mostly control or invalid bytes
	FlagJSON                          // parsed as a JSON object
	FlagPartial                       // the stream ended before the line's newline
)

// Record is one log line. Records are immutable once in a Ring.
type Record struct {
	Seq     uint64    // position in the container's stream, from 1
	Time    time.Time // the engine's timestamp; zero when the source had none
	Stream  Stream
	Level   Level
	Flags   Flags
	Omitted int     // bytes dropped by the line cap
	Text    string  // the line without the engine timestamp, sanitised and capped
	Fields  *Fields // the gateway's structured fields; nil for plain lines
	Event   *Event  // what a recogniser made of the line; nil when none fired
}

// Fields are the structured parts of a JSON log line (the AI Gateway's structlog output).
type Fields struct {
	Logger        string  `json:"logger,omitempty"`
	Message       string  `json:"message,omitempty"`
	CorrelationID string  `json:"correlation_id,omitempty"`
	StatusCode    int     `json:"status_code,omitempty"`
	DurationS     float64 `json:"duration_s,omitempty"`
	Exception     string  `json:"exception_class,omitempty"`
}

// Message is the human part of the line: the JSON message when there is
// one, otherwise the text.
func (r *Record) Message() string {
	if r.Fields != nil && r.Fields.Message != "" {
		return r.Fields.Message
	}
	return r.Text
}

// size is what the record costs in memory, roughly (for the ring's byte budget).
func (r *Record) size() int {
	n := 96 + len(r.Text)
	if r.Fields != nil {
		n += 96 // its strings are mostly substrings of Text
	}
	if r.Event != nil {
		n += 128 + len(r.Event.Summary) + len(r.Event.Fix)
	}
	return n
}
