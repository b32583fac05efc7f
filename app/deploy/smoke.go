package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// ModelCheck is the body GitLab's "Test connection" sends to the gateway
// (facts §7a): the gateway then calls the model endpoint itself.
type ModelCheck struct {
	GatewayURL string // e.g. http://gpu-box:5052
	Token      string // bearer JWT ("" when auth bypass is on)
	Family     string // GitLab's model family, e.g. "mistral"
	Endpoint   string // model endpoint ending in /v1, as the gateway reaches it
	Identifier string // custom_openai/<served name>
}

// CheckResult is the gateway's answer.
type CheckResult struct {
	Status int    `json:"status"` // 200 ok; 421: the model answered with an error; other: gateway error
	Body   string `json:"body"`
}

// CheckRoute is the gateway route GitLab's "Test connection" button calls
// (facts §7a). The slash in the prompt id is encoded.
const CheckRoute = "/v1/prompts/model_configuration%2Fcheck"

// CheckBody is the JSON body of GitLab's "Test connection" call; apiKey may be "".
func CheckBody(family, endpoint, identifier, apiKey string) []byte {
	var key any
	if apiKey != "" {
		key = apiKey
	}
	body, _ := json.Marshal(map[string]any{"stream": false, "inputs": map[string]any{},
		"model_metadata": map[string]any{"name": family, "endpoint": endpoint, "api_key": key,
			"provider": "openai", "identifier": identifier}})
	return body
}

// CheckHeaders are the headers GitLab sends with it; token "" sends no Authorization.
func CheckHeaders(token, subject string) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "X-Gitlab-Authentication-Type": {"oidc"},
		"X-Gitlab-Realm": {"self-managed"}, "X-Gitlab-Instance-Id": {"duobox"}, "X-Gitlab-Global-User-Id": {subject},
		"X-Gitlab-Unit-Primitive": {"self_hosted_models"}, "X-Request-Id": {fmt.Sprintf("duobox-test-%d", time.Now().UnixNano())}}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

// CheckModel posts the check route and returns the gateway's status and
// body. An error means the gateway could not be reached.
func CheckModel(ctx context.Context, c ModelCheck) (CheckResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.GatewayURL+CheckRoute, bytes.NewReader(CheckBody(c.Family, c.Endpoint, c.Identifier, "")))
	if err != nil {
		return CheckResult{}, fmt.Errorf("check model: %w", err)
	}
	req.Header = CheckHeaders(c.Token, "duobox")
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		return CheckResult{}, fmt.Errorf("check model through the gateway at %s: %w", c.GatewayURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return CheckResult{Status: resp.StatusCode, Body: string(b)}, nil
}
