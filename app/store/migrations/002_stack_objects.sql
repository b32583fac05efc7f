-- What DuoBox created on the engine (issue 3): one row per labelled object,
-- and one row per up/down/restart run with its outcome.
CREATE TABLE stack_objects (
  stack       TEXT NOT NULL,
  kind        TEXT NOT NULL,              -- container, network, volume
  name        TEXT NOT NULL,
  engine_id   TEXT NOT NULL,
  role        TEXT NOT NULL DEFAULT '',
  config_hash TEXT NOT NULL DEFAULT '',
  image       TEXT NOT NULL DEFAULT '',
  created_at  TEXT NOT NULL,              -- RFC 3339, UTC
  PRIMARY KEY (stack, kind, name)
);

CREATE TABLE deployments (
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  stack       TEXT NOT NULL,
  action      TEXT NOT NULL,              -- up, down, restart
  started_at  TEXT NOT NULL,
  finished_at TEXT,
  outcome     TEXT NOT NULL DEFAULT 'running', -- ok, failed
  detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX deployments_stack ON deployments(stack, id);
