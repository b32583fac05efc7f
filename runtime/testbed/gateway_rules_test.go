package testbed_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
)

// standInGateway builds and starts the gateway stand-in as a process (the
// same program the test bed's image runs) with the self-signed key pair
// signing/validation; extra env is appended. It returns the gateway's URL.
func standInGateway(t *testing.T, signing, validation []byte, extra ...string) string {
	t.Helper()
	return startStandInGateway(t, signing, validation, extra...).url
}

// lockedBuffer is the process's output, read while it is written.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type gatewayProcess struct {
	url       string        // the HTTP side
	agentAddr string        // the Agent Platform's gRPC port, host:port
	logs      *lockedBuffer // stdout and stderr
}

func startStandInGateway(t *testing.T, signing, validation []byte, extra ...string) gatewayProcess {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	build := exec.Command("go", "build", "-o", bin, "./images/gateway")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	port, agentPort := freePort(t), freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{"AIGW_FASTAPI__API_PORT=" + strconv.Itoa(port), "PORT=" + strconv.Itoa(agentPort),
		"AIGW_SELF_SIGNED_JWT__SIGNING_KEY=" + string(signing), "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY=" + string(validation)}, extra...)
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/monitoring/healthz")
		if err == nil {
			resp.Body.Close()
			return gatewayProcess{url: url, agentAddr: "127.0.0.1:" + strconv.Itoa(agentPort), logs: logs}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway stand-in did not start: %v\n%s", err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func rsaPEM(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	return k, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// signJWT signs any header and claims (RS256), so tests can build tokens
// DuoBox never mints.
func signJWT(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// chatModel is a model server that answers chat completions (what the
// gateway's check calls) and completions (the smoke test's first step).
func chatModel(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat/completions":
			io.WriteString(w, `{"choices":[{"message":{"role":"assistant","content":"hello"}}]}`)
		case "/v1/completions":
			io.WriteString(w, `{"choices":[{"text":" return n"}]}`)
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t *testing.T, url string, hdr http.Header, body []byte) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestGatewayStandIn_RefusesWhatTheRealGatewayRefuses sends the check call
// with one thing wrong at a time and expects the real gateway's status and
// body (ai_gateway/api/middleware/authentication.py on_auth_error: 401
// {"error": …}; api/v1/prompts/invoke.py: 403/404 {"detail": …}; server.py
// validation_exception_handler: 422 {"detail": "Validation error"}).
func TestGatewayStandIn_RefusesWhatTheRealGatewayRefuses(t *testing.T) {
	signKey, signPEM := rsaPEM(t)
	valKey, valPEM := rsaPEM(t)
	otherKey, _ := rsaPEM(t)
	model := chatModel(t)
	gw := standInGateway(t, signPEM, valPEM)
	caller := deploy.DefaultCaller
	body := deploy.CheckBody("mistral", model.URL+"/v1", "custom_openai/m", "")
	good, err := deploy.MintCheckToken(signPEM, caller, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"iss": "gitlab-ai-gateway", "aud": "gitlab-ai-gateway", "sub": caller.UserID, "gitlab_realm": caller.Realm,
			"gitlab_instance_id": caller.InstanceID, "scopes": []string{"complete_code"}, "iat": now, "nbf": now, "exp": now + 60}
		change(c)
		return c
	}
	hdr := func(token string, change func(http.Header)) http.Header {
		h := deploy.CheckHeaders(token, caller)
		change(h)
		return h
	}
	keep := func(http.Header) {}
	rs256 := map[string]any{"alg": "RS256", "typ": "JWT", "kid": stack.GatewaySigningKeyID}
	url := gw + deploy.CheckRoute

	cases := []struct {
		name   string
		hdr    http.Header
		body   []byte
		status int
		want   string
	}{
		{"good token", hdr(good, keep), body, 200, `"hello"`},
		{"unencoded route", hdr(good, keep), body, 200, `"hello"`},
		{"token signed with the validation key", hdr(signJWT(t, valKey, rs256, claims(func(map[string]any) {})), keep), body, 200, `"hello"`},
		// python-jose tries every published key; the kid selects nothing (jose/jws.py _sig_matches_keys).
		{"any kid", hdr(signJWT(t, signKey, map[string]any{"alg": "RS256", "kid": "other"}, claims(func(map[string]any) {})), keep), body, 200, `"hello"`},
		{"no token", hdr("", keep), body, 401, `{"error":"No authorization header presented"}`},
		{"not bearer", hdr(good, func(h http.Header) { h.Set("Authorization", "Token "+good) }), body, 401, `{"error":"Invalid authorization header"}`},
		{"no authentication type", hdr(good, func(h http.Header) { h.Del("X-Gitlab-Authentication-Type") }), body, 401,
			`{"error":"Invalid authentication token type - only OIDC is supported"}`},
		{"key the gateway does not hold", hdr(signJWT(t, otherKey, rs256, claims(func(map[string]any) {})), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"wrong audience", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { c["aud"] = "gitlab-duo-workflow-service" })), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"no audience", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { delete(c, "aud") })), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"expired", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { c["exp"] = now - 5 })), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"not yet valid", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { c["nbf"] = now + 600 })), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"HS256", hdr(signJWT(t, signKey, map[string]any{"alg": "HS256"}, claims(func(map[string]any) {})), keep), body, 401, `{"error":"Forbidden by auth provider"}`},
		{"sub differs from X-Gitlab-Global-User-Id", hdr(good, func(h http.Header) { h.Set("X-Gitlab-Global-User-Id", "someone-else") }), body, 401,
			`{"error":"Header mismatch 'X-Gitlab-Global-User-Id'"}`},
		{"no X-Gitlab-Global-User-Id", hdr(good, func(h http.Header) { h.Del("X-Gitlab-Global-User-Id") }), body, 401,
			`{"error":"Header mismatch 'X-Gitlab-Global-User-Id'"}`},
		{"realm differs", hdr(good, func(h http.Header) { h.Set("X-Gitlab-Realm", "saas") }), body, 401, `{"error":"Header mismatch 'X-Gitlab-Realm'"}`},
		{"instance id differs", hdr(good, func(h http.Header) { h.Set("X-Gitlab-Instance-Id", "other") }), body, 401, `{"error":"Header mismatch 'X-Gitlab-Instance-Id'"}`},
		// A claim the token does not carry is not compared (the current gateway's test_authentication.py).
		{"no realm claim, any realm header", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { delete(c, "gitlab_realm") })),
			func(h http.Header) { h.Set("X-Gitlab-Realm", "saas") }), body, 200, `"hello"`},
		// Issued by someone else: sub is compared with X-Gitlab-Instance-Id.
		{"other issuer's sub against the instance id", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { c["iss"] = "gitlab.example.com" })), keep), body, 401,
			`{"error":"Header mismatch 'X-Gitlab-Instance-Id'"}`},
		{"no scopes", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { delete(c, "scopes") })), keep), body, 403,
			`{"detail":"Unauthorized to access 'model_configuration/check'"}`},
		{"another scope", hdr(signJWT(t, signKey, rs256, claims(func(c map[string]any) { c["scopes"] = []string{"duo_chat", "self_hosted_models"} })), keep), body, 403,
			`{"detail":"Unauthorized to access 'model_configuration/check'"}`},
		{"no inputs", hdr(good, keep), []byte(`{"stream":false,"model_metadata":{"name":"mistral","provider":"openai","endpoint":"http://m:8000/v1"}}`), 422, `{"detail":"Validation error"}`},
		{"model metadata without provider", hdr(good, keep), []byte(`{"inputs":{},"model_metadata":{"name":"mistral","endpoint":"http://m:8000/v1"}}`), 422, `{"detail":"Validation error"}`},
		{"endpoint not a URL", hdr(good, keep), []byte(`{"inputs":{},"model_metadata":{"name":"mistral","provider":"openai","endpoint":"duobox-model"}}`), 422, `{"detail":"Validation error"}`},
		{"not JSON", hdr(good, keep), []byte(`inputs`), 422, `{"detail":"Validation error"}`},
	}
	for _, c := range cases {
		u := url
		if c.name == "unencoded route" {
			u = gw + "/v1/prompts/model_configuration/check"
		}
		if status, got := post(t, u, c.hdr, c.body); status != c.status || got != c.want {
			t.Errorf("%s: got %d %s, want %d %s", c.name, status, got, c.status, c.want)
		}
	}
	if status, got := post(t, gw+"/v1/prompts/chat%2Fexplain_code", hdr(good, keep), body); status != 404 || got != `{"detail":"Prompt 'chat/explain_code' not found"}` {
		t.Errorf("unknown prompt: %d %s", status, got)
	}
}

