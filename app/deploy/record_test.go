package deploy

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/store"
)

// TestRecorder_AKilledUpDoesNotStayRunning is issue 16 item 7: an up whose
// process was killed left its record "running"; the next command marks it
// interrupted (saying so), while a run whose process is alive is left alone.
func TestRecorder_AKilledUpDoesNotStayRunning(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Skip("no 'true' program")
	}
	ctx := context.Background()
	then := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st.BeginDeployment(ctx, "s", "up", then, fmt.Sprintf("pid %d", dead.Process.Pid))
	st.BeginDeployment(ctx, "s", "up", then.Add(time.Second), "") // an older DuoBox: no pid
	rec := recorder{st}
	live := rec.begin(ctx, "s", "up") // this process: alive
	id := rec.begin(ctx, "s", "down")
	rec.finish(ctx, id, nil)
	runs, err := st.Deployments(ctx, "s", false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]store.Deployment{}
	for _, r := range runs {
		got[r.ID] = r
	}
	for _, n := range []int64{1, 2} {
		if r := got[n]; r.Outcome != "interrupted" || !strings.Contains(r.Detail, "stopped before it finished") || r.FinishedAt == "" {
			t.Errorf("killed run %d: %+v", n, r)
		}
	}
	if r := got[live]; r.Outcome != "running" {
		t.Errorf("a run whose process lives was closed: %+v", r)
	}
	if r := got[id]; r.Outcome != "ok" {
		t.Errorf("down: %+v", r)
	}
}
