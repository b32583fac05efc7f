package weights

import (
	"sync"
	"sync/atomic"
	"time"
)

// Phase is the step a pull or import is in.
type Phase string

// Phases in the order they happen.
const (
	PhaseListing     Phase = "listing"     // asking the hub for the file list
	PhaseExtracting  Phase = "extracting"  // an import unpacks its archive
	PhaseWaiting     Phase = "waiting"     // another pull or import of the same model holds its lock
	PhaseDownloading Phase = "downloading" // fetching (or, for an import, copying) and verifying files
	PhaseDone        Phase = "done"
)

// Progress is one report of a pull or import, for one progress bar.
// BytesDone counts every selected byte already in place, including what an
// earlier, interrupted run left; Rate and ETA use only this run's bytes.
type Progress struct {
	Repo           string        `json:"repo"`
	Phase          Phase         `json:"phase"`
	FilesDone      int           `json:"files_done"`
	FilesTotal     int           `json:"files_total"`
	BytesDone      int64         `json:"bytes_done"`
	BytesTotal     int64         `json:"bytes_total"`
	BytesPerSecond float64       `json:"bytes_per_second"`
	ETA            time.Duration `json:"eta_ns"` // -1 while unknown
}

// ProgressFunc receives progress reports. Calls never overlap and arrive in
// order, at most every progress interval plus once per phase change; the
// function must return quickly (a GUI hands the value to its UI thread).
type ProgressFunc func(Progress)

// meter aggregates the workers' counters into one progress stream.
type meter struct {
	report   ProgressFunc
	repo     string
	mu       sync.Mutex // serialises report calls and guards phase/samples
	phase    Phase
	files    atomic.Int64
	bytes    atomic.Int64 // bytes in place, including those found on disk
	fetched  atomic.Int64 // bytes transferred in this run
	total    int64
	nFiles   int
	samples  []sample
	stop     chan struct{}
	stopped  chan struct{}
	interval time.Duration
}

type sample struct {
	at      time.Time
	fetched int64
}

// rateWindow is how far back the transfer rate looks.
const rateWindow = 5 * time.Second

func newMeter(repo string, report ProgressFunc, interval time.Duration) *meter {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	return &meter{report: report, repo: repo, interval: interval}
}

// setPhase reports a phase change at once.
func (m *meter) setPhase(p Phase) {
	m.mu.Lock()
	m.phase = p
	m.mu.Unlock()
	m.emit()
}

// start begins the periodic reports of a transfer of total bytes in nFiles files.
func (m *meter) start(nFiles int, total int64) {
	m.mu.Lock()
	m.nFiles, m.total, m.phase = nFiles, total, PhaseDownloading
	m.samples = []sample{{time.Now(), 0}}
	stop, stopped := make(chan struct{}), make(chan struct{})
	m.stop, m.stopped = stop, stopped
	m.mu.Unlock()
	m.emit()
	go func() {
		defer close(stopped)
		t := time.NewTicker(m.interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				m.emit()
			}
		}
	}()
}

// finish stops the periodic reports and sends a last one in phase p (none when p is "").
func (m *meter) finish(p Phase) {
	m.mu.Lock()
	stop, stopped := m.stop, m.stopped
	m.stop = nil
	m.mu.Unlock()
	if stop != nil {
		close(stop)
		<-stopped
	}
	if p != "" {
		m.setPhase(p)
	}
}

func (m *meter) emit() {
	if m.report == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now, fetched := time.Now(), m.fetched.Load()
	m.samples = append(m.samples, sample{now, fetched})
	for len(m.samples) > 2 && now.Sub(m.samples[1].at) > rateWindow {
		m.samples = m.samples[1:]
	}
	p := Progress{Repo: m.repo, Phase: m.phase, FilesDone: int(m.files.Load()), FilesTotal: m.nFiles,
		BytesDone: m.bytes.Load(), BytesTotal: m.total, ETA: -1}
	if first := m.samples[0]; now.Sub(first.at) > 0 {
		p.BytesPerSecond = float64(fetched-first.fetched) / now.Sub(first.at).Seconds()
	}
	if p.BytesPerSecond > 0 {
		p.ETA = time.Duration(float64(p.BytesTotal-p.BytesDone) / p.BytesPerSecond * float64(time.Second))
	}
	if p.Phase == PhaseDone {
		p.ETA = 0
	}
	m.report(p)
}
