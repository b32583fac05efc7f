// Command gateway is DuoBox's test stand-in for the GitLab AI Gateway image:
// a static program, run in a scratch image, with the routes DuoBox relies on —
// GET /monitoring/healthz (no auth), POST /v1/prompts/model_configuration%2Fcheck
// (really calls the model server named in the body, over the container
// network, and maps its errors to 421 as the real gateway does) — structlog-like
// JSON log lines, and the Agent Platform's gRPC health on its port (agent.go). It exists
// for tests only and never ships.
//
// It listens on AIGW_FASTAPI__API_PORT (default 5000, as the real code) and on
// PORT (default 50052). Routes other than /monitoring/* need either
// AIGW_AUTH__BYPASS_EXTERNAL=true or what the real gateway's authentication
// wants (rules.go: a Bearer JWT signed (RS256) with the key in
// AIGW_SELF_SIGNED_JWT__SIGNING_KEY or __VALIDATION_KEY, audience
// gitlab-ai-gateway, claims agreeing with the X-Gitlab-* headers, and the
// prompt's unit primitive in its scopes).
// The DUOBOX_FAKE_* switches of the model server apply here too.
//
// "gateway healthcheck [port]" is the image's health command.
package main

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/duobox/duobox/runtime/testbed/images/fake"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		port := env("AIGW_FASTAPI__API_PORT", "5000")
		if len(os.Args) > 2 {
			port = os.Args[2]
		}
		os.Exit(fake.HealthCheck("http://127.0.0.1:" + port + "/monitoring/healthz"))
	}
	sw := fake.ReadSwitches()
	// ai_gateway/structured_logging.py setup_logging: with logging.to_file
	// (AIGW_LOGGING__TO_FILE) the root logger's only handler is a
	// logging.FileHandler(Path(to_file).resolve(), mode="a"), *instead of*
	// the StreamHandler: the gateway's lines then leave stdout (and so
	// 'docker logs'); a file it cannot open stops the start with the
	// exception. The Duo Workflow Service (agent.go) keeps its own stdout.
	if path := os.Getenv("AIGW_LOGGING__TO_FILE"); path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(os.Stderr, "FileNotFoundError: [Errno 2] No such file or directory: '%s'\n", path)
			} else {
				fmt.Fprintf(os.Stderr, "PermissionError: [Errno 13] Permission denied: '%s'\n", path)
			}
			os.Exit(1)
		}
		logOut = f
	}
	port := env("AIGW_FASTAPI__API_PORT", "5000")
	logJSON("info", "main", "starting AI gateway (DuoBox test stand-in "+os.Getenv("DUOBOX_FAKE_VERSION")+")", map[string]any{
		"gitlab_url": os.Getenv("AIGW_GITLAB_URL"), "gitlab_api_url": os.Getenv("AIGW_GITLAB_API_URL"),
		"custom_models_enabled": os.Getenv("AIGW_CUSTOM_MODELS__ENABLED")})
	bypass := os.Getenv("AIGW_AUTH__BYPASS_EXTERNAL") == "true"
	if bypass {
		logJSON("critical", "auth", "Auth is disabled, all users allowed", nil)
	}
	if sw.CrashCode != 0 {
		logJSON("error", "exceptions", "pydantic_core._pydantic_core.ValidationError: 1 validation error for Config", nil)
		os.Exit(sw.CrashCode)
	}
	sw.Background(func(i int) { logJSON("info", "api.access", fmt.Sprintf("fast log line %d", i), nil) })
	if sw.Hang {
		fake.Forever()
	}
	time.Sleep(sw.StartupDelay)
	keys := loadKeys("AIGW_SELF_SIGNED_JWT__SIGNING_KEY", "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /monitoring/healthz", func(w http.ResponseWriter, r *http.Request) {
		if sw.NeverHealthy {
			fake.WriteJSON(w, 503, map[string]string{"status": "unhealthy"})
			return
		}
		fake.WriteJSON(w, 200, map[string]string{"status": "ok"})
	})
	// ai_gateway/config.py: cloud_connector_service_name = "gitlab-ai-gateway"
	// (AIGW_CLOUD_CONNECTOR_SERVICE_NAME), the audience and self-signed issuer.
	serviceName := env("AIGW_CLOUD_CONNECTOR_SERVICE_NAME", "gitlab-ai-gateway")
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// MiddlewareAuthentication runs before routing for every path but
		// /monitoring/* (ai_gateway/api/middleware/authentication.py); with
		// bypass the user is a debug user (auth.authenticate(bypass_auth=True)).
		user := &userClaims{Debug: true}
		if !bypass {
			c, refusal := authenticate(r.Header, keys, serviceName, time.Now())
			if refusal != "" {
				fake.WriteJSON(w, 401, map[string]string{"error": refusal})
				return
			}
			user = c
		}
		id, isPrompt := promptID(r)
		if r.Method != http.MethodPost || !isPrompt {
			fake.WriteJSON(w, 404, map[string]string{"detail": "Not Found"})
			return
		}
		// FastAPI validates the body before the handler runs: 422 first.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		req, ok := validatePrompt(body)
		if !ok {
			fake.WriteJSON(w, 422, map[string]string{"detail": "Validation error"})
			return
		}
		// ai_gateway/api/v1/prompts/invoke.py: KeyError → 404 "Prompt '<id>' not found";
		// WrongUnitPrimitives (prompts/base.py get_on_behalf: not user.can(unit_primitive))
		// → 403 "Unauthorized to access '<id>'".
		unitPrimitive, known := promptUnitPrimitives[id]
		if !known {
			fake.WriteJSON(w, 404, map[string]string{"detail": fmt.Sprintf("Prompt '%s' not found", id)})
			return
		}
		if !user.can(unitPrimitive) {
			logJSON("warning", "api.access", "Unauthorized to access '"+id+"'", map[string]any{"unit_primitive": unitPrimitive, "scopes": user.Scopes})
			fake.WriteJSON(w, 403, map[string]string{"detail": fmt.Sprintf("Unauthorized to access '%s'", id)})
			return
		}
		checkModel(w, r, req)
	})
	go serveAgentPlatform(env("PORT", "50052"))
	sw.ExitLater()
	logJSON("info", "uvicorn.error", "Uvicorn running on http://0.0.0.0:"+port, nil)
	srv := &http.Server{Addr: ":" + port, Handler: fake.AccessLog(mux, func(r *http.Request, status int, d time.Duration) {
		logJSON("info", "api.access", fmt.Sprintf("%s - \"%s %s HTTP/1.1\" %d", r.RemoteAddr, r.Method, r.URL.EscapedPath(), status), map[string]any{
			"path": r.URL.EscapedPath(), "method": r.Method, "status_code": status, "duration_s": d.Seconds(),
			"correlation_id": r.Header.Get("X-Request-ID"), "user_agent": r.UserAgent()})
	})}
	if err := srv.ListenAndServe(); err != nil {
		logJSON("error", "main", err.Error(), nil)
		os.Exit(1)
	}
}

