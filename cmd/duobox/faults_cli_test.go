package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestRollbackAndUpgradeWithNothingDeployed: with a config and nothing on
// the engine, rollback (either role) and upgrade say "nothing is deployed"
// and exit 4, as status, health, test and logs do (issue 16: rollback said
// there was nothing to *upgrade*).
func TestRollbackAndUpgradeWithNothingDeployed(t *testing.T) {
	testbed.Engine(t) // skips without an engine (fails under CI)
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	cfg := badInputConfig()
	cfg.Name = fmt.Sprintf("dbt-nodep-%d", time.Now().UnixNano()%1e9)
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"rollback"}, {"rollback", "model"}, {"upgrade", "--to", "self-hosted-v18.5.1-ee"}, {"status"}} {
		code, _, errOut := runCLI(t, args...)
		if code != 4 || !strings.Contains(errOut, fmt.Sprintf("nothing is deployed: the stack %q has no containers", cfg.Name)) ||
			!strings.Contains(errOut, "run 'duobox up'") || strings.Contains(errOut, "nothing to upgrade") {
			t.Errorf("%v: exit %d, want 4 saying nothing is deployed: %s", args, code, errOut)
		}
	}
}

// TestFullDiskReadersWorkWritersSaySo (issue 16): with DUOBOX_HOME on a
// full disk, status, health and history still answer (reading the state
// database as it is, recording nothing, and saying so), and up says the
// disk is full, where and how much is free, exit 3 — not "disk I/O error,
// check that the folder is writable".
func TestFullDiskReadersWorkWritersSaySo(t *testing.T) {
	testbed.Engine(t)
	home := filepath.Join(testbed.Tmpfs(t, 4<<20), "home")
	t.Setenv("DUOBOX_HOME", home)
	cfg := badInputConfig()
	cfg.Name = fmt.Sprintf("dbt-full-%d", time.Now().UnixNano()%1e9)
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "status"); code != 4 { // creates the state database
		t.Fatalf("status before: exit %d: %s", code, errOut)
	}
	testbed.FillDisk(t, home)
	full := "the disk holding " + filepath.Join(home, "state") + " is full ("
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"status"}, 4, "nothing is deployed"},
		{[]string{"health"}, 4, "no DuoBox containers"},
		{[]string{"history"}, 0, ""},
	} {
		code, out, errOut := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(out+errOut, c.want) || !strings.Contains(errOut, full) || !strings.Contains(errOut, "this run records nothing") {
			t.Errorf("%v on a full disk: exit %d (want %d), want %q and a note that the disk is full: %s%s", c.args, code, c.code, c.want, out, errOut)
		}
	}
	code, _, errOut := runCLI(t, "up", "--timeout", "10s")
	if code != 3 || !strings.Contains(errOut, "the disk holding "+home) || !strings.Contains(errOut, " is full (") ||
		!strings.Contains(errOut, "move DUOBOX_HOME") || strings.Contains(errOut, "disk I/O error") || strings.Contains(errOut, "writable") {
		t.Errorf("up on a full disk: exit %d, want 3 naming the full disk: %s", code, errOut)
	}
}

// TestDownOnAFullDiskRemovesAndRecordsNothing (issue 16): with DUOBOX_HOME on
// a full disk, down still removes the stack's objects (it opens the state
// database read-only), says this run records nothing, and the history is
// what it was before.
func TestDownOnAFullDiskRemovesAndRecordsNothing(t *testing.T) {
	testbed.Engine(t)
	home := filepath.Join(testbed.Tmpfs(t, 4<<20), "home")
	t.Setenv("DUOBOX_HOME", home)
	cfg := badInputConfig()
	cfg.Name = fmt.Sprintf("dbt-fulldown-%d", time.Now().UnixNano()%1e9)
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCLI(t, "status"); code != 0 && code != 4 { // creates the state database
		t.Fatalf("status before: exit %d: %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "down"); code != 0 { // a run the history records
		t.Fatalf("down before: exit %d: %s", code, errOut)
	}
	dbBefore := stateDatabase(t, home)
	// What up leaves besides containers: the stack's network and weights volume.
	net, vol := cfg.Name+"-net", cfg.Name+"-hf-cache"
	lbl := func(role string) []string {
		return []string{"--label", stack.LabelManaged + "=true", "--label", stack.LabelStack + "=" + cfg.Name, "--label", stack.LabelRole + "=" + role}
	}
	testbed.DockerCLI(t, append(append([]string{"network", "create"}, lbl(stack.RoleNetwork)...), net)...)
	testbed.DockerCLI(t, append(append([]string{"volume", "create"}, lbl(stack.RoleVolume)...), vol)...)
	t.Cleanup(func() { // only if down left them
		exec.Command("docker", "network", "rm", net).Run()
		exec.Command("docker", "volume", "rm", vol).Run()
	})
	testbed.FillDisk(t, home)

	code, out, errOut := runCLI(t, "down", "--volumes")
	if code != 0 || !strings.Contains(out, "removed  network   "+net) || !strings.Contains(out, "removed  volume    "+vol) ||
		!strings.Contains(errOut, "the disk holding "+filepath.Join(home, "state")+" is full (") || !strings.Contains(errOut, "this run records nothing") {
		t.Fatalf("down on a full disk: exit %d, want 0, both objects removed and a note that nothing is recorded:\n%s%s", code, out, errOut)
	}
	if left := testbed.DockerCLI(t, "network", "ls", "-q", "--filter", "label="+stack.LabelStack+"="+cfg.Name); left != "" {
		t.Errorf("network left after down: %s", left)
	}
	if left := testbed.DockerCLI(t, "volume", "ls", "-q", "--filter", "label="+stack.LabelStack+"="+cfg.Name); left != "" {
		t.Errorf("volume left after down: %s", left)
	}
	if dbAfter := stateDatabase(t, home); dbAfter != dbBefore {
		t.Errorf("down on a full disk changed the state database:\nbefore %s\nafter  %s", dbBefore, dbAfter)
	}
}

// stateDatabase is the size and hash of each file of the state database
// (duobox.db and its -wal/-shm), to see that a run changed nothing. Empty
// files are left out: SQLite's first read-write try, on a full disk, leaves
// an empty -wal and -shm that hold nothing.
func stateDatabase(t *testing.T, home string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(home, "state", "duobox.db*"))
	if len(files) == 0 {
		t.Fatalf("no state database under %s", home)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 {
			continue
		}
		fmt.Fprintf(&b, "%s %d %x; ", filepath.Base(f), len(data), sha256.Sum256(data))
	}
	return b.String()
}
