package deploy

import (
	"slices"
	"testing"
)

func TestOwnLinesDropsHealthChecks(t *testing.T) {
	lines := []string{
		`INFO 12-02 16:00:00 [api_server.py:1000] GPU KV cache size: 46,032 tokens`,
		`INFO:     127.0.0.1:40862 - "GET /health HTTP/1.1" 503 Service Unavailable`,
		`INFO 12-02 16:00:01 [api_server.py:1000] 127.0.0.1:40866 - "GET /health HTTP/1.1" 503 OK`,
		`{"level":"info","logger":"api.access","message":"127.0.0.1:5 - \"GET /monitoring/healthz HTTP/1.1\" 200"}`,
		`INFO:     10.0.0.9:1 - "POST /v1/chat/completions HTTP/1.1" 200 OK`,
		`INFO:     10.0.0.9:1 - "GET /healthcare HTTP/1.1" 404 Not Found`,
	}
	own, probes := OwnLines(lines)
	if want := []string{lines[0], lines[4], lines[5]}; !slices.Equal(own, want) || probes != 3 {
		t.Fatalf("own %q, %d probes", own, probes)
	}
}
