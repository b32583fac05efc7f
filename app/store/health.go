package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/duobox/duobox/app"
)

// HealthSample is one recorded health report of a stack.
type HealthSample struct {
	Stack  string
	At     time.Time
	Status string
	Reason string
	Body   string // the whole report, JSON
}

// GPUSample is one recorded GPU memory and utilisation reading.
type GPUSample struct {
	At                      time.Time
	Index                   int
	MemoryUsed, MemoryTotal uint64
	UtilizationPct          *float64 // nil when the source could not tell
	Source                  string
}

// SaveHealthSample stores a report and the GPU samples taken with it in one
// transaction (the samples get the report's time).
func (s *Store) SaveHealthSample(ctx context.Context, h HealthSample, gpus []GPUSample) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save health report: %w", err)
	}
	defer tx.Rollback()
	at := stamp(h.At)
	if _, err := tx.ExecContext(ctx, "INSERT INTO health_samples(stack, taken_at, status, reason, body) VALUES (?, ?, ?, ?, ?)",
		h.Stack, at, h.Status, h.Reason, h.Body); err != nil {
		return fmt.Errorf("save health report: %w", err)
	}
	for _, g := range gpus {
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

// HealthSamples returns a stack's reports since a time, oldest first (Body left empty).
func (s *Store) HealthSamples(ctx context.Context, stackName string, since time.Time) ([]HealthSample, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT taken_at, status, reason FROM health_samples WHERE stack = ? AND taken_at >= ? ORDER BY taken_at, id",
		stackName, stamp(since))
	if err != nil {
		return nil, fmt.Errorf("read health history: %w", err)
	}
	defer rows.Close()
	var out []HealthSample
	for rows.Next() {
		h := HealthSample{Stack: stackName}
		var at string
		if err := rows.Scan(&at, &h.Status, &h.Reason); err != nil {
			return nil, err
		}
		h.At = parseStamp(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// GPUSamples returns one GPU's samples since a time, oldest first.
func (s *Store) GPUSamples(ctx context.Context, index int, since time.Time) ([]GPUSample, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT taken_at, memory_used_bytes, memory_total_bytes, utilization_pct, source FROM gpu_samples WHERE gpu_index = ? AND taken_at >= ? ORDER BY taken_at, id",
		index, stamp(since))
	if err != nil {
		return nil, fmt.Errorf("read GPU history: %w", err)
	}
	defer rows.Close()
	var out []GPUSample
	for rows.Next() {
		var at string
		var used, total int64
		var util sql.NullFloat64
		g := GPUSample{Index: index}
		if err := rows.Scan(&at, &used, &total, &util, &g.Source); err != nil {
			return nil, err
		}
		g.At, g.MemoryUsed, g.MemoryTotal = parseStamp(at), uint64(used), uint64(total)
		if util.Valid {
			v := util.Float64
			g.UtilizationPct = &v
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// LogEvent is one recognised log line of a stack's container.
type LogEvent struct {
	Stack, Role, Container string
	At                     time.Time // the log line's time
	Kind, Severity         string
	Summary, Fix           string
	Values                 string // JSON object of the values the line carried
}

// SaveLogEvent stores a recognised event; the same line (container, time,
// kind) seen again is ignored.
func (s *Store) SaveLogEvent(ctx context.Context, e LogEvent) error {
	_, err := s.DB.ExecContext(ctx, "INSERT OR IGNORE INTO log_events(stack, role, container, at, kind, severity, summary, fix, vals) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		e.Stack, e.Role, e.Container, stamp(e.At), e.Kind, e.Severity, e.Summary, e.Fix, e.Values)
	if err != nil {
		return fmt.Errorf("save log event %s: %w", e.Kind, err)
	}
	return nil
}

// RecentLogEvents returns a role's newest events (up to limit), oldest first
// (Kind, Severity, Summary, Fix and Values filled).
func (s *Store) RecentLogEvents(ctx context.Context, stackName, role string, limit int) ([]LogEvent, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT kind, severity, summary, fix, vals FROM (SELECT * FROM log_events WHERE stack = ? AND role = ? ORDER BY at DESC, id DESC LIMIT ?) ORDER BY at, id",
		stackName, role, limit)
	if err != nil {
		return nil, fmt.Errorf("read log events: %w", err)
	}
	defer rows.Close()
	var out []LogEvent
	for rows.Next() {
		e := LogEvent{Stack: stackName, Role: role}
		if err := rows.Scan(&e.Kind, &e.Severity, &e.Summary, &e.Fix, &e.Values); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// LatestLogEvent returns the stack's newest event of a kind (At and Values
// filled), or app.ErrNotFound.
func (s *Store) LatestLogEvent(ctx context.Context, stackName, kind string) (LogEvent, error) {
	e := LogEvent{Stack: stackName, Kind: kind}
	var at string
	err := s.DB.QueryRowContext(ctx, "SELECT at, vals FROM log_events WHERE stack = ? AND kind = ? ORDER BY at DESC, id DESC LIMIT 1", stackName, kind).Scan(&at, &e.Values)
	if errors.Is(err, sql.ErrNoRows) {
		return e, app.ErrNotFound
	}
	e.At = parseStamp(at)
	return e, err
}
