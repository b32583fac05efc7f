package health

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/duobox/duobox/app/deploy"
)

// SmokeSubject is the token subject and user id of DuoBox's own test calls.
var SmokeSubject = deploy.DefaultCaller.UserID

// SmokeTarget says where the smoke test sends its two requests.
type SmokeTarget struct {
	// ModelURL reaches the model server from this machine, e.g.
	// http://172.18.0.2:8000 (the container's address on the stack's
	// bridge network: the model port is never published on the host).
	ModelURL   string
	ServedName string // the served model name
	// GatewayURL reaches the gateway as GitLab does, e.g. http://192.168.1.10:5052.
	GatewayURL string
	// ModelEndpoint is the model as the gateway reaches it over the stack's
	// network, e.g. http://duobox-model:8000/v1 (what GitLab's model config holds).
	ModelEndpoint string
	Family        string        // GitLab's model family (model_metadata.name), e.g. mistral
	ModelAPIKey   string        // optional
	Token         string        // the gateway token (deploy.MintCheckToken with the gateway's signing key); "" sends none
	Caller        deploy.Caller // who the headers say calls (zero: deploy.DefaultCaller); the token must be minted for the same
	Prompt        string        // default: the start of a Python function
}

// SmokeStep is one request of the smoke test.
type SmokeStep struct {
	Name        string        `json:"name"` // model_completion, gateway_model_check
	URL         string        `json:"url"`
	OK          bool          `json:"ok"`
	Skipped     bool          `json:"skipped,omitempty"`
	Status      int           `json:"http_status,omitempty"`
	Latency     time.Duration `json:"latency_ns"`
	FirstTokens string        `json:"first_tokens,omitempty"`
	Diagnosis   string        `json:"diagnosis,omitempty"`
	Fix         string        `json:"fix,omitempty"`
}

// Mark is the step's sign in both faces: ✓ passed, – skipped, ✗ failed.
func (s SmokeStep) Mark() string {
	switch {
	case s.Skipped:
		return "–"
	case !s.OK:
		return "✗"
	}
	return "✓"
}

// SmokeResult is the whole smoke test.
type SmokeResult struct {
	OK    bool        `json:"ok"`
	Steps []SmokeStep `json:"steps"`
}

// Smoke sends a real completion to the model server, then GitLab's model
// check through the gateway, and explains each failure precisely.
func Smoke(ctx context.Context, hc *http.Client, t SmokeTarget) SmokeResult {
	if hc == nil {
		hc = &http.Client{Timeout: 90 * time.Second}
	}
	if t.Prompt == "" {
		t.Prompt = "def fibonacci(n):"
	}
	res := SmokeResult{}
	res.Steps = append(res.Steps, modelCompletion(ctx, hc, t))
	res.Steps = append(res.Steps, gatewayCheck(ctx, hc, t))
	res.OK = true
	for _, s := range res.Steps {
		if !s.OK && !s.Skipped {
			res.OK = false
		}
	}
	return res
}

