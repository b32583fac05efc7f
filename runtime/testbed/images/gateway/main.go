// Command gateway is DuoBox's test stand-in for the GitLab AI Gateway image:
// a static program, run in a scratch image, with the routes DuoBox relies on —
// GET /monitoring/healthz (no auth), POST /v1/prompts/model_configuration%2Fcheck
// (really calls the model server named in the body, over the container
// network, and maps its errors to 421 as the real gateway does) — structlog-like
// JSON log lines, and a plain TCP listener on the Agent Platform port. It exists
// for tests only and never ships.
//
// It listens on AIGW_FASTAPI__API_PORT (default 5000, as the real code) and on
// PORT (default 50052). Routes other than /monitoring/* need either
// AIGW_AUTH__BYPASS_EXTERNAL=true or "Authorization: Bearer <JWT>" signed
// (RS256) with the key in AIGW_SELF_SIGNED_JWT__SIGNING_KEY or __VALIDATION_KEY.
// The DUOBOX_FAKE_* switches of the model server apply here too.
//
// "gateway healthcheck [port]" is the image's health command.
package main

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
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
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if !bypass {
			if err := authorize(r, keys); err != nil {
				fake.WriteJSON(w, 401, map[string]string{"error": err.Error()})
				return
			}
		}
		path := r.URL.EscapedPath()
		switch {
		case r.Method == http.MethodPost && (path == "/v1/prompts/model_configuration%2Fcheck" || path == "/v1/prompts/model_configuration/check"):
			checkModel(w, r)
		default:
			fake.WriteJSON(w, 404, map[string]string{"detail": "Not Found"})
		}
	})
	go listenAgentPlatform(env("PORT", "50052"))
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
func checkModel(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ModelMetadata struct {
			Name       string `json:"name"`
			Endpoint   string `json:"endpoint"`
			APIKey     string `json:"api_key"`
			Identifier string `json:"identifier"`
		} `json:"model_metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		fake.WriteJSON(w, 422, map[string]string{"detail": err.Error()})
		return
	}
	md := req.ModelMetadata
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

// listenAgentPlatform accepts connections on the Agent Platform (gRPC) port and closes them.
func listenAgentPlatform(port string) {
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Println("duo-workflow-service: cannot listen:", err)
		return
	}
	fmt.Println("2026-01-01 00:00:00 [info     ] Duo Workflow Service listening on port", port)
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
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
	fmt.Println(string(b))
}

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

// authorize checks an RS256 bearer token against keys and its exp claim.
func authorize(r *http.Request, keys []*rsa.PublicKey) error {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return errors.New("No authorization header presented")
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return errors.New("Not enough segments")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("bad signature encoding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, k := range keys {
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("Signature verification failed")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return errors.New("bad payload encoding")
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return errors.New("bad claims")
	}
	if claims.Exp != 0 && time.Now().Unix() > claims.Exp {
		return errors.New("Signature has expired")
	}
	return nil
}
