package docker_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/testbed"
)

// TestSmokeAndHealth_TestBedStack runs the test bed's model server (not
// published on the host) and gateway on a labelled network, then runs the
// health check and the smoke test exactly as `duobox health` and `duobox
// test` do: the model is reached through its bridge address, the gateway
// through its published port with a token signed by its self-signed key.
func TestSmokeAndHealth_TestBedStack(t *testing.T) {
	eng := testbed.Engine(t)
	bed := testbed.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stackName := fmt.Sprintf("dbt-smoke-%d", time.Now().UnixNano()%1e9)
	labels := func(role string) map[string]string {
		return map[string]string{stack.LabelManaged: "true", stack.LabelStack: stackName, stack.LabelRole: role}
	}
	if err := eng.CreateNetwork(ctx, stack.Network{Name: stackName, Labels: labels(stack.RoleNetwork)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = eng.API.NetworkRemove(context.Background(), stackName, client.NetworkRemoveOptions{}) })

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	port := lgFreePort(t)
	model := stack.Container{Name: stack.ModelContainerName(stackName, 0), Role: stack.RoleModel, Image: bed.Ref(testbed.ModelServer, "v1"),
		Cmd: []string{"--model", "mistralai/Mistral-7B-Instruct-v0.3", "--served-model-name", "mistral-7b"}, Labels: labels(stack.RoleModel),
		Health: stack.Health{Test: testbed.HealthCmd(testbed.ModelServer), Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 20}}
	gateway := stack.Container{Name: stack.GatewayContainerName(stackName), Role: stack.RoleGateway, Image: bed.Ref(testbed.Gateway, "v1"),
		Env: []string{"AIGW_FASTAPI__API_PORT=5052", "AIGW_SELF_SIGNED_JWT__SIGNING_KEY=" + string(keyPEM)}, Labels: labels(stack.RoleGateway),
		Ports:  []stack.Port{{HostIP: "127.0.0.1", HostPort: port, ContainerPort: 5052}},
		Health: stack.Health{Test: []string{"CMD", "/gateway", "healthcheck", "5052"}, Interval: 500 * time.Millisecond, Timeout: 2 * time.Second, Retries: 20}}
	for _, c := range []stack.Container{model, gateway} {
		if err := eng.Pull(ctx, c.Image, "", nil); err != nil {
			t.Fatal(err)
		}
		id, err := eng.CreateContainer(ctx, c, stackName, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_, _ = eng.API.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
		})
		if err := eng.Start(ctx, id); err != nil {
			t.Fatal(err)
		}
	}

	gatewayURL := "http://127.0.0.1:" + strconv.Itoa(port)
	checker := &health.Checker{Engine: eng, Target: health.Target{Stack: stackName, ServedName: "mistral-7b", GatewayURL: gatewayURL}}
	var r health.Report
	for {
		if r, err = checker.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if r.Status == health.StatusOK || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if r.Status != health.StatusOK || len(r.Probes) != 3 {
		t.Fatalf("health: %s %q probes %+v", r.Status, r.Reason, r.Probes)
	}

	m, err := eng.ManagedContainer(ctx, stackName, stack.RoleModel)
	if err != nil || m.IPAddress == "" {
		t.Fatalf("model container %+v %v", m, err)
	}
	token, err := deploy.MintCheckToken(keyPEM, deploy.DefaultCaller, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	target := health.SmokeTarget{ModelURL: "http://" + net.JoinHostPort(m.IPAddress, "8000"), ServedName: "mistral-7b",
		GatewayURL: gatewayURL, ModelEndpoint: stack.ModelEndpoint(stackName, 0), Family: "mistral", Token: token}
	res := health.Smoke(ctx, nil, target)
	if !res.OK || res.Steps[0].FirstTokens == "" || res.Steps[1].FirstTokens == "" {
		t.Fatalf("smoke: %+v", res)
	}

	wrong := target
	wrong.ServedName = "wrong-name"
	res = health.Smoke(ctx, nil, wrong)
	if s := res.Steps[1]; res.OK || s.Status != 421 || !strings.Contains(s.Diagnosis, "the model answered with an error") {
		t.Errorf("wrong name through the gateway: %+v", s)
	}
	noToken := target
	noToken.Token = ""
	if s := health.Smoke(ctx, nil, noToken).Steps[1]; s.Status != 401 || s.Fix == "" {
		t.Errorf("no token: %+v", s)
	}
}

func lgFreePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
