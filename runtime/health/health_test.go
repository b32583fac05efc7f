package health

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/runtime/logs"
)

// fakeModelServer answers like vLLM's OpenAI server for one served name.
func fakeModelServer(t *testing.T, served string, healthStatus int) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(healthStatus) })
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"object":"list","data":[{"id":"`+served+`","object":"model"}]}`)
	})
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Model != served {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"object":"error","message":"The model `+"`"+req.Model+"`"+` does not exist.","code":404}`)
			return
		}
		io.WriteString(w, `{"choices":[{"text":"\n    if n < 2:\n        return n"}]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// refusedURL is an address where nothing listens.
func refusedURL(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestProbes_FakeModelServerAndGateway(t *testing.T) {
	ctx := context.Background()
	p := Prober{}
	model := fakeModelServer(t, "codestral", 200)
	probes := p.Model(ctx, model.URL, "codestral")
	if !probes[0].OK || !probes[1].OK || probes[1].Detail != "serves codestral" {
		t.Fatalf("healthy model: %+v", probes)
	}
	probes = p.Model(ctx, model.URL, "mistral")
	if probes[1].OK || !strings.Contains(probes[1].Detail, `serves "codestral", not "mistral"`) || probes[1].Fix == "" {
		t.Errorf("wrong served name: %+v", probes[1])
	}
	loading := fakeModelServer(t, "x", 503)
	if pr := p.Model(ctx, loading.URL, "x")[0]; pr.OK || pr.Status != 503 || !pr.Connected {
		t.Errorf("loading model: %+v", pr)
	}
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/monitoring/healthz" {
			w.WriteHeader(404)
		}
	}))
	defer gw.Close()
	if pr := p.Gateway(ctx, gw.URL); !pr.OK {
		t.Errorf("gateway: %+v", pr)
	}
	pr := p.Gateway(ctx, refusedURL(t))
	if pr.OK || pr.Connected || !strings.Contains(pr.Detail, "connection refused") {
		t.Errorf("refused: %+v", pr)
	}
}

const gatewayAudience = "gitlab-ai-gateway" // facts: gitlab-ai-gateway.md §8

func testKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// TestGatewayToken_ClaimsTheGatewayChecks pins what the smoke test's token
// (minted by app/deploy with the gateway's self-signed key) carries for the
// gateway: RS256, iss = aud = gitlab-ai-gateway, the key id the gateway
// publishes, sub/realm/instance id equal to the headers sent with it, the
// scope complete_code, a short life.
func TestGatewayToken_ClaimsTheGatewayChecks(t *testing.T) {
	key, pemKey := testKey(t)
	now := time.Now()
	tok, err := deploy.MintCheckToken(pemKey, deploy.DefaultCaller, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithAudience(gatewayAudience), jwt.WithIssuer(gatewayAudience), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatal(err)
	}
	c := parsed.Claims.(jwt.MapClaims)
	exp, _ := c.GetExpirationTime()
	hdr := deploy.CheckHeaders(tok, deploy.DefaultCaller)
	if parsed.Header["kid"] != "gitlab-ai-gateway_signing_key" || exp.Sub(now) > time.Minute+time.Second {
		t.Errorf("header %v claims %v", parsed.Header, c)
	}
	if c["sub"] != hdr.Get("X-Gitlab-Global-User-Id") || c["gitlab_realm"] != hdr.Get("X-Gitlab-Realm") || c["gitlab_instance_id"] != hdr.Get("X-Gitlab-Instance-Id") || c["sub"] != SmokeSubject {
		t.Errorf("claims %v disagree with headers %v", c, hdr)
	}
	if sc, _ := c["scopes"].([]any); len(sc) != 1 || sc[0] != "complete_code" {
		t.Errorf("scopes = %v, want [complete_code]", c["scopes"])
	}
	if hdr.Get("X-Gitlab-Unit-Primitive") != "" || hdr.Get("X-Gitlab-Authentication-Type") != "oidc" {
		t.Errorf("headers %v", hdr)
	}
	other, _ := testKey(t)
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return &other.PublicKey, nil }); err == nil {
		t.Error("a token verifies with another key")
	}
	if _, err := deploy.MintCheckToken([]byte("not a key"), deploy.DefaultCaller, time.Minute); err == nil {
		t.Error("accepted a bad key")
	}
}

// TestExplainGatewayRefusal_NamesScopeClaimAndHeader: each refusal the
// gateway's authentication and the check route give is explained from what
// the gateway said and the token sent, never guessed.
func TestExplainGatewayRefusal_NamesScopeClaimAndHeader(t *testing.T) {
	_, pemKey := testKey(t)
	good, _ := deploy.MintCheckToken(pemKey, deploy.DefaultCaller, time.Minute)
	noScope, _ := stack.MintGatewayToken(pemKey, stack.GatewayClaims{Subject: "duobox-smoke-test", Scopes: []string{"duo_chat"}}, time.Minute)
	expired, _ := deploy.MintCheckToken(pemKey, deploy.DefaultCaller, -time.Minute)
	cases := []struct {
		status      int
		detail, tok string
		diag, fix   string
	}{
		{403, "Unauthorized to access 'model_configuration/check'", noScope, "lacks the scope complete_code that model_configuration/check needs (it has scopes duo_chat)", "complete_code"},
		{403, "Unauthorized to access 'model_configuration/check'", good, "although the token's scopes list complete_code", "gateway tag"},
		{401, "Header mismatch 'X-Gitlab-Global-User-Id'", good, `the token's sub claim ("duobox-smoke-test") and the header X-Gitlab-Global-User-Id disagree`, "same caller"},
		{401, "Header mismatch 'X-Gitlab-Realm'", good, `gitlab_realm claim ("self-managed") and the header X-Gitlab-Realm disagree`, "same caller"},
		{401, "Header mismatch 'X-Gitlab-Instance-Id'", good, `gitlab_instance_id claim ("duobox") and the header X-Gitlab-Instance-Id`, "same caller"},
		{401, "Forbidden by auth provider", good, "audience and validity are right, so the signature failed", "key pair"},
		{401, "Forbidden by auth provider", expired, "it expired at", "again"},
		{401, "No authorization header presented", "", "DuoBox sent none", "duobox init"},
		{401, "Invalid authentication token type - only OIDC is supported", good, "X-Gitlab-Authentication-Type must be 'oidc'", "bug"},
	}
	for _, c := range cases {
		d, f := ExplainGatewayRefusal(c.status, c.detail, c.tok)
		if !strings.Contains(d, c.diag) || !strings.Contains(f, c.fix) {
			t.Errorf("%d %q:\n diagnosis %q\n fix %q", c.status, c.detail, d, f)
		}
	}
}