// TestGatewayStandIn_DuoBoxTestPassesAndExplainsRefusals runs the smoke test
// (what `duobox test` and the Dashboard's Test run) against the strict
// stand-in: it passes with DuoBox's token, and a token without the scope or a
// header that disagrees fails with the scope or header named.
func TestGatewayStandIn_DuoBoxTestPassesAndExplainsRefusals(t *testing.T) {
	_, signPEM := rsaPEM(t)
	_, valPEM := rsaPEM(t)
	model := chatModel(t)
	gw := standInGateway(t, signPEM, valPEM)
	ctx := context.Background()
	token, err := deploy.MintCheckToken(signPEM, deploy.DefaultCaller, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	target := health.SmokeTarget{ModelURL: model.URL, ServedName: "m", GatewayURL: gw, ModelEndpoint: model.URL + "/v1", Family: "mistral", Token: token}
	if res := health.Smoke(ctx, nil, target); !res.OK || res.Steps[1].FirstTokens != "hello" {
		t.Fatalf("duobox test against the strict stand-in: %+v", res)
	}

	noScope := target
	noScope.Token, _ = stack.MintGatewayToken(signPEM, stack.GatewayClaims{Subject: deploy.DefaultCaller.UserID, Realm: "self-managed", InstanceID: "duobox"}, time.Minute)
	s := health.Smoke(ctx, nil, noScope).Steps[1]
	if s.OK || s.Status != 403 || !strings.Contains(s.Diagnosis, "lacks the scope complete_code that model_configuration/check needs (it has no scopes claim)") {
		t.Errorf("no scope: %+v", s)
	}

	otherUser := target
	otherUser.Caller = deploy.Caller{UserID: "someone-else", Realm: "self-managed", InstanceID: "duobox"}
	s = health.Smoke(ctx, nil, otherUser).Steps[1]
	if s.OK || s.Status != 401 || !strings.Contains(s.Diagnosis, `the token's sub claim ("duobox-smoke-test") and the header X-Gitlab-Global-User-Id disagree`) {
		t.Errorf("header disagrees: %+v", s)
	}

	otherRealm := target
	otherRealm.Caller = deploy.Caller{UserID: deploy.DefaultCaller.UserID, Realm: "saas", InstanceID: "duobox"}
	s = health.Smoke(ctx, nil, otherRealm).Steps[1]
	if s.OK || s.Status != 401 || !strings.Contains(s.Diagnosis, `gitlab_realm claim ("self-managed") and the header X-Gitlab-Realm disagree`) {
		t.Errorf("realm disagrees: %+v", s)
	}

	_, strangerPEM := rsaPEM(t)
	stranger := target
	stranger.Token, _ = deploy.MintCheckToken(strangerPEM, deploy.DefaultCaller, time.Minute)
	s = health.Smoke(ctx, nil, stranger).Steps[1]
	if s.OK || s.Status != 401 || !strings.Contains(s.Diagnosis, "so the signature failed") || !strings.Contains(s.Fix, "duobox up") {
		t.Errorf("unknown key: %+v", s)
	}
}

// TestAgentPlatformProbe_StandInGateway_SaysWhichHalfIsDown probes the
// Agent Platform's gRPC health (grpc.health.v1) on the stand-in: SERVING
// when it runs; when its start fails on the JWKS ("Could not prefetch
// keys"), the probe finds nothing listening, the log line is recognised, and
// the assessment says the Agent Platform half is down while the HTTP half
// answers, and why.
func TestAgentPlatformProbe_StandInGateway_SaysWhichHalfIsDown(t *testing.T) {
	_, signPEM := rsaPEM(t)
	ctx := context.Background()
	var p health.Prober

	up := startStandInGateway(t, signPEM, signPEM)
	if pr := p.AgentPlatform(ctx, up.agentAddr); !pr.OK || pr.Detail != "SERVING" || !pr.Connected {
		t.Fatalf("serving stand-in: %+v\n%s", pr, up.logs.String())
	}

	down := startStandInGateway(t, signPEM, signPEM, "DUOBOX_FAKE_AGENT_KEYS_UNREACHABLE=1")
	httpHalf := p.Gateway(ctx, down.url)
	agentHalf := p.AgentPlatform(ctx, down.agentAddr)
	if !httpHalf.OK || agentHalf.OK || agentHalf.Connected || !strings.Contains(agentHalf.Detail, "nothing listens on the Agent Platform port") {
		t.Fatalf("http %+v agent %+v", httpHalf, agentHalf)
	}
	var events []logs.Event
	for _, line := range strings.Split(down.logs.String(), "\n") {
		if e := logs.Builtin().Recognise(line); e != nil {
			events = append(events, *e)
		}
	}
	now := time.Now()
	states := map[string]engine.ContainerState{}
	for _, role := range []string{stack.RoleModel, stack.RoleGateway} {
		states[role] = engine.ContainerState{Name: "duobox-" + role, Exists: true, Running: true, Status: "running", StartedAt: now.Add(-time.Minute)}
	}
	status, reason, fix := health.Assess(states, []health.Probe{httpHalf, agentHalf}, map[string][]logs.Event{stack.RoleGateway: events}, now, 15*time.Minute)
	if status != health.StatusDegraded ||
		!strings.Contains(reason, "the Agent Platform (Duo Workflow Service, gRPC health on "+down.agentAddr+") is down while the gateway's HTTP side answers") ||
		!strings.Contains(reason, "could not fetch the keys that check GitLab's tokens (Could not prefetch keys)") || !strings.Contains(fix, "duobox restart gateway") {
		t.Errorf("assessment: %s %q %q (events %+v)", status, reason, fix, events)
	}

	// Without the log line, a silent port shortly after the start is "starting", later "degraded".
	if st, _, _ := health.Assess(states, []health.Probe{httpHalf, agentHalf}, nil, now, 15*time.Minute); st != health.StatusStarting {
		t.Errorf("fresh container without a log line: %s", st)
	}
	old := states
	g := old[stack.RoleGateway]
	g.StartedAt = now.Add(-time.Hour)
	old[stack.RoleGateway] = g
	if st, why, _ := health.Assess(old, []health.Probe{httpHalf, agentHalf}, nil, now, 15*time.Minute); st != health.StatusDegraded || !strings.Contains(why, "is down while the gateway's HTTP side answers: nothing listens") {
		t.Errorf("old container without a log line: %s %q", st, why)
	}

	// Something that is not gRPC on the port is said so.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }))
	defer plain.Close()
	if pr := p.AgentPlatform(ctx, strings.TrimPrefix(plain.URL, "http://")); pr.OK || !pr.Connected {
		t.Errorf("plain HTTP/1 server on the port: %+v", pr)
	}
}

// TestGatewayStandIn_LogToFileTakesTheLinesOffStdout pins what
// AIGW_LOGGING__TO_FILE does in the real gateway (structured_logging.py: a
// FileHandler replaces the stdout handler): the gateway's JSON lines go to
// the file and no longer to stdout, where 'docker logs' (and so DuoBox's log
// view and health reasons) read them; the Agent Platform's lines stay on
// stdout. An unwritable file stops the start.
func TestGatewayStandIn_LogToFileTakesTheLinesOffStdout(t *testing.T) {
	_, signPEM := rsaPEM(t)
	file := filepath.Join(t.TempDir(), "aigateway.log")
	gw := startStandInGateway(t, signPEM, signPEM, "AIGW_LOGGING__TO_FILE="+file)
	resp, err := http.Get(gw.url + "/monitoring/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(200 * time.Millisecond)
	b, _ := os.ReadFile(file)
	out := gw.logs.String()
	if !strings.Contains(string(b), `"logger":"api.access"`) || !strings.Contains(string(b), "Uvicorn running on") {
		t.Errorf("the log file lacks the gateway's lines:\n%s", b)
	}
	if strings.Contains(out, `"logger":"api.access"`) || strings.Contains(out, "Uvicorn running on") || !strings.Contains(out, "Duo Workflow Service listening") {
		t.Errorf("stdout:\n%s", out)
	}

	bin := filepath.Join(t.TempDir(), "gateway")
	if b, err := exec.Command("go", "build", "-o", bin, "./images/gateway").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"AIGW_LOGGING__TO_FILE=" + filepath.Join(t.TempDir(), "missing", "aigateway.log"), "AIGW_FASTAPI__API_PORT=" + strconv.Itoa(freePort(t)), "PORT=" + strconv.Itoa(freePort(t))}
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "Errno") {
		t.Errorf("an unopenable log file: %v %s", err, b)
	}
}
