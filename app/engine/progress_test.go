package engine

import (
	"strings"
	"testing"
	"time"
)

func TestAggregatorSumsLayersWithRateAndETA(t *testing.T) {
	clock := time.Unix(0, 0)
	a := NewAggregator("img:v1", func() time.Time { return clock })
	a.Add(LayerEvent{Layer: "a", Status: "Pulling fs layer"})
	a.Add(LayerEvent{Layer: "b", Status: "Pulling fs layer"})
	a.Add(LayerEvent{Layer: "c", Status: "Already exists"})
	clock = clock.Add(time.Second)
	a.Add(LayerEvent{Layer: "a", Status: "Downloading", Current: 100, Total: 1000})
	clock = clock.Add(time.Second)
	p := a.Add(LayerEvent{Layer: "b", Status: "Downloading", Current: 100, Total: 1000})
	if p.Done != 200 || p.Total != 2000 || p.Layers != 3 || p.LayersDone != 1 {
		t.Fatalf("progress = %+v", p)
	}
	if p.Rate <= 0 || p.ETA <= 0 {
		t.Fatalf("want a rate and an ETA, got %+v", p)
	}
	clock = clock.Add(time.Second)
	a.Add(LayerEvent{Layer: "a", Status: "Pull complete"})
	p = a.Finish()
	if !p.Finished || p.LayersDone != 3 || !strings.Contains(p.Bar(10), "[==========]") {
		t.Fatalf("finished = %+v bar %q", p, p.Bar(10))
	}
}

func TestBarShowsRetry(t *testing.T) {
	p := Progress{Image: "x", Done: 5, Total: 10, Status: "Retrying in 5 seconds"}
	if got := p.Bar(4); !strings.Contains(got, "Retrying in 5 seconds") || !strings.Contains(got, "5 B/10 B") {
		t.Fatalf("bar = %q", got)
	}
}
