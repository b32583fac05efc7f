-- Detection snapshots (hardware, recommendation) and key/value settings.
CREATE TABLE snapshots (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  kind     TEXT NOT NULL,          -- "machine", "recommendation"
  taken_at TEXT NOT NULL,          -- RFC 3339, UTC
  body     TEXT NOT NULL           -- JSON
);
CREATE INDEX snapshots_kind ON snapshots(kind, id);

CREATE TABLE settings (
  key        TEXT PRIMARY KEY,
  value      TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
