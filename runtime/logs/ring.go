package logs

import (
	"sync"
)

// Ring bounds: the defaults keep the last 100,000 lines of a container within 128 MiB.
const (
	DefaultRingLines = 100_000
	DefaultRingBytes = 128 << 20
)

// RingOptions bound a Ring by lines and by (approximate) bytes; the oldest
// records go first when either is exceeded.
type RingOptions struct {
	MaxLines int // default DefaultRingLines
	MaxBytes int // default DefaultRingBytes
	// Preallocate reserves all MaxLines slots up front instead of growing
	// by doubling: for a ring that will fill (a followed busy container),
	// so its memory does not step up, with a transient second copy, while
	// the window follows.
	Preallocate bool
}

// Ring is a bounded buffer of one container's most recent records. Records
// carry consecutive Seq numbers. Safe for concurrent use: one writer, many readers.
type Ring struct {
	mu       sync.RWMutex
	buf      []Record
	start, n int
	bytes    int
	maxLines int
	maxBytes int
	evicted  uint64
	waiters  []chan struct{}
}

// NewRing creates an empty ring.
func NewRing(o RingOptions) *Ring {
	if o.MaxLines <= 0 {
		o.MaxLines = DefaultRingLines
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultRingBytes
	}
	g := &Ring{maxLines: o.MaxLines, maxBytes: o.MaxBytes}
	if o.Preallocate {
		g.buf = make([]Record, o.MaxLines)
	}
	return g
}

// Append adds r (its Seq must follow the previous record's).
func (g *Ring) Append(r Record) {
	size := r.size()
	g.mu.Lock()
	if g.n == len(g.buf) {
		if len(g.buf) < g.maxLines {
			g.grow()
		} else {
			g.evictOldest()
		}
	}
	g.buf[(g.start+g.n)%len(g.buf)] = r
	g.n++
	g.bytes += size
	for g.bytes > g.maxBytes && g.n > 1 {
		g.evictOldest()
	}
	waiters := g.waiters
	g.waiters = nil
	g.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
}

func (g *Ring) grow() {
	size := max(1024, 2*len(g.buf))
	size = min(size, g.maxLines)
	nb := make([]Record, size)
	for i := 0; i < g.n; i++ {
		nb[i] = g.buf[(g.start+i)%len(g.buf)]
	}
	g.buf, g.start = nb, 0
}

func (g *Ring) evictOldest() {
	old := &g.buf[g.start]
	g.bytes -= old.size()
	*old = Record{}
	g.start = (g.start + 1) % len(g.buf)
	g.n--
	g.evicted++
}

// Len is the number of records held.
func (g *Ring) Len() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.n
}

// Bytes is the approximate memory the held records use.
func (g *Ring) Bytes() int {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.bytes
}

// Evicted is how many records were dropped to stay within the bounds.
func (g *Ring) Evicted() uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.evicted
}

// LastSeq is the Seq of the newest record, 0 when empty.
func (g *Ring) LastSeq() uint64 {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.n == 0 {
		return g.evicted
	}
	return g.buf[(g.start+g.n-1)%len(g.buf)].Seq
}

// Changed returns a channel closed at the next Append.
func (g *Ring) Changed() <-chan struct{} {
	ch := make(chan struct{})
	g.mu.Lock()
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()
	return ch
}

// Search returns the records matching q, oldest first. With q.Tail > 0 it
// returns only the newest q.Tail matches.
func (g *Ring) Search(q Query) []Record {
	m := q.matcher()
	g.mu.RLock()
	defer g.mu.RUnlock()
	if q.Tail > 0 {
		var out []Record
		for i := g.n - 1; i >= 0 && len(out) < q.Tail; i-- {
			r := &g.buf[(g.start+i)%len(g.buf)]
			if r.Seq > q.AfterSeq && m.match(r) {
				out = append(out, *r)
			}
		}
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
		return out
	}
	var out []Record
	for i := g.firstAfter(q.AfterSeq); i < g.n; i++ {
		r := &g.buf[(g.start+i)%len(g.buf)]
		if m.match(r) {
			out = append(out, *r)
		}
	}
	return out
}

// BySeq is the record numbered seq, while the ring still holds it.
func (g *Ring) BySeq(seq uint64) (Record, bool) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.n == 0 || seq < g.buf[g.start].Seq {
		return Record{}, false
	}
	i := seq - g.buf[g.start].Seq
	if i >= uint64(g.n) {
		return Record{}, false
	}
	return g.buf[(g.start+int(i))%len(g.buf)], true
}

// firstAfter is the index of the first record with Seq > seq (Seqs are consecutive).
func (g *Ring) firstAfter(seq uint64) int {
	if g.n == 0 {
		return 0
	}
	first := g.buf[g.start].Seq
	if seq < first {
		return 0
	}
	return min(int(seq-first+1), g.n)
}

// after returns up to limit matching records with Seq > seq, and how many
// records after seq were evicted before they could be read.
func (g *Ring) after(seq uint64, m matcher, limit int) ([]Record, uint64, uint64) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.n == 0 {
		return nil, 0, seq
	}
	var missed uint64
	if first := g.buf[g.start].Seq; seq+1 < first {
		missed = first - seq - 1
	}
	var out []Record
	last := seq
	for i := g.firstAfter(seq); i < g.n; i++ {
		r := &g.buf[(g.start+i)%len(g.buf)]
		last = r.Seq
		if m.match(r) {
			out = append(out, *r)
			if limit > 0 && len(out) >= limit {
				break
			}
		}
	}
	return out, missed, last
}
