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

// CheckModel posts /v1/prompts/model_configuration%2Fcheck and returns the
// gateway's status and body. An error means the gateway could not be reached.
func CheckModel(ctx context.Context, c ModelCheck) (CheckResult, error) {
	body, _ := json.Marshal(map[string]any{"stream": false, "inputs": map[string]any{},
		"model_metadata": map[string]any{"name": c.Family, "endpoint": c.Endpoint, "api_key": nil,
			"provider": "openai", "identifier": c.Identifier}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.GatewayURL+"/v1/prompts/model_configuration%2Fcheck", bytes.NewReader(body))
	if err != nil {
		return CheckResult{}, fmt.Errorf("check model: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Gitlab-Authentication-Type", "oidc")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		return CheckResult{}, fmt.Errorf("check model through the gateway at %s: %w", c.GatewayURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return CheckResult{Status: resp.StatusCode, Body: string(b)}, nil
}
