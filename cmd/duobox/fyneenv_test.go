package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// fyneenv only works if it initialises before the Fyne packages that read
// the environment in their own init: check the order in this binary.
func TestFyneEnv_InitialisesBeforeFyneReadsTheEnvironment(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("run the test binary: %v: %s", err, out)
	}
	order := map[string]int{}
	for i, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "init" {
			order[f[1]] = i
		}
	}
	ours, ok := order["github.com/duobox/duobox/cmd/duobox/internal/fyneenv"]
	if !ok {
		t.Fatalf("fyneenv did not initialise:\n%s", out)
	}
	for _, reader := range []string{"fyne.io/fyne/v2/internal/cache", "fyne.io/fyne/v2/lang", "github.com/jeandeaual/go-locale"} {
		if at, ok := order[reader]; ok && at < ours {
			t.Errorf("%s initialises before fyneenv, so it does not see FYNE_CACHE or the mapped locale", reader)
		}
	}
	if got := os.Getenv("FYNE_CACHE"); got == "" {
		t.Errorf("FYNE_CACHE = %q", got)
	}
}
