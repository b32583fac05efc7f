package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

// JSONRecord is the --json shape of a record: one object per line.
type JSONRecord struct {
	Seq           uint64     `json:"seq"`
	Time          *time.Time `json:"time,omitempty"`
	Stream        string     `json:"stream"`
	Level         Level      `json:"level"`
	Message       string     `json:"message"`
	Text          string     `json:"text,omitempty"` // the whole line, when it differs from message
	Logger        string     `json:"logger,omitempty"`
	CorrelationID string     `json:"correlation_id,omitempty"`
	StatusCode    int        `json:"status_code,omitempty"`
	DurationS     float64    `json:"duration_s,omitempty"`
	Truncated     bool       `json:"truncated,omitempty"`
	OmittedBytes  int        `json:"omitted_bytes,omitempty"`
	InvalidUTF8   bool       `json:"invalid_utf8,omitempty"`
	Binary        bool       `json:"binary,omitempty"`
	Partial       bool       `json:"partial,omitempty"`
	Event         *Event     `json:"event,omitempty"`
}

// ToJSON converts a record to its --json shape.
func (r *Record) ToJSON() JSONRecord {
	j := JSONRecord{Seq: r.Seq, Stream: r.Stream.String(), Level: r.Level, Message: r.Message(),
		Truncated: r.Flags&FlagTruncated != 0, OmittedBytes: r.Omitted, InvalidUTF8: r.Flags&FlagInvalidUTF8 != 0,
		Binary: r.Flags&FlagBinary != 0, Partial: r.Flags&FlagPartial != 0, Event: r.Event}
	if !r.Time.IsZero() {
		t := r.Time
		j.Time = &t
	}
	if f := r.Fields; f != nil {
		j.Text, j.Logger, j.CorrelationID, j.StatusCode, j.DurationS = r.Text, f.Logger, f.CorrelationID, f.StatusCode, f.DurationS
	}
	return j
}

// AppendText renders r as one text line (no newline): time, stream, level,
// the line, a marker when it was cut, and the recogniser's explanation.
func (r *Record) AppendText(b []byte) []byte {
	if !r.Time.IsZero() {
		b = r.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, ' ')
	}
	if r.Stream == Stderr {
		b = append(b, "err "...)
	} else {
		b = append(b, "out "...)
	}
	b = append(b, r.Text...)
	if r.Omitted > 0 {
		b = append(b, " …[cut: "...)
		b = strconv.AppendInt(b, int64(r.Omitted), 10)
		b = append(b, " more bytes]"...)
	}
	if r.Flags&FlagBinary != 0 {
		b = append(b, " [binary]"...)
	}
	if e := r.Event; e != nil && e.Summary != "" {
		b = append(b, "\n    ⮑ "...)
		b = append(b, e.Summary...)
		if e.Fix != "" {
			b = append(b, "\n      fix: "...)
			b = append(b, e.Fix...)
		}
	}
	return b
}

// Export writes records to w, as text lines or (asJSON) one JSON object per line.
func Export(w io.Writer, recs []Record, asJSON bool) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var line []byte
	for i := range recs {
		if asJSON {
			if err := enc.Encode(recs[i].ToJSON()); err != nil {
				return fmt.Errorf("export logs: %w", err)
			}
			continue
		}
		line = append(recs[i].AppendText(line[:0]), '\n')
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("export logs: %w", err)
		}
	}
	return nil
}

// ExportFile writes records to path (0600, replacing it).
func ExportFile(path string, recs []Record, asJSON bool) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("export logs to %q: %w", path, err)
	}
	if err := Export(f, recs, asJSON); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// RotatedCopy keeps a copy of a container's log in dir/<name>.log, in the