// fakeGateway answers the check route like the AI Gateway: it verifies the
// token with the public key and calls the model server at the endpoint given.
func fakeGateway(t *testing.T, pub *rsa.PublicKey, modelURL string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.RequestURI != deploy.CheckRoute || r.Method != http.MethodPost {
			w.WriteHeader(404)
			return
		}
		auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if _, err := jwt.Parse(auth, func(*jwt.Token) (any, error) { return pub, nil }, jwt.WithAudience(gatewayAudience)); err != nil || r.Header.Get("X-Gitlab-Authentication-Type") != "oidc" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error": "Forbidden by auth provider"}`)
			return
		}
		var body struct {
			ModelMetadata struct{ Endpoint, Identifier string } `json:"model_metadata"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		name := strings.TrimPrefix(body.ModelMetadata.Identifier, "custom_openai/")
		resp, err := http.Post(modelURL+"/v1/completions", "application/json", strings.NewReader(`{"model":"`+name+`","prompt":"x"}`))
		if err != nil {
			w.WriteHeader(500)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			w.WriteHeader(421)
			io.WriteString(w, `{"detail": "404: Not Found"}`)
			return
		}
		io.WriteString(w, `"Hello from the model"`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSmoke_FakeModelServerAndFakeGateway(t *testing.T) {
	ctx := context.Background()
	key, pemKey := testKey(t)
	model := fakeModelServer(t, "codestral", 200)
	gw := fakeGateway(t, &key.PublicKey, model.URL)
	tok, err := deploy.MintCheckToken(pemKey, deploy.DefaultCaller, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	target := SmokeTarget{ModelURL: model.URL, ServedName: "codestral", GatewayURL: gw.URL, ModelEndpoint: "http://duobox-model:8000/v1", Family: "codestral", Token: tok}

	res := Smoke(ctx, nil, target)
	if !res.OK || !strings.Contains(res.Steps[0].FirstTokens, "if n < 2") || res.Steps[1].FirstTokens != "Hello from the model" || res.Steps[0].Latency <= 0 {
		t.Fatalf("good stack: %+v", res)
	}

	wrongName := target
	wrongName.ServedName = "mistral"
	res = Smoke(ctx, nil, wrongName)
	if res.OK || !strings.Contains(res.Steps[0].Diagnosis, `does not serve "mistral"`) {
		t.Errorf("completion with a wrong name: %+v", res.Steps[0])
	}
	if s := res.Steps[1]; s.Status != 421 || !strings.Contains(s.Diagnosis, "the model answered with an error: 404: Not Found") || !strings.Contains(s.Fix, "custom_openai/mistral") {
		t.Errorf("421: %+v", s)
	}

	_, otherPEM := testKey(t)
	badTok, _ := deploy.MintCheckToken(otherPEM, deploy.DefaultCaller, time.Minute)
	badAuth := target
	badAuth.Token = badTok
	if s := Smoke(ctx, nil, badAuth).Steps[1]; s.Status != 401 || !strings.Contains(s.Diagnosis, "so the signature failed") || !strings.Contains(s.Fix, "key pair") {
		t.Errorf("401: %+v", s)
	}

	down := target
	down.ModelURL, down.GatewayURL = refusedURL(t), refusedURL(t)
	res = Smoke(ctx, nil, down)
	for _, s := range res.Steps {
		if s.OK || !strings.Contains(s.Diagnosis, "connection refused") || s.Fix == "" {
			t.Errorf("refused: %+v", s)
		}
	}
}

func TestAssess_WorstFindingWinsWithReason(t *testing.T) {
	now := time.Now()
	running := func(role string) engine.ContainerState {
		return engine.ContainerState{Name: "duobox-" + role, Exists: true, Running: true, Status: "running", StartedAt: now.Add(-time.Hour)}
	}
	kv := logs.Builtin().Recognise("ValueError: To serve at least one request with the model's max seq len (32768), (4.00 GiB KV cache is needed, which is larger than the available KV cache memory (2.10 GiB). Based on the available memory, the estimated maximum model length is 17200.")
	ok := []Probe{{Name: "model_health", OK: true}, {Name: "gateway_healthz", OK: true}}
	cases := []struct {
		name    string
		states  map[string]engine.ContainerState
		probes  []Probe
		events  map[string][]logs.Event
		status  Status
		reason  string
		fixHave string
	}{
		{"nothing", map[string]engine.ContainerState{}, nil, nil, StatusNotDeployed, "no DuoBox containers", "duobox up"},
		{"all good", map[string]engine.ContainerState{stack.RoleModel: running("model"), stack.RoleGateway: running("gateway")}, ok, nil, StatusOK, "both containers run", ""},
		{"model exited with a known error", map[string]engine.ContainerState{
			stack.RoleModel:   {Name: "duobox-model", Exists: true, Status: "exited", ExitCode: 1, Restarts: 2},
			stack.RoleGateway: running("gateway")}, nil, map[string][]logs.Event{stack.RoleModel: {*kv}},
			StatusDown, "exited with code 1 and was restarted 2 times: The KV cache cannot hold", "max_model_len to 17200"},
		{"oom killed", map[string]engine.ContainerState{
			stack.RoleModel:   {Name: "duobox-model", Exists: true, Status: "exited", ExitCode: 137, OOMKilled: true},
			stack.RoleGateway: running("gateway")}, nil, nil, StatusDown, "killed for using more memory", "more memory"},
		{"model loading", map[string]engine.ContainerState{
			stack.RoleModel:   {Name: "duobox-model", Exists: true, Running: true, Status: "running", Health: "starting", StartedAt: now.Add(-time.Minute)},
			stack.RoleGateway: running("gateway")}, []Probe{{Name: "model_health", Detail: "connection refused"}}, nil, StatusStarting, "the model is starting", "wait"},
		{"served name wrong", map[string]engine.ContainerState{stack.RoleModel: running("model"), stack.RoleGateway: running("gateway")},
			[]Probe{{Name: "model_health", OK: true}, {Name: "model_served_name", Connected: true, Status: 200, Detail: `serves "a", not "b"`, Fix: "redeploy"}}, nil,
			StatusDegraded, `model_served_name failed: serves "a", not "b"`, "redeploy"},
		{"docker health pending, probes pass", map[string]engine.ContainerState{
			stack.RoleModel:   {Name: "duobox-model", Exists: true, Running: true, Status: "running", Health: "starting", StartedAt: now},
			stack.RoleGateway: running("gateway")}, ok, nil, StatusOK, "both containers run", ""},
		{"docker health pending, no probe", map[string]engine.ContainerState{
			stack.RoleModel:   running("model"),
			stack.RoleGateway: {Name: "duobox-gateway", Exists: true, Running: true, Status: "running", Health: "starting", StartedAt: now}},
			[]Probe{{Name: "model_health", OK: true}}, nil, StatusStarting, "gateway container's health check has not passed", "wait"},
		{"gateway missing", map[string]engine.ContainerState{stack.RoleModel: running("model")}, nil, nil, StatusDown, "gateway container does not exist", "duobox up"},
		{"docker unhealthy for its own reason", map[string]engine.ContainerState{
			stack.RoleModel:   {Name: "duobox-model", Exists: true, Running: true, Status: "running", Health: "unhealthy", HealthLog: "urlopen error timed out", StartedAt: now},
			stack.RoleGateway: running("gateway")}, ok, nil, StatusDegraded, "Docker reports the model container unhealthy: urlopen error timed out", "duobox logs model"},
		// An image without python3: Docker's check cannot run; DuoBox's probes from outside are the check.
		{"image without the health command, probes pass", map[string]engine.ContainerState{
			stack.RoleModel: {Name: "duobox-model", Exists: true, Running: true, Status: "running", Health: "unhealthy",
				HealthLog: `OCI runtime exec failed: exec failed: unable to start container process: exec: "python3": executable file not found in $PATH: unknown`, StartedAt: now},
			stack.RoleGateway: running("gateway")}, ok, nil, StatusOK, "both containers run", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, reason, fix := Assess(c.states, c.probes, c.events, now, 15*time.Minute)
			if st != c.status || !strings.Contains(reason, c.reason) || !strings.Contains(fix, c.fixHave) {
				t.Fatalf("got %s %q %q", st, reason, fix)
			}
		})
	}
}

func TestRecorder_RealSQLiteFile(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec := Recorder{Store: st}
	t0 := time.Now().Add(-time.Minute).UTC()
	util := 42.0
	for i, s := range []Status{StatusStarting, StatusOK} {
		r := Report{Time: t0.Add(time.Duration(i) * time.Second), Stack: "s1", Status: s, Reason: string(s),
			GPUs: []GPUSample{{Index: 0, MemoryUsed: 1 << 30, MemoryTotal: 24 << 30, UtilizationPct: &util, Source: "nvidia-smi"}}}
		if err := rec.SaveReport(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := rec.History(ctx, "s1", t0.Add(-time.Second))
	if err != nil || len(hist) != 2 || hist[1].Status != StatusOK {
		t.Fatalf("history %+v %v", hist, err)
	}
	gpu, err := rec.GPUHistory(ctx, 0, t0.Add(-time.Second))
	if err != nil || len(gpu) != 2 || *gpu[0].UtilizationPct != 42 || gpu[0].MemoryTotal != 24<<30 {
		t.Fatalf("gpu %+v %v", gpu, err)
	}
	rs := logs.Builtin()
	for i, line := range []string{"Available KV cache memory: 5.62 GiB", "GPU KV cache size: 46,032 tokens", "Maximum concurrency for 32,768 tokens per request: 1.40x", "torch.OutOfMemoryError: CUDA out of memory."} {
		if err := rec.SaveEvent(ctx, "s1", stack.RoleModel, "duobox-model", t0.Add(time.Duration(i)*time.Second), *rs.Recognise(line)); err != nil {
			t.Fatal(err)
		}
	}
	// The same line seen again (a re-scan) is stored once.
	if err := rec.SaveEvent(ctx, "s1", stack.RoleModel, "duobox-model", t0, *rs.Recognise("Available KV cache memory: 5.62 GiB")); err != nil {
		t.Fatal(err)
	}
	if stored, err := rec.RecentEvents(ctx, "s1", stack.RoleModel, 100); err != nil || len(stored) != 4 {
		t.Fatalf("%d events stored, want 4 (%v)", len(stored), err)
	}
	capacity, err := rec.LatestCapacity(ctx, "s1")
	if err != nil || capacity.KVCacheGiB != 5.62 || capacity.KVCacheTokens != 46032 || capacity.MaxConcurrency != 1.4 {
		t.Fatalf("capacity %+v %v", capacity, err)
	}
	evs, err := rec.RecentEvents(ctx, "s1", stack.RoleModel, 2)
	if err != nil || len(evs) != 2 || evs[1].Kind != "cuda_out_of_memory" || evs[1].Severity != logs.LevelError {
		t.Fatalf("events %+v %v", evs, err)
	}
}

func TestParseNvidiaSMISample_SavedOutputs(t *testing.T) {
	out := "index, name, memory.total [MiB], memory.used [MiB], memory.free [MiB], utilization.gpu [%]\n0, NVIDIA H100 80GB HBM3, 81559 MiB, 70123 MiB, 11436 MiB, 97 %\n1, NVIDIA RTX 4090, 24564 MiB, 1 MiB, 24563 MiB, [N/A]\n"
	s, err := ParseNvidiaSMISample([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 2 || s[0].MemoryUsed != 70123<<20 || *s[0].UtilizationPct != 97 || s[1].UtilizationPct != nil || s[1].Name != "NVIDIA RTX 4090" {
		t.Fatalf("%+v", s)
	}
	if _, err := ParseNvidiaSMISample([]byte("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.")); err == nil {
		t.Error("driver failure parsed")
	}
}
