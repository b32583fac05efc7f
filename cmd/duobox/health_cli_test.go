package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestHealthTestAndLogsOnTestBedStack deploys the test bed's stand-ins with
// `duobox up`, then runs `duobox health`, `duobox test` and `duobox logs`
// as a user would, and removes everything with `duobox down`.
func TestHealthTestAndLogsOnTestBedStack(t *testing.T) {
	testbed.Engine(t) // skips without an engine (fails under CI)
	bed := testbed.Start(t)
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	name := fmt.Sprintf("dbt-cli4-%d", time.Now().UnixNano()%1e9)
	cfg := bed.StackConfig(t, name, home, "v1", "v1")
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cfg.LogDir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code, _, errOut := runCLI(t, "down", "--volumes"); code != 0 {
			t.Errorf("down: exit %d: %s", code, errOut)
		}
	})
	if code, _, errOut := runCLI(t, "up", "--timeout", "2m"); code != 0 {
		t.Fatalf("up: exit %d: %s", code, errOut)
	}

	code, out, errOut := runCLI(t, "health", "--json")
	var rep struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
		Probes []struct {
			Name string `json:"name"`
			OK   bool   `json:"ok"`
		} `json:"probes"`
	}
	// 18.5 runs the Agent Platform: its gRPC health is the fourth probe.
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 0 || rep.Status != "ok" || len(rep.Probes) != 4 ||
		rep.Probes[3].Name != "agent_platform_grpc" || !rep.Probes[3].OK {
		t.Fatalf("health: exit %d %+v %v: %s", code, rep, err, errOut)
	}

	if code, out, errOut := runCLI(t, "status"); code != 0 || !strings.Contains(out, "agent platform grpc://") || !strings.Contains(out, "SERVING") {
		t.Errorf("status: exit %d: %s %s", code, out, errOut)
	}

	code, out, errOut = runCLI(t, "test", "--json")
	var smoke struct {
		OK    bool `json:"ok"`
		Steps []struct {
			Name        string `json:"name"`
			OK          bool   `json:"ok"`
			FirstTokens string `json:"first_tokens"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &smoke); err != nil || code != 0 || !smoke.OK || len(smoke.Steps) != 2 || smoke.Steps[0].FirstTokens == "" {
		t.Fatalf("test: exit %d %+v %v: %s", code, smoke, err, errOut)
	}

	code, out, errOut = runCLI(t, "logs", "gateway", "--json", "--tail", "all")
	if code != 0 || !strings.Contains(out, `"logger":"api.access"`) || !strings.Contains(out, `"level":"info"`) {
		t.Fatalf("logs gateway: exit %d: %s %s", code, out, errOut)
	}
}

// TestHealthSaysAgentPlatformHalfIsDown_TestBedStack deploys the stand-ins
// with the gateway's Agent Platform failing its start on the JWKS ("Could
// not prefetch keys", as the real Duo Workflow Service does) while its HTTP
// side stays healthy: `duobox health` says which half is down and why.
func TestHealthSaysAgentPlatformHalfIsDown_TestBedStack(t *testing.T) {
	testbed.Engine(t)
	bed := testbed.Start(t)
	home := t.TempDir()
	t.Setenv("DUOBOX_HOME", home)
	cfg := bed.StackConfig(t, fmt.Sprintf("dbt-cli5-%d", time.Now().UnixNano()%1e9), home, "v1", "v1")
	cfg.Gateway.Image.Env = map[string]string{"DUOBOX_FAKE_AGENT_KEYS_UNREACHABLE": "1"}
	cfg.LogDir = ""
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if code, _, errOut := runCLI(t, "down", "--volumes"); code != 0 {
			t.Errorf("down: exit %d: %s", code, errOut)
		}
	})
	if code, _, errOut := runCLI(t, "up", "--timeout", "2m"); code != 0 {
		t.Fatalf("up: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "health", "--json")
	var rep struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
		Fix    string `json:"fix"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 4 || rep.Status != "degraded" ||
		!strings.Contains(rep.Reason, "the Agent Platform (Duo Workflow Service, gRPC health on ") ||
		!strings.Contains(rep.Reason, "is down while the gateway's HTTP side answers") ||
		!strings.Contains(rep.Reason, "Could not prefetch keys") || !strings.Contains(rep.Fix, "duobox restart gateway") {
		t.Fatalf("health: exit %d %+v %v: %s", code, rep, err, errOut)
	}
	if code, out, errOut := runCLI(t, "status"); code != 4 || !strings.Contains(errOut, "the gateway runs but its Agent Platform half is down") ||
		!strings.Contains(errOut, "nothing listens on the Agent Platform port") {
		t.Errorf("status: exit %d: %s %s", code, out, errOut)
	}
}