func modelCompletion(ctx context.Context, hc *http.Client, t SmokeTarget) SmokeStep {
	step := SmokeStep{Name: "model_completion"}
	if t.ModelURL == "" {
		step.Skipped = true
		step.Diagnosis = "the model container has no address on the stack's network (not running?)"
		step.Fix = "check 'duobox health'"
		return step
	}
	step.URL = strings.TrimRight(t.ModelURL, "/") + "/v1/completions"
	body, _ := json.Marshal(map[string]any{"model": t.ServedName, "prompt": t.Prompt, "max_tokens": 16, "temperature": 0})
	hdr := http.Header{"Content-Type": {"application/json"}}
	if t.ModelAPIKey != "" {
		hdr.Set("Authorization", "Bearer "+t.ModelAPIKey)
	}
	status, respBody, latency, err := post(ctx, hc, step.URL, hdr, body)
	step.Status, step.Latency = status, latency
	if err != nil {
		step.Diagnosis, step.Fix = explainTransport(err)
		step.Diagnosis = "the model server did not answer: " + step.Diagnosis
		return step
	}
	switch {
	case status == http.StatusOK:
		var out struct {
			Choices []struct {
				Text string `json:"text"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(respBody, &out); err != nil || len(out.Choices) == 0 {
			step.Diagnosis = "the model server answered 200 but not with an OpenAI completion: " + snippet(respBody)
			step.Fix = "check that the model server is vLLM (or OpenAI-compatible) on that port"
			return step
		}
		step.OK, step.FirstTokens = true, out.Choices[0].Text
	case status == http.StatusNotFound && bytes.Contains(respBody, []byte("does not exist")):
		step.Diagnosis = fmt.Sprintf("the model server does not serve %q: %s", t.ServedName, snippet(respBody))
		step.Fix = "redeploy so the served model name matches DuoBox's config ('duobox up')"
	case status == http.StatusUnauthorized:
		step.Diagnosis = "the model server wants an API key (vLLM --api-key) and DuoBox sent none or another"
		step.Fix = "set the model's API key in DuoBox's config to the one the server was started with"
	case status == http.StatusBadRequest:
		step.Diagnosis = "the model server refused the request: " + snippet(respBody)
		step.Fix = "a too long prompt or a max_model_len below 32 tokens would do this; read 'duobox logs model'"
	case status >= 500:
		step.Diagnosis = fmt.Sprintf("the model server failed (%d): %s", status, snippet(respBody))
		step.Fix = "read 'duobox logs model --level warning' (DuoBox explains the known errors there)"
	default:
		step.Diagnosis = fmt.Sprintf("the model server answered %d: %s", status, snippet(respBody))
	}
	return step
}

func gatewayCheck(ctx context.Context, hc *http.Client, t SmokeTarget) SmokeStep {
	step := SmokeStep{Name: "gateway_model_check"}
	if t.GatewayURL == "" {
		step.Skipped, step.Diagnosis = true, "no gateway address is configured"
		return step
	}
	step.URL = strings.TrimRight(t.GatewayURL, "/") + deploy.CheckRoute
	family := t.Family
	if family == "" {
		family = "general"
	}
	body := deploy.CheckBody(family, t.ModelEndpoint, "custom_openai/"+t.ServedName, t.ModelAPIKey)
	status, respBody, latency, err := post(ctx, hc, step.URL, deploy.CheckHeaders(t.Token, t.Caller), body)
	step.Status, step.Latency = status, latency
	if err != nil {
		d, fix := explainTransport(err)
		step.Diagnosis, step.Fix = "the gateway did not answer: "+d, fix
		if strings.Contains(d, "refused") {
			step.Fix = "check that the gateway container runs ('duobox health') and is published on this address and port (the host address in DuoBox's config)"
		}
		return step
	}
	detail := errorDetail(respBody)
	switch {
	case status == http.StatusOK:
		step.OK = true
		step.FirstTokens = firstText(respBody)
	case status == http.StatusMisdirectedRequest: // 421: the model answered with an error
		step.Diagnosis = "the gateway reached the model server, and the model answered with an error: " + detail
		step.Fix = "check GitLab's model settings: endpoint " + t.ModelEndpoint + " (it must end in /v1) and identifier custom_openai/" + t.ServedName
		if strings.HasPrefix(detail, "404") {
			step.Fix = "the identifier or endpoint is wrong: use endpoint " + t.ModelEndpoint + " and identifier custom_openai/" + t.ServedName + " exactly"
		}
	case status == http.StatusUnauthorized:
		step.Diagnosis, step.Fix = ExplainGatewayRefusal(status, detail, t.Token)
	case status == http.StatusForbidden:
		step.Diagnosis, step.Fix = ExplainGatewayRefusal(status, detail, t.Token)
	case status == http.StatusNotFound:
		step.Diagnosis = "this gateway has no model check route (404): it predates GitLab's Test connection"
		step.Fix = "use a gateway image whose tag matches your GitLab version"
	case status == http.StatusUnprocessableEntity:
		step.Diagnosis = "the gateway refused the check request's shape (422): " + detail
		step.Fix = "the gateway and DuoBox disagree about the request (version skew): use the gateway tag matching your GitLab version"
	case status >= 500:
		step.Diagnosis = fmt.Sprintf("the gateway failed (%d): %s", status, detail)
		step.Fix = "read 'duobox logs gateway --level error'; DuoBox explains the known errors there"
	default:
		step.Diagnosis = fmt.Sprintf("the gateway answered %d: %s", status, detail)
	}
	return step
}

func post(ctx context.Context, hc *http.Client, url string, hdr http.Header, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header = hdr
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, time.Since(start), err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, time.Since(start), nil
}

// errorDetail reads FastAPI's {"detail": …} or the auth middleware's {"error": …}.
func errorDetail(b []byte) string {
	var e struct {
		Detail any    `json:"detail"`
		Error  string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil {
		if s, ok := e.Detail.(string); ok && s != "" {
			return s
		}
		if e.Detail != nil {
			d, _ := json.Marshal(e.Detail)
			return string(d)
		}
		if e.Error != "" {
			return e.Error
		}
	}
	return snippet(b)
}

// firstText pulls the model's words out of the gateway's answer (a JSON
// string, an object with content/text, or plain text).
func firstText(b []byte) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	var obj map[string]any
	if json.Unmarshal(b, &obj) == nil {
		for _, k := range []string{"content", "text", "response", "message"} {
			if v, ok := obj[k].(string); ok {
				return v
			}
		}
	}
	return snippet(b)
}
