package testbed_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

// runFake starts a stand-in image's program on this host (no engine) and
// returns its base URL.
func runFake(t *testing.T, kind string, args []string, env ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), kind)
	build := exec.Command("go", "build", "-o", bin, "./images/"+kind)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", kind, err, out)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, append(args, "--port", fmt.Sprint(port))...)
	cmd.Env = append(env, fmt.Sprintf("AIGW_FASTAPI__API_PORT=%d", port), "PORT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; i < 100; i++ {
		if resp, err := http.Get(base + "/"); err == nil {
			resp.Body.Close()
			return base
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not listen; output:\n%s", kind, out.String())
	return ""
}

func TestModelServerSpeaksOpenAIWithServedName(t *testing.T) {
	base := runFake(t, "modelserver", []string{"--model", "org/Model-7B", "--served-model-name", "m7b", "--max-model-len", "4096"})
	resp, err := http.Get(base + "/health")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/health: %v %v", resp, err)
	}
	var models struct {
		Data []struct{ ID string } `json:"data"`
	}
	resp, _ = http.Get(base + "/v1/models")
	json.NewDecoder(resp.Body).Decode(&models)
	if len(models.Data) != 1 || models.Data[0].ID != "m7b" {
		t.Fatalf("/v1/models = %+v", models)
	}
	for path, body := range map[string]string{"/v1/completions": `{"model":"m7b","prompt":"def f():"}`,
		"/v1/chat/completions": `{"model":"m7b","messages":[{"role":"user","content":"hi"}]}`} {
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: %v %v", path, resp, err)
		}
		wrong := strings.Replace(body, `"m7b"`, `"other"`, 1)
		if resp, _ := http.Post(base+path, "application/json", strings.NewReader(wrong)); resp.StatusCode != 404 {
			t.Errorf("%s with an unknown model: %d, want 404 as vLLM", path, resp.StatusCode)
		}
	}
}

func TestGatewayNeedsTokenUnlessBypassed(t *testing.T) {
	base := runFake(t, "gateway", nil)
	if resp, _ := http.Get(base + "/monitoring/healthz"); resp == nil || resp.StatusCode != 200 {
		t.Fatal("healthz needs no auth")
	}
	resp, _ := http.Post(base+"/v1/prompts/model_configuration%2Fcheck", "application/json", strings.NewReader(`{}`))
	if resp == nil || resp.StatusCode != 401 {
		t.Fatalf("without token: %v, want 401", resp)
	}
	bypassed := runFake(t, "gateway", nil, "AIGW_AUTH__BYPASS_EXTERNAL=true")
	resp, _ = http.Post(bypassed+"/v1/prompts/model_configuration%2Fcheck", "application/json",
		strings.NewReader(`{"inputs":{},"model_metadata":{"name":"mistral","provider":"openai","endpoint":"http://127.0.0.1:1/v1","identifier":"custom_openai/x"}}`))
	if resp == nil || resp.StatusCode != 500 {
		t.Fatalf("bypassed, model unreachable: %v, want the gateway's 500", resp)
	}
}

// TestSwitchesOnRealEngine runs the images in the engine with each switch.
func TestSwitchesOnRealEngine(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ctx := context.Background()
	network := fmt.Sprintf("dbt-testbed-%d", time.Now().UnixNano()%1e9)
	labels := func(role string) map[string]string {
		return map[string]string{stack.LabelManaged: "true", stack.LabelStack: network, stack.LabelRole: role}
	}
	if err := eng.CreateNetwork(ctx, stack.Network{Name: network, Labels: labels(stack.RoleNetwork)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.API.NetworkRemove(context.Background(), network, client.NetworkRemoveOptions{}) })
	run := func(name string, kind testbed.Kind, tag string, env ...string) string {
		ref := bed.Ref(kind, tag)
		if err := eng.Pull(ctx, ref, "", nil); err != nil {
			t.Fatal(err)
		}
		c := stack.Container{Name: network + "-" + name, Image: ref, Env: env, Labels: labels(stack.RoleModel), Restart: "no",
			Health: stack.Health{Test: testbed.HealthCmd(kind), Interval: time.Second, Timeout: time.Second, Retries: 1}}
		id, err := eng.CreateContainer(ctx, c, network, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.API.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true}) })
		if err := eng.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	exits := run("exits", testbed.ModelServer, "v1", "DUOBOX_FAKE_EXIT_AFTER=500ms:7")
	fast := run("fast", testbed.Gateway, "v1", "DUOBOX_FAKE_LOG_FAST=200")
	hangs := run("hangs", testbed.ModelServer, "v1", "DUOBOX_FAKE_HANG=1")
	never := run("never", testbed.Gateway, "v3")
	time.Sleep(1500 * time.Millisecond)

	if st, _ := eng.Inspect(ctx, exits); st.Running || st.ExitCode != 7 {
		t.Errorf("EXIT_AFTER: state %+v, want exited with 7", st)
	}
	lines, _ := eng.Logs(ctx, fast, 10000)
	if len(lines) < 100 {
		t.Errorf("LOG_FAST=200: %d lines after 1.5 s", len(lines))
	}
	var jsonLines, plain int
	for _, l := range lines {
		var v map[string]any
		if !strings.HasPrefix(l, "{") {
			plain++ // the Duo Workflow Service's console lines, as in the real image
			continue
		}
		if json.Unmarshal([]byte(l), &v) != nil || v["message"] == nil || v["logger"] == nil || v["level"] == nil {
			t.Errorf("gateway line is not structlog-shaped JSON: %s", l)
		}
		jsonLines++
	}
	if jsonLines < 100 || plain == 0 {
		t.Errorf("gateway log: %d JSON lines, %d console lines; want both kinds", jsonLines, plain)
	}
	for _, c := range []struct {
		name string
		id   string
		kind testbed.Kind
	}{{"HANG", hangs, testbed.ModelServer}, {"v3 (never healthy)", never, testbed.Gateway}} {
		if code, err := eng.Exec(ctx, c.id, testbed.HealthCmd(c.kind)); err != nil || code == 0 {
			t.Errorf("%s: health command exit %d, %v; want a failure", c.name, code, err)
		}
		if st, _ := eng.Inspect(ctx, c.id); !st.Running || st.Health == "healthy" {
			t.Errorf("%s: state %+v, want running and not healthy", c.name, st)
		}
	}
}
