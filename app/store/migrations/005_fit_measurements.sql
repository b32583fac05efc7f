-- What vLLM printed about its memory at a real start, next to what DuoBox
-- predicted (issue 14): one row per model, GPU and vLLM version, the newest
-- start winning; the next prediction on this machine is calibrated from it.
CREATE TABLE fit_measurements (
  model      TEXT NOT NULL,  -- catalog id (or the served repo when not in the catalog)
  gpu        TEXT NOT NULL,  -- GPU name as nvidia-smi reports it
  vllm       TEXT NOT NULL,  -- vLLM version (X.Y.Z)
  settings   TEXT NOT NULL,  -- JSON: the vLLM settings it ran with
  predicted  TEXT NOT NULL,  -- JSON: DuoBox's estimate, the comparison and the calibration (recommend.StartRecord)
  measured   TEXT NOT NULL,  -- JSON: the figures vLLM printed
  at         TEXT NOT NULL,  -- RFC 3339, UTC
  PRIMARY KEY (model, gpu, vllm)
);
