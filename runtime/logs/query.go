package logs

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Query selects records. Zero fields select everything.
type Query struct {
	Contains   string         // substring of the line
	IgnoreCase bool           // Contains ignores case
	Regexp     *regexp.Regexp // the line matches
	MinLevel   Level          // this level or above (unknown counts as info)
	Stream     Stream         // 0: both
	Since      time.Time      // engine time at or after
	Until      time.Time      // engine time before
	EventsOnly bool           // only lines a recogniser explained
	AfterSeq   uint64         // Seq above
	Tail       int            // only the newest N matches (Ring.Search)
}

// CompileQuery builds a query from the CLI's and UI's text inputs: a regexp
// (empty for none), a minimum level and a stream name (empty for any).
func CompileQuery(pattern, level, stream string) (Query, error) {
	var q Query
	if pattern != "" {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return q, fmt.Errorf("search pattern %q is not a valid regular expression: %v", pattern, err)
		}
		q.Regexp = re
	}
	if level != "" {
		l, ok := ParseLevel(level)
		if !ok {
			return q, fmt.Errorf("level %q is not one of debug, info, warning, error, critical", level)
		}
		q.MinLevel = l
	}
	if stream != "" {
		s, ok := ParseStream(stream)
		if !ok {
			return q, fmt.Errorf("stream %q is not stdout or stderr", stream)
		}
		q.Stream = s
	}
	return q, nil
}

// Match reports whether r is selected (Tail aside).
func (q Query) Match(r *Record) bool { return q.matcher().match(r) }

type matcher struct {
	q     Query
	lower string
	pre   prefilter
}

func (q Query) matcher() matcher {
	return matcher{q: q, lower: strings.ToLower(q.Contains), pre: newPrefilter(q.Regexp)}
}

func (m matcher) match(r *Record) bool {
	q := &m.q
	if q.MinLevel > LevelInfo {
		l := r.Level
		if l == LevelUnknown {
			l = LevelInfo
		}
		if l < q.MinLevel {
			return false
		}
	} else if q.MinLevel == LevelInfo && r.Level == LevelDebug {
		return false
	}
	if q.Stream != 0 && r.Stream != q.Stream {
		return false
	}
	if q.EventsOnly && r.Event == nil {
		return false
	}
	if !q.Since.IsZero() && r.Time.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !r.Time.Before(q.Until) {
		return false
	}
	if q.Contains != "" {
		if q.IgnoreCase {
			if !containsFold(r.Text, m.lower) {
				return false
			}
		} else if !strings.Contains(r.Text, q.Contains) {
			return false
		}
	}
	if q.Regexp != nil && (!m.pre.pass(r.Text) || !q.Regexp.MatchString(r.Text)) {
		return false
	}
	return true
}

// containsFold is strings.Contains ignoring ASCII case; lower is lower-case.
func containsFold(s, lower string) bool {
	if len(lower) == 0 {
		return true
	}
	for i := 0; i+len(lower) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(lower)], lower) {
			return true
		}
	}
	return false
}

// View follows a ring for a reader (a UI list, `duobox logs -f`): Poll
// returns what is new and matches, in batches. While paused, Poll returns
// nothing and the position stays where it was, so Resume shows the lines
// that came in meanwhile (those the ring still holds; the rest are counted
// as missed). Safe for concurrent use.
type View struct {
	ring   *Ring
	m      matcher
	mu     sync.Mutex
	next   uint64 // last Seq seen
	paused bool
}

// NewView starts a view at the ring's current end (fromStart: at its start).
func NewView(g *Ring, q Query, fromStart bool) *View {
	v := &View{ring: g, m: q.matcher()}
	if !fromStart {
		v.next = g.LastSeq()
	}
	return v
}

// Pause stops the view from advancing.
func (v *View) Pause() { v.mu.Lock(); v.paused = true; v.mu.Unlock() }

// Resume lets the view advance again.
func (v *View) Resume() { v.mu.Lock(); v.paused = false; v.mu.Unlock() }

// Poll returns up to limit (0: all) new matching records and how many
// records were evicted before the view could see them.
func (v *View) Poll(limit int) ([]Record, uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.paused {
		return nil, 0
	}
	out, missed, last := v.ring.after(v.next, v.m, limit)
	v.next = last
	return out, missed
}
