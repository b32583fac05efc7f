package health

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	tx, err := rec.Store.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save health report: %w", err)
	}
	defer tx.Rollback()
	at := r.Time.UTC().Format(time.RFC3339Nano)
	if _, err := tx.ExecContext(ctx, "INSERT INTO health_samples(stack, taken_at, status, reason, body) VALUES (?, ?, ?, ?, ?)",
		r.Stack, at, string(r.Status), r.Reason, string(body)); err != nil {
		return fmt.Errorf("save health report: %w", err)
	}
	for _, g := range r.GPUs {
		var util any
		if g.UtilizationPct != nil {
			util = *g.UtilizationPct
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO gpu_samples(taken_at, gpu_index, memory_used_bytes, memory_total_bytes, utilization_pct, source) VALUES (?, ?, ?, ?, ?, ?)",
			at, g.Index, int64(g.MemoryUsed), int64(g.MemoryTotal), util, g.Source); err != nil {
			return fmt.Errorf("save GPU sample: %w", err)
		}
	}
	return tx.Commit()
}

// StatusPoint is one point of the status history.
type StatusPoint struct {
	Time   time.Time `json:"time"`
	Status Status    `json:"status"`
	Reason string    `json:"reason"`
}

// History returns the stack's statuses since a time, oldest first.
func (rec Recorder) History(ctx context.Context, stackName string, since time.Time) ([]StatusPoint, error) {
	rows, err := rec.Store.DB.QueryContext(ctx, "SELECT taken_at, status, reason FROM health_samples WHERE stack = ? AND taken_at >= ? ORDER BY taken_at, id",
		stackName, since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return nil, fmt.Errorf("read health history: %w", err)
	}
	defer rows.Close()
	var out []StatusPoint
	for rows.Next() {
		var at, status, reason string
		if err := rows.Scan(&at, &status, &reason); err != nil {
			return nil, err
		}
		t, _ := time.Parse(time.RFC3339Nano, at)
		out = append(out, StatusPoint{Time: t, Status: Status(status), Reason: reason})
	}
	return out, rows.Err()
}

// GPUHistory returns one GPU's samples since a time, oldest first.
func (rec Recorder) GPUHistory(ctx context.Context, index int, since time.Time) ([]GPUSample, error) {
	rows, err := rec.Store.DB.QueryContext(ctx, "SELECT taken_at, memory_used_bytes, memory_total_bytes, utilization_pct, source FROM gpu_samples WHERE gpu_index = ? AND taken_at >= ? ORDER BY taken_at, id",
		index, since.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return nil, fmt.Errorf("read GPU history: %w", err)
	}
	defer rows.Close()
	var out []GPUSample
	for rows.Next() {
		var at, source string
		var used, total int64
		var util sql.NullFloat64
		if err := rows.Scan(&at, &used, &total, &util, &source); err != nil {
			return nil, err
		}
		s := GPUSample{Index: index, MemoryUsed: uint64(used), MemoryTotal: uint64(total), Source: source}
		s.Time, _ = time.Parse(time.RFC3339Nano, at)
		if util.Valid {
			v := util.Float64
			s.UtilizationPct = &v
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// SaveEvent stores a recognised log event of a stack's container; the same
// line (container, time, kind) seen again is ignored.
func (rec Recorder) SaveEvent(ctx context.Context, stackName, role, container string, at time.Time, e logs.Event) error {
	vals, _ := json.Marshal(e.Values)
	if e.Values == nil {
		vals = []byte("{}")
	}
	_, err := rec.Store.DB.ExecContext(ctx, "INSERT OR IGNORE INTO log_events(stack, role, container, at, kind, severity, summary, fix, vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		stackName, role, container, at.UTC().Format(time.RFC3339Nano), e.Kind, e.Severity.String(), e.Summary, e.Fix, string(vals))
	if err != nil {
		return fmt.Errorf("save log event %s: %w", e.Kind, err)
	}
	return nil
}

// RecentEvents returns a role's newest recognised events (up to limit), oldest first.
func (rec Recorder) RecentEvents(ctx context.Context, stackName, role string, limit int) ([]logs.Event, error) {
	rows, err := rec.Store.DB.QueryContext(ctx, "SELECT kind, severity, summary, fix, vals FROM (SELECT * FROM log_events WHERE stack = ? AND role = ? ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id",
		stackName, role, limit)
	if err != nil {
		return nil, fmt.Errorf("read log events: %w", err)
	}
	defer rows.Close()
	var out []logs.Event
	for rows.Next() {
		var e logs.Event
		var sev, vals string
		if err := rows.Scan(&e.Kind, &sev, &e.Summary, &e.Fix, &vals); err != nil {
			return nil, err
		}
		e.Severity, _ = logs.ParseLevel(sev)
		_ = json.Unmarshal([]byte(vals), &e.Values)
		out = append(out, e)
	}
	return out, rows.Err()
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
		var at, vals string
		err := rec.Store.DB.QueryRowContext(ctx, "SELECT at, vals FROM log_events WHERE stack = ? AND kind = ? ORDER BY at DESC, id DESC LIMIT 1", stackName, kind).Scan(&at, &vals)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return c, fmt.Errorf("read capacity: %w", err)
		}
		var v map[string]string
		_ = json.Unmarshal([]byte(vals), &v)
		t, _ := time.Parse(time.RFC3339Nano, at)
		if t.After(c.ReportedAt) {
			c.ReportedAt = t
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

// Prune deletes samples and events older than keep.
func (rec Recorder) Prune(ctx context.Context, keep time.Duration) error {
	cut := time.Now().Add(-keep).UTC().Format(time.RFC3339Nano)
	for _, q := range []string{"DELETE FROM health_samples WHERE taken_at < ?", "DELETE FROM gpu_samples WHERE taken_at < ?", "DELETE FROM log_events WHERE at < ?"} {
		if _, err := rec.Store.DB.ExecContext(ctx, q, cut); err != nil {
			return fmt.Errorf("prune health samples: %w", err)
		}
	}
	return nil
}