// checkModel does what GitLab's "Test connection" asks: one short chat call.
func checkModel(w http.ResponseWriter, r *http.Request, req *promptRequest) {
	var md struct{ Endpoint, APIKey, Identifier string }
	if m := req.ModelMetadata; m != nil {
		for dst, src := range map[*string]*string{&md.Endpoint: m.Endpoint, &md.APIKey: m.APIKey, &md.Identifier: m.Identifier} {
			if src != nil {
				*dst = *src
			}
		}
	}
	model := strings.TrimPrefix(md.Identifier, "custom_openai/")
	body, _ := json.Marshal(map[string]any{"model": model, "max_tokens": 16,
		"messages": []map[string]string{{"role": "user", "content": "Respond with 'hello'"}}})
	call, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, strings.TrimRight(md.Endpoint, "/")+"/chat/completions", bytes.NewReader(body))
	call.Header.Set("Content-Type", "application/json")
	if md.APIKey != "" {
		call.Header.Set("Authorization", "Bearer "+md.APIKey)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(call)
	if err != nil {
		logJSON("error", "exceptions", "model request failed: "+err.Error(), nil)
		fake.WriteJSON(w, 500, map[string]string{"detail": err.Error()})
		return
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		fake.WriteJSON(w, http.StatusMisdirectedRequest, map[string]string{"detail": fmt.Sprintf("%d: %s", resp.StatusCode, http.StatusText(resp.StatusCode))})
		return
	}
	var out struct {
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(data, &out); err != nil || len(out.Choices) == 0 {
		fake.WriteJSON(w, 500, map[string]string{"detail": "model reply is not a chat completion"})
		return
	}
	fake.WriteJSON(w, 200, out.Choices[0].Message.Content)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// logJSON prints one structlog-shaped JSON line.
func logJSON(level, logger, msg string, extra map[string]any) {
	line := map[string]any{"message": msg, "logger": logger, "level": level, "type": "mlops", "stage": "main",
		"timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000000Z")}
	for k, v := range extra {
		line[k] = v
	}
	b, _ := json.Marshal(line)
	fmt.Fprintln(logOut, string(b))
}

// logOut is where the gateway's own log lines go: stdout, or the file
// AIGW_LOGGING__TO_FILE names.
var logOut io.Writer = os.Stdout

// loadKeys reads RSA keys (PKCS#1 or PKCS#8 PEM) from the named variables.
func loadKeys(names ...string) []*rsa.PublicKey {
	var out []*rsa.PublicKey
	for _, n := range names {
		block, _ := pem.Decode([]byte(os.Getenv(n)))
		if block == nil {
			continue
		}
		if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			out = append(out, &k.PublicKey)
		} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			if rk, ok := k.(*rsa.PrivateKey); ok {
				out = append(out, &rk.PublicKey)
			}
		}
	}
	return out
}
