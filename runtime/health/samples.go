package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/logs"
)

// Recorder keeps health reports, GPU samples and recognised log events in
// the state database (tables from migration 003) for plots and the dashboard.
type Recorder struct {
	Store *store.Store
}

// SaveReport stores a report and its GPU samples in one transaction.
func (rec Recorder) SaveReport(ctx context.Context, r Report) error {
	body, err := json.Marshal(r)
	if err != nil {
		return err
	}
	gpus := make([]store.GPUSample, len(r.GPUs))
	for i, g := range r.GPUs {
		gpus[i] = store.GPUSample{Index: g.Index, MemoryUsed: g.MemoryUsed, MemoryTotal: g.MemoryTotal, UtilizationPct: g.UtilizationPct, Source: g.Source}
	}
	return rec.Store.SaveHealthSample(ctx, store.HealthSample{Stack: r.Stack, At: r.Time, Status: string(r.Status), Reason: r.Reason, Body: string(body)}, gpus)
}

// StatusPoint is one point of the status history.
type StatusPoint struct {
	Time   time.Time `json:"time"`
	Status Status    `json:"status"`
	Reason string    `json:"reason"`
}

// History returns the stack's statuses since a time, oldest first.
func (rec Recorder) History(ctx context.Context, stackName string, since time.Time) ([]StatusPoint, error) {
	samples, err := rec.Store.HealthSamples(ctx, stackName, since)
	if err != nil {
		return nil, err
	}
	var out []StatusPoint
	for _, h := range samples {
		out = append(out, StatusPoint{Time: h.At, Status: Status(h.Status), Reason: h.Reason})
	}
	return out, nil
}

// GPUHistory returns one GPU's samples since a time, oldest first.
func (rec Recorder) GPUHistory(ctx context.Context, index int, since time.Time) ([]GPUSample, error) {
	samples, err := rec.Store.GPUSamples(ctx, index, since)
	if err != nil {
		return nil, err
	}
	var out []GPUSample
	for _, g := range samples {
		out = append(out, GPUSample{Time: g.At, Index: g.Index, MemoryUsed: g.MemoryUsed, MemoryTotal: g.MemoryTotal, UtilizationPct: g.UtilizationPct, Source: g.Source})
	}
	return out, nil
}

// SaveEvent stores a recognised log event of a stack's container; the same
// line (container, time, kind) seen again is ignored.
func (rec Recorder) SaveEvent(ctx context.Context, stackName, role, container string, at time.Time, e logs.Event) error {
	vals, _ := json.Marshal(e.Values)
	if e.Values == nil {
		vals = []byte("{}")
	}
	return rec.Store.SaveLogEvent(ctx, store.LogEvent{Stack: stackName, Role: role, Container: container, At: at,
		Kind: e.Kind, Severity: e.Severity.String(), Summary: e.Summary, Fix: e.Fix, Values: string(vals)})
}

// RecentEvents returns a role's newest recognised events (up to limit), oldest first.
func (rec Recorder) RecentEvents(ctx context.Context, stackName, role string, limit int) ([]logs.Event, error) {
	stored, err := rec.Store.RecentLogEvents(ctx, stackName, role, limit)
	if err != nil {
		return nil, err
	}
	var out []logs.Event
	for _, se := range stored {
		e := logs.Event{Kind: se.Kind, Summary: se.Summary, Fix: se.Fix}
		e.Severity, _ = logs.ParseLevel(se.Severity)
		_ = json.Unmarshal([]byte(se.Values), &e.Values)
		out = append(out, e)
	}
	return out, nil
}

// Capacity is what vLLM reported about its KV cache at its last start.
type Capacity struct {
	KVCacheGiB     float64   `json:"kv_cache_gib,omitempty"`
	KVCacheTokens  int       `json:"kv_cache_tokens,omitempty"`
	MaxConcurrency float64   `json:"max_concurrency,omitempty"`
	ReportedAt     time.Time `json:"reported_at,omitzero"`
}

// LatestCapacity returns the newest KV cache figures vLLM printed for the
// stack's model (zero fields when it has not printed them).
func (rec Recorder) LatestCapacity(ctx context.Context, stackName string) (Capacity, error) {
	var c Capacity
	for _, kind := range []string{"vllm_kv_cache_memory", "vllm_kv_cache_tokens", "vllm_max_concurrency"} {
		e, err := rec.Store.LatestLogEvent(ctx, stackName, kind)
		if errors.Is(err, app.ErrNotFound) {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("read capacity: %w", err)
		}
		var v map[string]string
		_ = json.Unmarshal([]byte(e.Values), &v)
		if e.At.After(c.ReportedAt) {
			c.ReportedAt = e.At
		}
		switch kind {
		case "vllm_kv_cache_memory":
			c.KVCacheGiB, _ = strconv.ParseFloat(v["gib"], 64)
		case "vllm_kv_cache_tokens":
			c.KVCacheTokens, _ = strconv.Atoi(strings.ReplaceAll(v["tokens"], ",", ""))
		case "vllm_max_concurrency":
			c.MaxConcurrency, _ = strconv.ParseFloat(v["concurrency"], 64)
		}
	}
	return c, nil
}
