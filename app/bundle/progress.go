package bundle

import (
	"fmt"
	"github.com/duobox/duobox/app/units"
	"io"
	"sync"
	"time"
)

// Phases of create and load.
const (
	PhaseTags    = "tags"    // listing the gateway's tags
	PhaseImage   = "image"   // fetching an image from its registry (create) or loading it (load)
	PhaseWeights = "weights" // downloading (create) or importing (load) the weights
	PhaseDocs    = "docs"    // building the docs index
	PhaseWrite   = "write"   // writing the bundle file
	PhaseVerify  = "verify"  // checking every checksum (load)
	PhaseRecord  = "record"  // recording tags and config (load)
)

// Progress is one step's progress: bytes done of total and the rate.
type Progress struct {
	Phase       string  `json:"phase"`
	Item        string  `json:"item,omitempty"` // an image reference, a repository, a file
	Done        int64   `json:"done"`
	Total       int64   `json:"total"` // 0 when unknown
	BytesPerSec float64 `json:"bytes_per_sec"`
	Finished    bool    `json:"finished,omitempty"`
	Note        string  `json:"note,omitempty"` // e.g. "already in the engine", "resumed"
}

// ProgressFunc receives progress; it may be nil.
type ProgressFunc func(Progress)

// Line renders p for a terminal: "image  gateway:v1  12.0 MB / 340.1 MB  45.2 MB/s".
func (p Progress) Line() string {
	s := fmt.Sprintf("%-8s %s", p.Phase, p.Item)
	if p.Total > 0 || p.Done > 0 {
		s += "  " + units.HumanBytes(p.Done)
		if p.Total > 0 {
			s += " / " + units.HumanBytes(p.Total)
		}
	}
	if p.BytesPerSec > 0 {
		s += fmt.Sprintf("  %s/s", units.HumanBytes(int64(p.BytesPerSec)))
	}
	if p.Note != "" {
		s += "  (" + p.Note + ")"
	}
	if p.Finished && p.Note == "" {
		s += "  done"
	}
	return s
}

// meter reports one step: at most every interval, and once finished.
type meter struct {
	mu       sync.Mutex
	report   ProgressFunc
	p        Progress
	start    time.Time
	last     time.Time
	interval time.Duration
}

func newMeter(report ProgressFunc, phase, item string, total int64) *meter {
	m := &meter{report: report, p: Progress{Phase: phase, Item: item, Total: total}, start: time.Now(), interval: 200 * time.Millisecond}
	m.emit(true)
	return m
}

func (m *meter) add(n int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.p.Done += n
	m.mu.Unlock()
	m.emit(false)
}

func (m *meter) set(done int64) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.p.Done = done
	m.mu.Unlock()
	m.emit(false)
}

func (m *meter) setTotal(total int64) {
	if m == nil || total <= 0 {
		return
	}
	m.mu.Lock()
	m.p.Total = total
	m.mu.Unlock()
}

func (m *meter) finish(note string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.p.Finished, m.p.Note = true, note
	if m.p.Total > 0 && m.p.Done < m.p.Total && note != "" {
		m.p.Done = m.p.Total
	}
	m.mu.Unlock()
	m.emit(true)
}

func (m *meter) emit(force bool) {
	if m.report == nil {
		return
	}
	m.mu.Lock()
	now := time.Now()
	if !force && now.Sub(m.last) < m.interval {
		m.mu.Unlock()
		return
	}
	m.last = now
	if el := now.Sub(m.start).Seconds(); el > 0 && m.p.Done > 0 {
		m.p.BytesPerSec = float64(m.p.Done) / el
	}
	p := m.p
	m.mu.Unlock()
	m.report(p)
}

// meterWriter counts bytes written into the meter.
type meterWriter struct{ m *meter }

func (w meterWriter) Write(b []byte) (int, error) { w.m.add(int64(len(b))); return len(b), nil }

var _ io.Writer = meterWriter{}