// shape of `docker logs -t` (so `duobox logs --from-file` reads it back),
// rotated at maxMB megabytes with keep old files (lumberjack names them
// <name>-<time>.log). Attach it with Pipeline.OnRecord(copy.Write).
type RotatedCopy struct {
	w       io.Writer // the lumberjack logger
	lj      *lumberjack.Logger
	line    []byte
	lines   int       // lines written whole
	cut     bool      // a write failed: records are not saved until a retry succeeds
	partial bool      // the failed write left part of a line in the file
	lost    int       // records not (wholly) saved since the cut
	tried   time.Time // the last write attempted while cut
	// Retry is how often, while cut, a record is tried again (default 5 s):
	// when space comes back the copy resumes with a line saying how many
	// records it lost.
	Retry time.Duration
	// OnCut is told once per cut, when a write fails (a full disk: ENOSPC),
	// the line the copy was cut at (the first line not, or not wholly, in
	// it); following goes on.
	OnCut func(file string, line int, err error)
	// OnResume is told when a write succeeds again after a cut: the line
	// the copy resumes at (the line that says what was lost) and how many
	// records were lost.
	OnResume func(file string, line, lost int)
}

// NewRotatedCopy opens the copy; maxMB ≤ 0 means 10, keep ≤ 0 means 5.
func NewRotatedCopy(dir, name string, maxMB, keep int) (*RotatedCopy, error) {
	if maxMB <= 0 {
		maxMB = 10
	}
	if keep <= 0 {
		keep = 5
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create log directory %q: %w", dir, err)
	}
	lj := &lumberjack.Logger{Filename: filepath.Join(dir, name+".log"), MaxSize: maxMB, MaxBackups: keep}
	return &RotatedCopy{w: lj, lj: lj}, nil
}

// CutNotice says that the copy in file was cut at line (OnCut's arguments).
func CutNotice(file string, line int, err error) string {
	why := err.Error()
	if errors.Is(err, syscall.ENOSPC) {
		why = "the disk holding " + filepath.Dir(file) + " is full"
	}
	return fmt.Sprintf("the saved copy %s was cut at line %d (%s), maybe mid-line; following goes on, and the copy resumes when there is space again, with a line saying how many lines it lost", file, line, why)
}

// ResumeNotice says that the copy in file resumed at line after losing lost
// records (OnResume's arguments).
func ResumeNotice(file string, line, lost int) string {
	return fmt.Sprintf("the saved copy %s resumes at line %d: %d lines were not saved while it could not be written", file, line, lost)
}

// File is the copy's path.
func (c *RotatedCopy) File() string { return c.lj.Filename }

// Write appends one record as a text line. The copy is best effort: a
// failed write cuts it (OnCut says where) and later records are lost until a
// retry (every Retry) succeeds; the copy then resumes with a line saying how
// many records were lost (OnResume says so too).
func (c *RotatedCopy) Write(r *Record) {
	retry := c.Retry
	if retry == 0 {
		retry = 5 * time.Second
	}
	if c.cut && time.Since(c.tried) < retry {
		c.lost++
		return
	}
	c.line = c.line[:0]
	resumed := 0
	if c.cut { // one write: the lost-lines line, then this record
		c.tried = time.Now()
		if c.partial {
			c.line = append(c.line, '\n') // ends the cut line
		}
		if !r.Time.IsZero() {
			c.line = r.Time.UTC().AppendFormat(c.line, time.RFC3339Nano)
			c.line = append(c.line, ' ')
		}
		c.line = fmt.Appendf(c.line, "duobox: %d lines were not saved here (the copy could not be written)\n", c.lost)
		resumed = 1
	}
	if !r.Time.IsZero() {
		c.line = r.Time.UTC().AppendFormat(c.line, time.RFC3339Nano)
		c.line = append(c.line, ' ')
	}
	c.line = append(append(c.line, r.Text...), '\n')
	n, err := c.w.Write(c.line)
	if err != nil {
		c.partial = c.partial || n > 0
		c.lost++
		if !c.cut {
			c.cut, c.tried = true, time.Now()
			if c.OnCut != nil {
				c.OnCut(c.lj.Filename, c.lines+1, err)
			}
		}
		return
	}
	if resumed == 1 {
		if c.partial {
			c.lines++ // the cut line, ended
		}
		c.lines++ // the lost-lines line
		if c.OnResume != nil {
			c.OnResume(c.lj.Filename, c.lines, c.lost)
		}
		c.cut, c.partial, c.lost = false, false, 0
	}
	c.lines++
}

// Close closes the current file.
func (c *RotatedCopy) Close() error { return c.lj.Close() }
