package health

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/stack"
)

// The gateway's authentication answers 401 {"error": message} with one of
// these messages (gitlab_cloud_connector auth.authenticate, in the gateway's
// tree until commit f73a3b07d as ai_gateway/cloud_connector/auth.py; the
// current tree's tests/code_suggestions/test_authentication.py pins them;
// MiddlewareAuthentication.on_auth_error in
// ai_gateway/api/middleware/authentication.py writes the body).
const (
	refusedNoAuthHeader  = "No authorization header presented"
	refusedBadAuthHeader = "Invalid authorization header"
	refusedAuthType      = "Invalid authentication token type - only OIDC is supported"
	refusedByProvider    = "Forbidden by auth provider"
	refusedMismatch      = "Header mismatch '"
	refusedMissing       = "Header is missing: '"
)

// headerClaim names, for each header the gateway compares with the token, the
// claim it compares it with (auth._validate_headers). X-Gitlab-Instance-Id is
// compared with gitlab_instance_id, and also with sub when the token was not
// issued by the gateway itself.
var headerClaim = map[string]string{
	"X-Gitlab-Global-User-Id": "sub",
	"X-Gitlab-Realm":          "gitlab_realm",
	"X-Gitlab-Instance-Id":    "gitlab_instance_id",
}

// tokenClaims reads the claims of a JWT without verifying it (DuoBox minted
// it; they only serve to name what the gateway refused).
func tokenClaims(token string) map[string]any {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil
	}
	var c map[string]any
	if json.Unmarshal(b, &c) != nil {
		return nil
	}
	return c
}

func claimString(c map[string]any, name string) string {
	switch v := c[name].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func claimScopes(c map[string]any) []string {
	raw, _ := c["scopes"].([]any)
	var out []string
	for _, s := range raw {
		if str, ok := s.(string); ok {
			out = append(out, str)
		}
	}
	return out
}

// ExplainGatewayRefusal turns the gateway's 401 or 403 on the check route into
// a diagnosis and a fix, from what the gateway said (detail: its "error" or
// "detail" text) and the token DuoBox sent: 403 is a missing scope, 401 a token
// the gateway could not verify or a claim that disagrees with its header.
func ExplainGatewayRefusal(status int, detail, token string) (diagnosis, fix string) {
	claims := tokenClaims(token)
	switch status {
	case http.StatusForbidden:
		// ai_gateway/api/v1/prompts/invoke.py: WrongUnitPrimitives → 403
		// "Unauthorized to access '<prompt id>'".
		if !strings.HasPrefix(detail, "Unauthorized to access") {
			return fmt.Sprintf("the gateway refused the check route (403): %s", detail),
				"read 'duobox logs gateway --level warning' for the gateway's reason"
		}
		scopes := claimScopes(claims)
		if token == "" {
			return fmt.Sprintf("the gateway refused the check route (403 %q): the request carried no token, so it has no scopes", detail),
				"turn auth bypass off, or let DuoBox sign its token ('duobox init' creates the key pair)"
		}
		if !slices.Contains(scopes, deploy.CheckUnitPrimitive) {
			have := "no scopes claim"
			if len(scopes) > 0 {
				have = "scopes " + strings.Join(scopes, ", ")
			}
			return fmt.Sprintf("the gateway refused the check route (403 %q): the token lacks the scope %s that %s needs (it has %s)",
					detail, deploy.CheckUnitPrimitive, deploy.CheckPromptID, have),
				"the token must list " + deploy.CheckUnitPrimitive + " in its scopes claim; this DuoBox build signed one without it: update DuoBox"
		}
		return fmt.Sprintf("the gateway refused the check route (403 %q) although the token's scopes list %s: this gateway's %s prompt asks for another unit primitive",
				detail, deploy.CheckUnitPrimitive, deploy.CheckPromptID),
			"use the gateway tag that matches your GitLab version (version skew between DuoBox's assumptions and the gateway)"
	case http.StatusUnauthorized:
		switch {
		case detail == refusedNoAuthHeader:
			return "the gateway wants a token (401 \"" + detail + "\") and DuoBox sent none: it has no signing key for this gateway",
				"run 'duobox init' to create the gateway's key pair, then 'duobox up' so the gateway gets it"
		case detail == refusedBadAuthHeader:
			return "the gateway refused the Authorization header (401 \"" + detail + "\"): it must be 'Bearer <token>'", "report this as a DuoBox bug"
		case detail == refusedAuthType:
			return "the gateway refused the request (401 \"" + detail + "\"): the header X-Gitlab-Authentication-Type must be 'oidc'", "report this as a DuoBox bug"
		case strings.HasPrefix(detail, refusedMismatch), strings.HasPrefix(detail, refusedMissing):
			header := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(detail, refusedMismatch), refusedMissing), "'")
			claim := headerClaim[header]
			if claim == "" {
				return fmt.Sprintf("the gateway refused the request (401 %q): the header %s disagrees with the token", detail, header),
					"the token's claims and the request's headers must come from the same caller"
			}
			return fmt.Sprintf("the gateway refused the request (401 %q): the token's %s claim (%q) and the header %s disagree",
					detail, claim, claimString(claims, claim), header),
				"the token's claims and the request's headers must come from the same caller (deploy.Caller); a token signed for another user or instance is refused"
		case detail == refusedByProvider || strings.Contains(detail, "Signature verification failed") || strings.Contains(detail, "JWKS"):
			return explainUnverified(detail, claims)
		}
		return fmt.Sprintf("the gateway rejected DuoBox's token (401): %s", detail),
			"read 'duobox logs gateway --level warning' for the gateway's reason"
	}
	return fmt.Sprintf("the gateway answered %d: %s", status, detail), ""
}

// explainUnverified: the gateway could not decode the token (python-jose
// jwt.decode with audience = the service name, RS256 only, exp/nbf checked,
// against the keys the gateway trusts). It logs the JWTError; the answer says
// only "Forbidden by auth provider". What DuoBox sent tells which part failed.
func explainUnverified(detail string, claims map[string]any) (string, string) {
	keyFix := "the gateway does not hold the key DuoBox signed with: redeploy with 'duobox up' so it gets the key pair in DuoBox's secrets folder (AIGW_SELF_SIGNED_JWT__SIGNING_KEY); GitLab's own tokens need AIGW_GITLAB_URL reachable from the container, then a gateway restart (keys are cached 24 hours)"
	if claims == nil {
		return "the gateway could not verify DuoBox's token (401 \"" + detail + "\"): it is not a JWT", "report this as a DuoBox bug"
	}
	if aud := claimString(claims, "aud"); aud != stack.GatewayServiceName {
		return fmt.Sprintf("the gateway could not verify DuoBox's token (401 %q): its audience is %q, the gateway decodes with %q", detail, aud, stack.GatewayServiceName),
			"report this as a DuoBox bug"
	}
	if exp, ok := claims["exp"].(float64); ok && time.Now().Unix() > int64(exp) {
		return fmt.Sprintf("the gateway could not verify DuoBox's token (401 %q): it expired at %s", detail, time.Unix(int64(exp), 0).UTC().Format(time.RFC3339)),
			"run the test again (DuoBox signs a fresh token each time)"
	}
	return fmt.Sprintf("the gateway could not verify DuoBox's token (401 %q): audience and validity are right, so the signature failed", detail), keyFix
}
