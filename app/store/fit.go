package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/duobox/duobox/app"
)

// FitMeasurement is one real start's memory figures next to the prediction
// (JSON bodies as app/recommend writes them).
type FitMeasurement struct {
	Model, GPU, VLLM              string
	Settings, Predicted, Measured []byte
	At                            time.Time
}

// SaveFitMeasurement stores m, replacing the row for the same model, GPU and vLLM version.
func (s *Store) SaveFitMeasurement(ctx context.Context, m FitMeasurement) error {
	if m.Model == "" || m.GPU == "" || m.VLLM == "" {
		return fmt.Errorf("save fit measurement: model, GPU and vLLM version are required")
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO fit_measurements(model, gpu, vllm, settings, predicted, measured, at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(model, gpu, vllm) DO UPDATE SET settings = excluded.settings, predicted = excluded.predicted, measured = excluded.measured, at = excluded.at`,
		m.Model, m.GPU, m.VLLM, string(m.Settings), string(m.Predicted), string(m.Measured), m.At.UTC().Format(time.RFC3339Nano))
	if err != nil {
		return fmt.Errorf("save fit measurement: %w", err)
	}
	return nil
}

// FitMeasurements returns the stored measurements for a GPU and vLLM version, by model.
func (s *Store) FitMeasurements(ctx context.Context, gpu, vllm string) (map[string]FitMeasurement, error) {
	rows, err := s.DB.QueryContext(ctx, "SELECT model, settings, predicted, measured, at FROM fit_measurements WHERE gpu = ? AND vllm = ?", gpu, vllm)
	if err != nil {
		return nil, fmt.Errorf("read fit measurements: %w", err)
	}
	defer rows.Close()
	out := map[string]FitMeasurement{}
	for rows.Next() {
		m := FitMeasurement{GPU: gpu, VLLM: vllm}
		var st, p, ms, at string
		if err := rows.Scan(&m.Model, &st, &p, &ms, &at); err != nil {
			return nil, err
		}
		m.Settings, m.Predicted, m.Measured = []byte(st), []byte(p), []byte(ms)
		m.At, _ = time.Parse(time.RFC3339Nano, at)
		out[m.Model] = m
	}
	return out, rows.Err()
}

// LatestFitMeasurement returns the newest measurement of a model on any GPU, or app.ErrNotFound.
func (s *Store) LatestFitMeasurement(ctx context.Context, model string) (FitMeasurement, error) {
	m := FitMeasurement{Model: model}
	var st, p, ms, at string
	err := s.DB.QueryRowContext(ctx, "SELECT gpu, vllm, settings, predicted, measured, at FROM fit_measurements WHERE model = ? ORDER BY at DESC LIMIT 1", model).
		Scan(&m.GPU, &m.VLLM, &st, &p, &ms, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return m, app.ErrNotFound
	}
	if err != nil {
		return m, err
	}
	m.Settings, m.Predicted, m.Measured = []byte(st), []byte(p), []byte(ms)
	m.At, _ = time.Parse(time.RFC3339Nano, at)
	return m, nil
}
