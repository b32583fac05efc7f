-- Upgrades and rollbacks of the gateway or model server (issue 5): one row per
-- run, written before each step is taken (the step column), so that a run cut
-- short by a crash is found and reconciled on the next start.
CREATE TABLE upgrades (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  stack        TEXT NOT NULL,
  role         TEXT NOT NULL,              -- gateway, model
  container    TEXT NOT NULL,              -- the serving container's name
  action       TEXT NOT NULL,              -- upgrade, rollback
  step         TEXT NOT NULL,              -- the step being taken (see app/upgrade)
  from_image   TEXT NOT NULL,              -- config image before, JSON (repository, tag, digest)
  from_digest  TEXT NOT NULL DEFAULT '',   -- registry digest the old container ran
  to_image     TEXT NOT NULL,              -- config image after, JSON
  to_digest    TEXT NOT NULL DEFAULT '',
  old_id       TEXT NOT NULL DEFAULT '',   -- container serving before the run
  new_id       TEXT NOT NULL DEFAULT '',   -- container meant to serve after it
  kept_id      TEXT NOT NULL DEFAULT '',   -- the rollback target that existed before the run
  started_at   TEXT NOT NULL,              -- RFC 3339, UTC
  finished_at  TEXT,
  outcome      TEXT NOT NULL DEFAULT 'running', -- running, succeeded, rolled_back, failed, interrupted
  reason       TEXT NOT NULL DEFAULT '',
  logs         TEXT NOT NULL DEFAULT ''    -- the failed container's last log lines
);
CREATE INDEX upgrades_stack ON upgrades(stack, id);

CREATE TABLE upgrade_steps (
  upgrade_id INTEGER NOT NULL REFERENCES upgrades(id),
  step       TEXT NOT NULL,
  at         TEXT NOT NULL
);
CREATE INDEX upgrade_steps_run ON upgrade_steps(upgrade_id);
