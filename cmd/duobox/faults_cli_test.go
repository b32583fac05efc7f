package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
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
