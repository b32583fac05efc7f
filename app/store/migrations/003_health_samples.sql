-- Health over time (runtime/health): overall status samples, GPU samples for
-- plots, and the log events DuoBox recognised (failures with their fix, and
-- the KV cache capacity vLLM reported, to compare with DuoBox's estimate).
CREATE TABLE health_samples (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  stack    TEXT NOT NULL,
  taken_at TEXT NOT NULL,          -- RFC 3339, UTC
  status   TEXT NOT NULL,          -- ok, starting, degraded, down, not_deployed
  reason   TEXT NOT NULL,
  body     TEXT NOT NULL           -- the whole report, JSON
);
CREATE INDEX health_samples_stack ON health_samples(stack, taken_at);

CREATE TABLE gpu_samples (
  id                 INTEGER PRIMARY KEY AUTOINCREMENT,
  taken_at           TEXT NOT NULL,
  gpu_index          INTEGER NOT NULL,
  memory_used_bytes  INTEGER NOT NULL,
  memory_total_bytes INTEGER NOT NULL,
  utilization_pct    REAL,           -- NULL when the source could not tell
  source             TEXT NOT NULL   -- nvml or nvidia-smi
);
CREATE INDEX gpu_samples_time ON gpu_samples(taken_at);

CREATE TABLE log_events (
  id        INTEGER PRIMARY KEY AUTOINCREMENT,
  stack     TEXT NOT NULL,
  role      TEXT NOT NULL,           -- model, gateway
  container TEXT NOT NULL,
  at        TEXT NOT NULL,           -- the log line's time
  kind      TEXT NOT NULL,
  severity  TEXT NOT NULL,
  summary   TEXT NOT NULL,
  fix       TEXT NOT NULL,
  vals      TEXT NOT NULL            -- JSON object of the values the line carried
);
CREATE INDEX log_events_stack_kind ON log_events(stack, kind, at);
-- The same log line seen again (a re-scan, a re-attach) is stored once.
CREATE UNIQUE INDEX log_events_line ON log_events(stack, container, at, kind);
