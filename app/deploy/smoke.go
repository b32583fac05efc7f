package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/duobox/duobox/app/stack"
)

// ModelCheck is the body GitLab's "Test connection" sends to the gateway
// (facts §7a): the gateway then calls the model endpoint itself.
type ModelCheck struct {
	GatewayURL string // e.g. http://gpu-box:5052
	Token      string // bearer JWT ("" when auth bypass is on); see MintCheckToken
	Caller     Caller // who the headers say calls; zero: DefaultCaller
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

// CheckUnitPrimitive is the unit primitive the gateway authorises the check
// route by: the prompt definition says "unit_primitive: complete_code"
// (ai_gateway/prompts/definitions/model_configuration/check/base/1.0.0.yml),
// BasePromptRegistry.get_on_behalf raises WrongUnitPrimitives when the caller
// cannot use it (ai_gateway/prompts/base.py), and the route answers 403
// "Unauthorized to access 'model_configuration/check'"
// (ai_gateway/api/v1/prompts/invoke.py). GitLab's own connection tester uses
// the same (ee connection_tester.rb, UNIT_PRIMITIVE = :complete_code).
const CheckUnitPrimitive = "complete_code"

// CheckPromptID is the prompt the check route invokes.
const CheckPromptID = "model_configuration/check"

// Caller is who DuoBox's check call says it is. The token's claims and the
// request's headers both come from it, so they always agree.
type Caller struct {
	UserID     string // sub claim and X-Gitlab-Global-User-Id
	Realm      string // gitlab_realm claim and X-Gitlab-Realm; "" sends neither
	InstanceID string // gitlab_instance_id claim and X-Gitlab-Instance-Id; "" sends neither
}

// DefaultCaller is the caller of 'duobox test' and the Dashboard's Test.
var DefaultCaller = Caller{UserID: "duobox-smoke-test", Realm: "self-managed", InstanceID: "duobox"}

func (c Caller) orDefault() Caller {
	if c == (Caller{}) {
		return DefaultCaller
	}
	return c
}

// Claims are the token claims the gateway checks for the check route: the
// subject, realm and instance id of the caller and the scope complete_code.
func (c Caller) Claims() stack.GatewayClaims {
	c = c.orDefault()
	return stack.GatewayClaims{Subject: c.UserID, Realm: c.Realm, InstanceID: c.InstanceID, Scopes: []string{CheckUnitPrimitive}}
}

// MintCheckToken signs the check call's token for c (zero: DefaultCaller)
// with the gateway's self-signed key.
func MintCheckToken(keyPEM []byte, c Caller, ttl time.Duration) (string, error) {
	return stack.MintGatewayToken(keyPEM, c.Claims(), ttl)
}

// CheckHeaders are the headers the check route reads, for caller c (zero:
// DefaultCaller); token "" sends no Authorization. The gateway's
// authentication (gitlab_cloud_connector.authenticate, called from
// ai_gateway/api/middleware/authentication.py) reads Authorization,
// X-Gitlab-Authentication-Type (must be "oidc") and compares the headers
// X-Gitlab-Global-User-Id, X-Gitlab-Realm and X-Gitlab-Instance-Id with the
// token's claims; X-Request-Id is the access log's correlation id
// (asgi_correlation_id). X-Gitlab-Unit-Primitive is not sent: only the proxy
// routes read it (ai_gateway/api/feature_category.py, api/v1/proxy/*).
func CheckHeaders(token string, c Caller) http.Header {
	c = c.orDefault()
	h := http.Header{"Content-Type": {"application/json"}, "X-Gitlab-Authentication-Type": {"oidc"},
		"X-Gitlab-Global-User-Id": {c.UserID}, "X-Request-Id": {fmt.Sprintf("duobox-test-%d", time.Now().UnixNano())}}
	if c.Realm != "" {
		h.Set("X-Gitlab-Realm", c.Realm)
	}
	if c.InstanceID != "" {
		h.Set("X-Gitlab-Instance-Id", c.InstanceID)
	}
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
	req.Header = CheckHeaders(c.Token, c.Caller)
	resp, err := (&http.Client{Timeout: 90 * time.Second}).Do(req)
	if err != nil {
		return CheckResult{}, fmt.Errorf("check model through the gateway at %s: %w", c.GatewayURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return CheckResult{Status: resp.StatusCode, Body: string(b)}, nil
}
