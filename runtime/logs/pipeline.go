package logs

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultMaxLineBytes is where a line is cut; the rest is counted, not kept.
const DefaultMaxLineBytes = 16 << 10

// Options configure a Pipeline. The zero value is usable.
type Options struct {
	MaxLineBytes int          // default DefaultMaxLineBytes
	Ring         RingOptions  // the buffer's bounds
	Recognisers  *Recognisers // default Builtin(); use an empty set to turn recognition off
}

// Output receives one container's log bytes as runtime/docker reads them.
// Its methods are called from one goroutine at a time.
type Output interface {
	// Frame takes one engine message of a multiplexed (non-TTY) stream,
	// starting with the engine's RFC 3339 timestamp and a space when they
	// were asked for. A message is a whole line, or a 16 KiB piece of a
	// longer one.
	Frame(s Stream, msg []byte) error
	// Raw takes any chunk of a TTY container's stream (timestamps at line starts).
	Raw(chunk []byte) error
	// End says the stream ended because the container stopped: pending
	// partial lines are complete now.
	End()
}

// Stats count what a Pipeline has seen.
type Stats struct {
	Lines      uint64           `json:"lines"`
	Bytes      uint64           `json:"bytes"`
	Truncated  uint64           `json:"truncated"`
	Invalid    uint64           `json:"invalid_utf8"`
	Binary     uint64           `json:"binary"`
	Duplicates uint64           `json:"duplicates_skipped"`
	Levels     map[string]int64 `json:"levels"`
	Events     map[string]int64 `json:"events"`
}

// Pipeline turns one container's stream into Records in a Ring. Output
// methods and Feed must be called from one goroutine at a time; the Ring
// may be read concurrently.
type Pipeline struct {
	maxLine int
	rec     *Recognisers
	ring    *Ring

	mu     sync.Mutex // guards sinks and stats for readers
	sinks  []func(*Record)
	stats  Stats
	levels [LevelCritical + 1]int64

	seq     uint64
	streams [3]lineState
	arena   arena

	// de-duplication across re-attaches: the engine's timestamp of the last
	// message taken, and how many messages carried exactly that timestamp.
	lastTS    time.Time
	seenAtTS  int
	resumeTS  time.Time
	skipAtTS  int
	skippedTS int
}

type lineState struct {
	buf       []byte
	omitted   int
	ts        time.Time
	open      bool // a line has started
	raw       bool // fed by Raw: the timestamp is still at the line's start
	lastLevel Level
}

// NewPipeline creates a pipeline with its own ring.
func NewPipeline(opts Options) *Pipeline {
	p := &Pipeline{maxLine: opts.MaxLineBytes, rec: opts.Recognisers, ring: NewRing(opts.Ring)}
	if p.maxLine <= 0 {
		p.maxLine = DefaultMaxLineBytes
	}
	if p.rec == nil {
		p.rec = Builtin()
	}
	p.stats.Events = map[string]int64{}
	return p
}

// Ring is the pipeline's buffer.
func (p *Pipeline) Ring() *Ring { return p.ring }

// OnRecord adds a function called with every new record, in order, on the
// goroutine that feeds the pipeline. It must not keep r beyond the call
// unless it copies it.
func (p *Pipeline) OnRecord(f func(r *Record)) {
	p.mu.Lock()
	p.sinks = append(p.sinks, f)
	p.mu.Unlock()
}

// Stats returns a copy of the counters.
func (p *Pipeline) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Levels = make(map[string]int64, len(p.levels))
	for l, n := range p.levels {
		if n > 0 {
			s.Levels[Level(l).String()] = n
		}
	}
	s.Events = make(map[string]int64, len(p.stats.Events))
	for k, v := range p.stats.Events {
		s.Events[k] = v
	}
	return s
}

// Resume returns the point to re-attach from: the engine's `since` is
// inclusive, so the caller streams from LastTime and the pipeline drops the
// messages it already took at exactly that timestamp.
func (p *Pipeline) Resume() time.Time {
	p.resumeTS, p.skipAtTS, p.skippedTS = p.lastTS, p.seenAtTS, 0
	return p.lastTS
}

// duplicate reports whether a message with engine timestamp ts was already
// taken before the last Resume, and records it otherwise.
func (p *Pipeline) duplicate(ts time.Time) bool {
	if !p.resumeTS.IsZero() {
		if ts.Before(p.resumeTS) {
			return true
		}
		if ts.Equal(p.resumeTS) && p.skippedTS < p.skipAtTS {
			p.skippedTS++
			return true
		}
	}
	if ts.Equal(p.lastTS) {
		p.seenAtTS++
	} else if ts.After(p.lastTS) {
		p.lastTS, p.seenAtTS = ts, 1
	}
	return false
}

// Frame implements Output.
func (p *Pipeline) Frame(s Stream, msg []byte) error {
	ts, payload, ok := splitTimestamp(msg)
	if ok && p.duplicate(ts) {
		p.countDuplicate()
		return nil
	}
	p.appendPayload(s, ts, payload)
	return nil
}

