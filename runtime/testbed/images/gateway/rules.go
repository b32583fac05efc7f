package main

// What the real AI Gateway refuses on the routes DuoBox calls, with its status
// and message shape. Each rule cites the gateway source it copies: the mirror
// movax01h/ai-gateway (commit eee38f6f) and, for the gitlab_cloud_connector
// library that moved out of the tree in f73a3b07d ("use cloud connector
// package instead of in-project implementation"), the in-tree copy before it
// (ai_gateway/cloud_connector/*.py); the current tree's
// tests/code_suggestions/test_authentication.py pins the same messages.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// userClaims are the claims the gateway reads from a token
// (CompositeProvider.authenticate → UserClaims, cloud_connector/providers.py).
type userClaims struct {
	Realm      string
	Scopes     []string
	Subject    string
	Issuer     string
	InstanceID string
	Debug      bool // auth bypass: CloudConnectorUser(is_debug=True) may use every unit primitive
}

// authenticate is gitlab_cloud_connector.authenticate (cloud_connector/auth.py)
// with the self-signed key provider (LocalAuthProvider, providers.py): it
// returns the caller's claims, or the message the gateway answers 401
// {"error": message} with (MiddlewareAuthentication.on_auth_error,
// ai_gateway/api/middleware/authentication.py).
func authenticate(h http.Header, keys []*rsa.PublicKey, serviceName string, now time.Time) (*userClaims, string) {
	// auth.py: if AUTH_HEADER.lower() not in headers → "No authorization header presented"
	auth := h.Get("Authorization")
	if auth == "" {
		return nil, "No authorization header presented"
	}
	// auth.py: bearer, _, token = auth_header.partition(" "); bearer.lower() != "bearer" → "Invalid authorization header"
	bearer, token, _ := strings.Cut(auth, " ")
	if strings.ToLower(bearer) != "bearer" {
		return nil, "Invalid authorization header"
	}
	// auth.py _authenticate_with_token: headers.get("x-gitlab-authentication-type") != "oidc"
	//   → "Invalid authentication token type - only OIDC is supported"
	if h.Get("X-Gitlab-Authentication-Type") != "oidc" {
		return nil, "Invalid authentication token type - only OIDC is supported"
	}
	// auth.py: user = oidc_auth_provider.authenticate(token); not authenticated → "Forbidden by auth provider".
	// The JWTError itself goes to the log only (log_exception), as here.
	c, err := decodeToken(token, keys, serviceName, now)
	if err != nil {
		logJSON("error", "exceptions", "jose.exceptions.JWTError: "+err.Error(), nil)
		return nil, "Forbidden by auth provider"
	}
	// auth.py _validate_headers: each non-empty claim must equal its header;
	// sub is compared with X-Gitlab-Global-User-Id when the gateway issued the
	// token itself (claims.issuer == service name), else with X-Gitlab-Instance-Id.
	// Order as the dict: gitlab_realm, gitlab_instance_id, subject.
	subjectHeader := "X-Gitlab-Instance-Id"
	if c.Issuer == serviceName {
		subjectHeader = "X-Gitlab-Global-User-Id"
	}
	for _, p := range []struct{ claim, header string }{
		{c.Realm, "X-Gitlab-Realm"}, {c.InstanceID, "X-Gitlab-Instance-Id"}, {c.Subject, subjectHeader},
	} {
		if p.claim != "" && p.claim != h.Get(p.header) {
			return nil, fmt.Sprintf("Header mismatch '%s'", p.header)
		}
	}
	return c, ""
}

