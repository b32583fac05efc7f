package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/stack"
)

// waitRestarts waits until the container was restarted at least n times and
// runs again.
func (f *fixture) waitRestarts(name string, n int, within time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if o, err := f.eng.Lookup(context.Background(), "container", name); err == nil {
			if st, err := f.eng.Inspect(context.Background(), o.ID); err == nil && st.Restarts >= n && st.Running {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	f.t.Fatalf("%s was not restarted %d times within %s", name, n, within)
}

// TestUpAfterAnOOMAutoRestartJudgesThePresentState is issue 16 item 4: the
// model is killed once (exit 137) after a healthy up and the engine's
// restart policy brings it back; a later `up` finds a running, healthy stack
// and succeeds instead of exiting 4 on the past restart, and status says
// healthy (the restart is history, not a crash loop).
func TestUpAfterAnOOMAutoRestartJudgesThePresentState(t *testing.T) {
	f := newFixture(t, "18.5")
	f.cfg.ModelServer.Env = map[string]string{"DUOBOX_FAKE_EXIT_ONCE": "6s:137"}
	model := stack.ModelContainerName(f.cfg.Name, 0)
	if _, err := f.up(); err != nil {
		t.Fatalf("first up: %v", err)
	}
	f.waitRestarts(model, 1, 60*time.Second)
	time.Sleep(2 * time.Second) // healthy again
	rep, err := f.up()
	if err != nil {
		t.Fatalf("up after one auto-restart: %v (kind %d)", err, app.KindOf(err))
	}
	if got := did(rep); got[model] != "kept" {
		t.Errorf("model was %q, want kept", got[model])
	}
	st, err := f.dep.Status(context.Background(), f.spec())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range st.Containers {
		if c.CrashLooping {
			t.Errorf("%s reported crash-looping after one restart: %s", c.Name, c.CrashLoop)
		}
	}
}

// TestCrashLoopAfterHealthIsReportedCrashLooping is issue 16 item 5: a model
// that becomes healthy and then exits 137 every few seconds, brought back
// each time by the restart policy, is "crash-looping" in status (with its
// last exit and its own log lines), not healthy, and `up` says so (exit 4).
func TestCrashLoopAfterHealthIsReportedCrashLooping(t *testing.T) {
	f := newFixture(t, "18.5")
	model := stack.ModelContainerName(f.cfg.Name, 0)
	if _, err := f.up(); err != nil {
		t.Fatalf("first up: %v", err)
	}
	f.cfg.ModelServer.Env = map[string]string{"DUOBOX_FAKE_EXIT_AFTER": "2s:137"}
	_, err := f.up() // recreated; exits 2 s after start, again and again
	if app.KindOf(err) != app.KindNotReady {
		t.Logf("up with the crashing model: %v", err)
	}
	f.waitRestarts(model, 2, 90*time.Second)
	// Sample several times: a crash-looping container is "running" most of the time.
	for i := range 6 {
		st, err := f.dep.Status(context.Background(), f.spec())
		if err != nil {
			t.Fatal(err)
		}
		if st.Healthy {
			t.Errorf("sample %d: a crash-looping stack reported healthy", i)
		}
		found := false
		for _, c := range st.Containers {
			if c.Name != model {
				continue
			}
			found = true
			if !c.CrashLooping || !strings.Contains(c.CrashLoop, "crash-looping") || !strings.Contains(c.CrashLoop, "exit code 137") {
				t.Errorf("sample %d: model status %+v", i, c)
			}
			if c.CrashLooping && !strings.Contains(strings.Join(c.LastLines, "\n"), "vLLM API server") {
				t.Errorf("sample %d: last lines are not the model's own: %q", i, c.LastLines)
			}
		}
		if !found {
			t.Fatalf("no model container in status")
		}
		time.Sleep(1500 * time.Millisecond)
	}
	_, err = f.up()
	if app.KindOf(err) != app.KindNotReady || !strings.Contains(err.Error(), "crash-looping") && !strings.Contains(err.Error(), "exited with code 137") {
		t.Errorf("up on a crash-looping model: %v", err)
	}
}
