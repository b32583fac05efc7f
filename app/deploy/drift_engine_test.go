package deploy_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/duobox/duobox/app/stack"
)

// TestDockerUpdateMemoryLimitIsDrift is issue 16 item 9: a memory limit
// changed with `docker update` (the config hash label unchanged) is drift in
// status, saying what changed, and the next up recreates the container
// with DuoBox's settings.
func TestDockerUpdateMemoryLimitIsDrift(t *testing.T) {
	f := newFixture(t, "18.5")
	model := stack.ModelContainerName(f.cfg.Name, 0)
	if _, err := f.up(); err != nil {
		t.Fatalf("up: %v", err)
	}
	if out, err := exec.Command("docker", "update", "--memory", "3g", "--memory-swap", "3g", model).CombinedOutput(); err != nil {
		t.Fatalf("docker update: %v %s", err, out)
	}
	st, err := f.dep.Status(context.Background(), f.spec())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range st.Containers {
		if c.Name == model {
			found = c.Drifted && strings.Contains(c.DriftReason, "memory limit 3.0 GiB")
			if !found {
				t.Errorf("model after docker update: %+v", c)
			}
		}
	}
	if !found || st.Healthy {
		t.Errorf("status healthy=%v", st.Healthy)
	}
	rep, err := f.up()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range rep.Actions {
		if a.Name == model && (a.Did != "recreated" || !strings.Contains(a.Why, "memory limit")) {
			t.Errorf("up on the drifted model: %+v", a)
		}
	}
	if st, _ := f.dep.Status(context.Background(), f.spec()); !st.Healthy {
		t.Errorf("after up: %+v", st)
	}
}