// decodeToken is python-jose's jwt.decode(token, jwks, audience=service name,
// algorithms=["RS256"]) as CompositeProvider.authenticate calls it
// (providers.py), with the JWKS LocalAuthProvider.load_jwks builds from the
// public halves of AIGW_SELF_SIGNED_JWT__SIGNING_KEY and __VALIDATION_KEY.
func decodeToken(token string, keys []*rsa.PublicKey, serviceName string, now time.Time) (*userClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("Not enough segments")
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("Invalid header padding")
	}
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &header) != nil {
		return nil, fmt.Errorf("Invalid header string")
	}
	// jose/jws.py _verify_signature: alg not in algorithms → "The specified alg value is not allowed"
	if header.Alg != "RS256" {
		return nil, fmt.Errorf("The specified alg value is not allowed")
	}
	// jose/jws.py _sig_matches_keys tries every key of the JWKS in turn: the
	// kid in the token's header selects nothing and is never compared, so a
	// wrong kid is not refused by the real gateway either. DuoBox still sends
	// the kid the gateway publishes ("<service name>_signing_key").
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("Invalid crypto padding")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !slices.ContainsFunc(keys, func(k *rsa.PublicKey) bool { return rsa.VerifyPKCS1v15(k, crypto.SHA256, sum[:], sig) == nil }) {
		return nil, fmt.Errorf("Signature verification failed.")
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("Invalid payload padding")
	}
	var raw map[string]any
	if json.Unmarshal(pb, &raw) != nil {
		return nil, fmt.Errorf("Invalid payload string")
	}
	// jose/jwt.py _validate_claims (leeway 0): _validate_exp "exp < now" →
	// "Signature has expired.", _validate_nbf "nbf > now" → "The token is not
	// yet valid (nbf)", _validate_aud (audience = service name) → "Invalid
	// audience", or "Audience claim expected, but not in claims"; iss is
	// checked only when an issuer is passed, and the gateway passes none.
	if exp, ok := raw["exp"].(float64); ok && int64(exp) < now.Unix() {
		return nil, fmt.Errorf("Signature has expired.")
	}
	if nbf, ok := raw["nbf"].(float64); ok && int64(nbf) > now.Unix() {
		return nil, fmt.Errorf("The token is not yet valid (nbf)")
	}
	switch aud := raw["aud"].(type) {
	case string:
		if aud != serviceName {
			return nil, fmt.Errorf("Invalid audience")
		}
	case []any:
		if !slices.Contains(aud, any(serviceName)) {
			return nil, fmt.Errorf("Invalid audience")
		}
	case nil:
		return nil, fmt.Errorf("Audience claim expected, but not in claims")
	default:
		return nil, fmt.Errorf("Invalid claim format in token")
	}
	str := func(k string) string { s, _ := raw[k].(string); return s }
	c := &userClaims{Realm: str("gitlab_realm"), Subject: str("sub"), Issuer: str("iss"), InstanceID: str("gitlab_instance_id")}
	if sc, ok := raw["scopes"].([]any); ok {
		for _, s := range sc {
			if v, ok := s.(string); ok {
				c.Scopes = append(c.Scopes, v)
			}
		}
	}
	return c, nil
}

// can is CloudConnectorUser.can (cloud_connector/user.py): a debug user (auth
// bypass) may use every unit primitive; anyone else only those in scopes.
func (c *userClaims) can(unitPrimitive string) bool {
	return c.Debug || slices.Contains(c.Scopes, unitPrimitive)
}

// promptUnitPrimitives maps the prompts the stand-in serves to the unit
// primitive their definition names:
// ai_gateway/prompts/definitions/model_configuration/check/base/1.0.0.yml has
// "unit_primitive: complete_code".
var promptUnitPrimitives = map[string]string{"model_configuration/check": "complete_code"}

// promptRequest is PromptRequest (ai_gateway/api/v1/prompts/invoke.py) with
// ModelMetadata (ai_gateway/model_metadata.py), the body shape of the check.
type promptRequest struct {
	Inputs        map[string]any `json:"inputs"`
	PromptVersion *string        `json:"prompt_version"`
	Stream        *bool          `json:"stream"`
	ModelMetadata *struct {
		Name       *string `json:"name"`
		Provider   *string `json:"provider"`
		Endpoint   *string `json:"endpoint"`
		APIKey     *string `json:"api_key"`
		Identifier *string `json:"identifier"`
	} `json:"model_metadata"`
}

// validatePrompt is FastAPI's validation of PromptRequest: inputs is a
// required object; model_metadata, when given, needs name and provider
// (strings of at most 255) and an endpoint that is a URL. A failure is 422
// {"detail": "Validation error"} (validation_exception_handler in
// ai_gateway/api/server.py, when request data may not be logged: the default).
func validatePrompt(body []byte) (*promptRequest, bool) {
	var raw map[string]json.RawMessage
	if json.Unmarshal(body, &raw) != nil {
		return nil, false
	}
	var req promptRequest
	if json.Unmarshal(body, &req) != nil || req.Inputs == nil {
		return nil, false
	}
	if md := req.ModelMetadata; md != nil {
		if md.Name == nil || md.Provider == nil || len(*md.Name) > 255 || len(*md.Provider) > 255 {
			return nil, false
		}
		if md.Endpoint != nil {
			u, err := url.Parse(*md.Endpoint)
			if err != nil || u.Scheme == "" || u.Host == "" || len(*md.Endpoint) > 255 {
				return nil, false
			}
		}
	}
	return &req, true
}

// promptID is the {prompt_id:path} of /v1/prompts/{prompt_id:path}: Starlette
// matches on the decoded path, so model_configuration%2Fcheck and
// model_configuration/check are the same prompt.
func promptID(r *http.Request) (string, bool) {
	id, ok := strings.CutPrefix(r.URL.Path, "/v1/prompts/")
	return id, ok && id != ""
}
