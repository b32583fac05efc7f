package main

import (
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/runtime/health"
)

// printSmoke marks steps with the window's signs (health.SmokeStep.Mark):
// ✓ passed, – skipped, ✗ failed, and prints a failed step's fix.
func TestPrintSmokeMarksStepsAsTheWindowDoes(t *testing.T) {
	var b strings.Builder
	printSmoke(&b, health.SmokeResult{Steps: []health.SmokeStep{
		{Name: "model_completion", OK: true, Latency: 120 * time.Millisecond},
		{Name: "gateway_model_check", Diagnosis: "the gateway answered 401", Fix: "check the JWT keys"},
		{Name: "agent_platform", Skipped: true},
	}}, "")
	lines := strings.Split(b.String(), "\n")
	if !strings.HasPrefix(lines[0], "✓ model_completion") || !strings.HasPrefix(lines[1], "✗ gateway_model_check") ||
		!strings.Contains(b.String(), "fix: check the JWT keys") || !strings.Contains(b.String(), "– agent_platform") {
		t.Errorf("smoke text:\n%s", b.String())
	}
}
