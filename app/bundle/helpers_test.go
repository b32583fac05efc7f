package bundle_test

import (
	"context"
	"os"
	"os/exec"
	"testing"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/runtime/docker"
)

func machineOf(t *testing.T, eng *docker.Engine) hardware.Machine {
	return hardware.Machine{Engine: eng.Probe(context.Background())}
}

// mountTmpfs mounts a small tmpfs for the disk tests; it skips when this
// machine does not allow mounting, except under CI.
func mountTmpfs(t *testing.T, size string) string {
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("mount a %s tmpfs (needed for the disk test): %v %s", size, err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}