// Raw implements Output: TTY chunks, cut at newlines, timestamps read at line starts.
func (p *Pipeline) Raw(chunk []byte) error {
	st := &p.streams[Stdout]
	st.raw = true
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			p.add(st, chunk)
			st.open = true
			return nil
		}
		p.add(st, chunk[:i])
		st.open = true
		p.finishRaw(st, false)
		chunk = chunk[i+1:]
	}
	return nil
}

func (p *Pipeline) finishRaw(st *lineState, partial bool) {
	ts, rest, ok := splitTimestamp(st.buf)
	if ok {
		if p.duplicate(ts) {
			p.countDuplicate()
			p.reset(st)
			return
		}
		st.ts = ts
		st.buf = append(st.buf[:0], rest...)
	}
	p.emit(Stdout, st, partial)
}

// End implements Output.
func (p *Pipeline) End() {
	for _, s := range []Stream{Stdout, Stderr} {
		st := &p.streams[s]
		switch {
		case st.open && st.raw:
			p.finishRaw(st, true)
		case st.open:
			p.emit(s, st, true)
		}
	}
}

// Feed reads plain lines from r (a saved log, with or without the engine's
// timestamps) until EOF.
func (p *Pipeline) Feed(r io.Reader) error {
	buf := make([]byte, 256<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p.Raw(buf[:n])
		}
		if err == io.EOF {
			p.End()
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (p *Pipeline) appendPayload(s Stream, ts time.Time, payload []byte) {
	st := &p.streams[s]
	for {
		if !st.open {
			st.ts, st.open = ts, true
		}
		i := bytes.IndexByte(payload, '\n')
		if i < 0 {
			p.add(st, payload)
			return
		}
		p.add(st, payload[:i])
		p.emit(s, st, false)
		payload = payload[i+1:]
		if len(payload) == 0 {
			return
		}
	}
}

// add appends to the line up to the cap and counts the rest.
func (p *Pipeline) add(st *lineState, b []byte) {
	room := p.maxLine - len(st.buf)
	if room >= len(b) {
		st.buf = append(st.buf, b...)
		return
	}
	if room > 0 {
		st.buf = append(st.buf, b[:room]...)
		b = b[room:]
	}
	st.omitted += len(b)
}

func (p *Pipeline) reset(st *lineState) {
	if cap(st.buf) > 4*p.maxLine {
		st.buf = nil
	}
	st.buf, st.omitted, st.open, st.ts = st.buf[:0], 0, false, time.Time{}
}

func (p *Pipeline) emit(s Stream, st *lineState, partial bool) {
	safe, flags := sanitize(st.buf, st.omitted > 0)
	text := p.arena.str(safe)
	r := Record{Time: st.ts, Stream: s, Text: text, Flags: flags, Omitted: st.omitted}
	if st.omitted > 0 {
		r.Flags |= FlagTruncated
	}
	if partial {
		r.Flags |= FlagPartial
	}
	if r.Flags&FlagBinary == 0 {
		if len(text) > 1 && text[0] == '{' {
			if lvl, f, ok := parseJSON(text); ok {
				r.Level, r.Fields, r.Flags = lvl, p.arena.keep(f), r.Flags|FlagJSON
			}
		}
		if r.Fields == nil {
			r.Level = plainLevel(text)
			if r.Level == LevelUnknown && continuation(text) {
				r.Level = st.lastLevel
			}
		}
		if ev := p.rec.Recognise(text); ev != nil {
			r.Event = ev
			if ev.Severity > r.Level {
				r.Level = ev.Severity
			}
		}
	}
	if r.Level != LevelUnknown {
		st.lastLevel = r.Level
	}
	p.seq++
	r.Seq = p.seq
	p.reset(st)

	p.mu.Lock()
	p.stats.Lines++
	p.stats.Bytes += uint64(len(r.Text) + r.Omitted)
	if r.Flags&FlagTruncated != 0 {
		p.stats.Truncated++
	}
	if r.Flags&FlagInvalidUTF8 != 0 {
		p.stats.Invalid++
	}
	if r.Flags&FlagBinary != 0 {
		p.stats.Binary++
	}
	p.levels[r.Level]++
	if r.Event != nil {
		p.stats.Events[r.Event.Kind]++
	}
	sinks := p.sinks
	p.mu.Unlock()

	p.ring.Append(r)
	for _, f := range sinks {
		f(&r)
	}
}

func (p *Pipeline) countDuplicate() {
	p.mu.Lock()
	p.stats.Duplicates++
	p.mu.Unlock()
}

// continuation reports a line that belongs to the one before: an indented
// traceback frame or wrapped text.
func continuation(text string) bool {
	return text != "" && (text[0] == ' ' || text[0] == '\t') || strings.HasPrefix(text, "During handling of the above exception")
}

// splitTimestamp cuts the engine's "2006-01-02T15:04:05.999999999Z " prefix.
func splitTimestamp(b []byte) (time.Time, []byte, bool) {
	// RFC 3339 with nanoseconds is at most 35 bytes; the engine writes 30 (UTC, "Z").
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' {
		return time.Time{}, b, false
	}
	end := bytes.IndexByte(b[:min(len(b), 40)], ' ')
	if end < 0 {
		return time.Time{}, b, false
	}
	ts, err := time.Parse(time.RFC3339Nano, string(b[:end]))
	if err != nil {
		return time.Time{}, b, false
	}
	return ts, b[end+1:], true
}
