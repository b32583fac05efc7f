package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const savedModelLog = `2026-11-27T03:00:00.000000001Z INFO 11-27 03:14:49 [api_server.py:1024] Starting vLLM API server
2026-11-27T03:00:00.000000002Z INFO 11-27 03:14:49 [gpu_worker.py:298] Available KV cache memory: 5.62 GiB
2026-11-27T03:00:00.000000003Z ValueError: To serve at least one request with the model's max seq len (32768), (4.00 GiB KV cache is needed, which is larger than the available KV cache memory (2.10 GiB). Based on the available memory, the estimated maximum model length is 17200. Try increasing ` + "`gpu_memory_utilization`" + ` or decreasing ` + "`max_model_len`" + ` when initializing the engine.
{"logger": "api.access", "level": "warning", "message": "POST /v1/prompts 401", "status_code": 401, "correlation_id": "01K6"}
`

func TestLogsFromFileJSONCarriesLevelMessageAndEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.log")
	if err := os.WriteFile(path, []byte(savedModelLog), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "logs", "--from-file", path, "--json", "--level", "warning")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want the error and the 401 line, got %q", lines)
	}
	var rec struct {
		Level   string `json:"level"`
		Message string `json:"message"`
		Event   *struct {
			Kind, Summary, Fix string
		} `json:"event"`
		StatusCode    int    `json:"status_code"`
		CorrelationID string `json:"correlation_id"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Level != "error" || rec.Event == nil || rec.Event.Kind != "vllm_kv_cache_too_small" || !strings.Contains(rec.Event.Fix, "17200") {
		t.Errorf("first record %+v", rec)
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Level != "warning" || rec.Message != "POST /v1/prompts 401" || rec.StatusCode != 401 || rec.CorrelationID != "01K6" {
		t.Errorf("gateway record %+v", rec)
	}
}

func TestLogsBadInputExitsTwo(t *testing.T) {
	path := filepath.Join(t.TempDir(), "model.log")
	os.WriteFile(path, []byte(savedModelLog), 0o600)
	for _, args := range [][]string{
		{"logs", "--from-file", path, "--grep", "("},
		{"logs", "--from-file", path, "--level", "loud"},
		{"logs", "--from-file", path, "--since", "yesterday"},
		{"logs", "--from-file", path, "--tail", "many"},
		{"logs", "--from-file", filepath.Join(t.TempDir(), "missing.log")},
		{"logs"},
	} {
		if code, _, errOut := runCLI(t, args...); code != 2 || !strings.Contains(errOut, " — ") {
			t.Errorf("%v: exit %d: %s", args, code, errOut)
		}
	}
}
