package health

import (
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
)

// TestAssess_CrashLoopingModelIsNotHealthy is issue 16 item 5 without an
// engine: a model that is running at the moment of the sample but was
// restarted 5 times, the last exit (137) 8 s ago, is down and says
// "crash-looping" with its last exit; one restart an hour ago is history.
func TestAssess_CrashLoopingModelIsNotHealthy(t *testing.T) {
	now := time.Now()
	gw := engine.ContainerState{Name: "s-gateway", Exists: true, Running: true, Status: "running", Health: "healthy"}
	model := engine.ContainerState{Name: "s-model", Exists: true, Running: true, Status: "running", Health: "healthy",
		Restarts: 5, ExitCode: 137, FinishedAt: now.Add(-8 * time.Second), StartedAt: now.Add(-7 * time.Second)}
	ok := []Probe{{Name: "gateway_healthz", OK: true}, {Name: "model_health", OK: true}}
	st, why, _ := Assess(map[string]engine.ContainerState{stack.RoleModel: model, stack.RoleGateway: gw}, ok, nil, now, time.Minute)
	if st != StatusDown || !strings.Contains(why, "crash-looping") || !strings.Contains(why, "exit code 137") {
		t.Errorf("crash loop: %s %q", st, why)
	}
	model.Restarts, model.FinishedAt = 1, now.Add(-time.Hour)
	st, why, _ = Assess(map[string]engine.ContainerState{stack.RoleModel: model, stack.RoleGateway: gw}, ok, nil, now, time.Minute)
	if st == StatusDown || strings.Contains(why, "crash-looping") {
		t.Errorf("one old restart: %s %q", st, why)
	}
}
