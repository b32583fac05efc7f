package engine

import (
	"fmt"
	"strings"
	"time"

	"github.com/duobox/duobox/app/units"
)

// Progress is one image pull, aggregated over its layers: what the CLI draws
// as one bar and the GUI as one progress bar.
type Progress struct {
	Image      string        `json:"image"`
	Done       int64         `json:"done_bytes"`
	Total      int64         `json:"total_bytes"` // grows as layer sizes become known
	Rate       float64       `json:"rate_bytes_per_second"`
	ETA        time.Duration `json:"eta"`
	Layers     int           `json:"layers"`
	LayersDone int           `json:"layers_done"`
	Status     string        `json:"status"` // the latest message, e.g. "Retrying in 5 seconds"
	Finished   bool          `json:"finished"`
}

// Aggregator folds per-layer events into Progress. Not safe for concurrent use.
type Aggregator struct {
	image    string
	layers   map[string]*layerState
	order    []string
	started  time.Time
	lastAt   time.Time
	lastDone int64
	rate     float64
	now      func() time.Time
}

type layerState struct {
	current, total int64
	done           bool
}

// NewAggregator starts aggregating one pull; now may be nil (time.Now).
func NewAggregator(image string, now func() time.Time) *Aggregator {
	if now == nil {
		now = time.Now
	}
	t := now()
	return &Aggregator{image: image, layers: map[string]*layerState{}, started: t, lastAt: t, now: now}
}

// Add folds one event in and returns the aggregate.
func (a *Aggregator) Add(ev LayerEvent) Progress {
	status := ev.Status
	if ev.Layer != "" && !strings.HasPrefix(ev.Status, "Pulling from") {
		l, ok := a.layers[ev.Layer]
		if !ok {
			l = &layerState{}
			a.layers[ev.Layer] = l
			a.order = append(a.order, ev.Layer)
		}
		switch {
		case ev.Status == "Downloading":
			l.current, l.total = ev.Current, max(ev.Total, l.total)
		case ev.Status == "Download complete" || ev.Status == "Verifying Checksum":
			l.current = l.total
		case ev.Status == "Pull complete" || ev.Status == "Already exists":
			l.current, l.done = l.total, true
		}
	}
	return a.snapshot(status, false)
}

// Finish marks the pull complete.
func (a *Aggregator) Finish() Progress {
	for _, l := range a.layers {
		l.current, l.done = l.total, true
	}
	return a.snapshot("Pull complete", true)
}

func (a *Aggregator) snapshot(status string, finished bool) Progress {
	p := Progress{Image: a.image, Status: status, Layers: len(a.layers), Finished: finished}
	for _, l := range a.layers {
		p.Done += l.current
		p.Total += l.total
		if l.done {
			p.LayersDone++
		}
	}
	now := a.now()
	if dt := now.Sub(a.lastAt).Seconds(); dt >= 0.25 {
		inst := float64(p.Done-a.lastDone) / dt
		if a.rate == 0 {
			a.rate = inst
		} else {
			a.rate = 0.7*a.rate + 0.3*inst // smooth the bar's rate
		}
		a.lastAt, a.lastDone = now, p.Done
	}
	p.Rate = max(a.rate, 0)
	if p.Rate > 0 && p.Total > p.Done {
		p.ETA = time.Duration(float64(p.Total-p.Done) / p.Rate * float64(time.Second)).Round(time.Second)
	}
	return p
}

// Bar renders p as one line: "image  [=====>    ]  45.0/120.3 MB  12.1 MB/s  ETA 6s".
func (p Progress) Bar(width int) string {
	frac := 0.0
	if p.Total > 0 {
		frac = float64(p.Done) / float64(p.Total)
	}
	if p.Finished {
		frac = 1
	}
	if p.Finished && p.Total == 0 {
		return fmt.Sprintf("%s: all %d layers already present", p.Image, p.Layers)
	}
	filled := int(frac * float64(width))
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	line := fmt.Sprintf("%s [%s] %s/%s %s/s", p.Image, bar, units.HumanBytes(p.Done), units.HumanBytes(p.Total), units.HumanBytes(int64(p.Rate)))
	if p.ETA > 0 && !p.Finished {
		line += " ETA " + p.ETA.String()
	}
	if strings.HasPrefix(p.Status, "Retrying") {
		line += " (" + p.Status + ")"
	}
	return line
}
