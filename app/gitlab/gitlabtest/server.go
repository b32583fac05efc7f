// Package gitlabtest is a stand-in for GitLab's API for tests of the
// packages that talk to GitLab (app/gitlab, the window): a local HTTP server
// answering like GitLab's documented REST and GraphQL API, as strict as the
// schema of the GitLab version it plays. Tests that use it say so in their names.
package gitlabtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/duobox/duobox/app/version"
)

// Server is a local HTTP server that answers like GitLab's documented API
// (REST /api/v4/version, /api/v4/personal_access_tokens/self, /api/v4/user;
// GraphQL at /api/graphql with GitLab's data/errors envelope; OpenID discovery
// and /oauth/discovery/keys). Tests that use it say so in their names.
type Server struct {
	t       testing.TB
	Srv     *httptest.Server
	Version string
	Token   string
	Scopes  []string
	Admin   bool
	FailOn  string // a mutation field that answers with errors

	mu          sync.Mutex
	GatewayURL  string
	AgentURL    string
	AgentSecure bool                // ai_settings.self_hosted_duo_agent_platform_service_secure (default true, 18.10+)
	Models      []map[string]string // id, name, model, endpoint, identifier
	Features    map[string]string   // feature → model id
	Mutations   []string
	SawBadToken bool
}

// New starts a GitLab of version (e.g. "18.4.1-ee") with an administrator's
// token Token ("glpat-test-admin", scope api); it stops when the test ends.
func New(t testing.TB, version string) *Server {
	f := &Server{t: t, Version: version, Token: "glpat-test-admin", Scopes: []string{"api"}, Admin: true, Features: map[string]string{}, AgentSecure: true}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v4/version", f.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"version": f.Version, "revision": "abc123", "enterprise": true})
	}))
	mux.HandleFunc("GET /api/v4/personal_access_tokens/self", f.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"id": 1, "name": "duobox", "scopes": f.Scopes, "active": true, "revoked": false, "expires_at": "2027-01-01"})
	}))
	mux.HandleFunc("GET /api/v4/user", f.auth(func(w http.ResponseWriter, r *http.Request) {
		u := map[string]any{"id": 1, "username": "root", "name": "Administrator"}
		if f.Admin {
			u["is_admin"] = true // GitLab shows is_admin only to administrators
		}
		writeJSONBody(w, 200, u)
	}))
	mux.HandleFunc("POST /api/graphql", f.auth(f.graphql))
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"issuer": f.Srv.URL, "jwks_uri": f.Srv.URL + "/oauth/discovery/keys"})
	})
	mux.HandleFunc("GET /oauth/discovery/keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSONBody(w, 200, map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256", "n": "xyz", "e": "AQAB"}}})
	})
	f.Srv = httptest.NewServer(mux)
	t.Cleanup(f.Srv.Close)
	return f
}

// URL is the server's base URL.
func (f *Server) URL() string { return f.Srv.URL }

func (f *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.Token {
			f.mu.Lock()
			f.SawBadToken = true
			f.mu.Unlock()
			writeJSONBody(w, 401, map[string]any{"message": "401 Unauthorized"})
			return
		}
		h(w, r)
	}
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// graphql answers the documents DuoBox sends, matched by their root field.
func (f *Server) graphql(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			Input map[string]any `json:"input"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeJSONBody(w, 400, map[string]any{"errors": []map[string]string{{"message": "bad json"}}})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	in := req.Variables.Input
	str := func(k string) string { s, _ := in[k].(string); return s }
	if !f.Admin && strings.HasPrefix(req.Query, "mutation") {
		writeJSONBody(w, 200, map[string]any{"data": nil, "errors": []map[string]string{{"message": "You don't have permission to update the setting ai_gateway_url."}}})
		return
	}
	for _, field := range []string{"duoSettingsUpdate", "aiSelfHostedModelCreate", "aiSelfHostedModelUpdate", "aiFeatureSettingUpdate"} {
		if strings.Contains(req.Query, field+"(") {
			f.Mutations = append(f.Mutations, field)
			if field == f.FailOn {
				writeJSONBody(w, 200, map[string]any{"data": map[string]any{field: map[string]any{"errors": []string{"Endpoint is blocked: requests to the local network are not allowed"}}}})
				return
			}
		}
	}
	if msg := f.schemaRefuses(req.Query, in); msg != "" {
		writeJSONBody(w, 200, map[string]any{"errors": []map[string]any{{"message": msg}}})
		return
	}
	var data map[string]any
	switch {
	case strings.Contains(req.Query, "duoSettingsUpdate("):
		f.GatewayURL = strings.TrimSuffix(str("aiGatewayUrl"), "/")
		if v, ok := in["duoAgentPlatformServiceUrl"]; ok {
			f.AgentURL = v.(string)
		}
		if v, ok := in["selfHostedDuoAgentPlatformServiceSecure"]; ok {
			b, isBool := v.(bool)
			if !isBool {
				writeJSONBody(w, 200, map[string]any{"errors": []map[string]any{{"message": fmt.Sprintf("Variable $input of type DuoSettingsUpdateInput! was provided invalid value for selfHostedDuoAgentPlatformServiceSecure (Could not coerce value %v to Boolean)", v)}}})
				return
			}
			f.AgentSecure = b
		}
		data = map[string]any{"duoSettingsUpdate": map[string]any{"duoSettings": map[string]any{"aiGatewayUrl": f.GatewayURL}, "errors": []string{}}}
	case strings.Contains(req.Query, "aiSelfHostedModelCreate("):
		id := fmt.Sprintf("gid://gitlab/Ai::SelfHostedModel/%d", len(f.Models)+1)
		f.Models = append(f.Models, map[string]string{"id": id, "name": str("name"), "model": strings.ToLower(str("model")), "endpoint": str("endpoint"), "identifier": str("identifier")})
		data = map[string]any{"aiSelfHostedModelCreate": map[string]any{"selfHostedModel": map[string]any{"id": id, "name": str("name")}, "errors": []string{}}}
	case strings.Contains(req.Query, "aiSelfHostedModelUpdate("):
		for _, m := range f.Models {
			if m["id"] == str("id") {
				m["model"], m["endpoint"], m["identifier"] = strings.ToLower(str("model")), str("endpoint"), str("identifier")
			}
		}
		data = map[string]any{"aiSelfHostedModelUpdate": map[string]any{"selfHostedModel": map[string]any{"id": str("id")}, "errors": []string{}}}
	case strings.Contains(req.Query, "aiFeatureSettingUpdate("):
		if str("provider") != "SELF_HOSTED" || !strings.HasPrefix(str("aiSelfHostedModelId"), "gid://gitlab/Ai::SelfHostedModel/") {
			writeJSONBody(w, 200, map[string]any{"errors": []map[string]string{{"message": "invalid aiSelfHostedModelId or provider"}}})
			return
		}
		for _, feat := range in["features"].([]any) {
			f.Features[strings.ToLower(feat.(string))] = str("aiSelfHostedModelId")
		}
		data = map[string]any{"aiFeatureSettingUpdate": map[string]any{"aiFeatureSettings": []any{}, "errors": []string{}}}
	case strings.Contains(req.Query, "duoSettings {"):
		s := map[string]any{"aiGatewayUrl": nilIfEmpty(f.GatewayURL)}
		if strings.Contains(req.Query, "duoAgentPlatformServiceUrl") {
			s["duoAgentPlatformServiceUrl"] = nilIfEmpty(f.AgentURL)
		}
		data = map[string]any{"duoSettings": s}
	case strings.Contains(req.Query, "aiSelfHostedModels"):
		var nodes []any
		for _, m := range f.Models {
			nodes = append(nodes, m)
		}
		var feats []any
		for _, key := range []string{"code_completions", "code_generations", "duo_chat"} {
			n := map[string]any{"feature": key, "provider": "vendored", "selfHostedModel": nil}
			if id, ok := f.Features[key]; ok {
				n["provider"] = "self_hosted"
				for _, m := range f.Models {
					if m["id"] == id {
						n["selfHostedModel"] = map[string]string{"id": id, "name": m["name"]}
					}
				}
			}
			feats = append(feats, n)
		}
		data = map[string]any{"aiSelfHostedModels": map[string]any{"nodes": nodes}, "aiFeatureSettings": map[string]any{"nodes": feats}}
	default:
		writeJSONBody(w, 200, map[string]any{"errors": []map[string]string{{"message": "fake GitLab does not know this query: " + req.Query}}})
		return
	}
	writeJSONBody(w, 200, map[string]any{"data": data})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// schemaRefuses answers as GitLab's GraphQL schema of f.Version does for what
// it does not define (graphql-ruby's messages), independently of DuoBox's
// version table:
//   - duoSettingsUpdate / duoSettings: 17.9 (EE Mutations::Ai::DuoSettings::Update; docs "from 17.9")
//   - duoAgentPlatformServiceUrl: 18.4 (db/migrate/20250818083453_add_duo_agent_platform_service_url_to_ai_settings.rb)
//   - aiGatewayTimeoutSeconds: 18.7 (docs: "AI Gateway request timeout", 18.7)
//   - selfHostedDuoAgentPlatformServiceSecure: 18.10 (db/migrate AddSelfHostedDuoAgentPlatformServiceSecureToAiSettings,
//     milestone '18.10'; update.rb argument self_hosted_duo_agent_platform_service_secure). The EE snapshot of
//     2026-02-13 (18.9) has no such argument and reads ENV['DUO_AGENT_PLATFORM_SERVICE_SECURE'] in 1_settings.rb.
func (f *Server) schemaRefuses(query string, in map[string]any) string {
	v, err := version.Parse(f.Version)
	if err != nil {
		f.t.Fatalf("fake GitLab version %q: %v", f.Version, err)
	}
	since := func(s string) bool { return v.Compare(version.MustParse(s)) >= 0 }
	if !since("17.9") {
		for _, root := range []string{"duoSettingsUpdate", "duoSettings"} {
			if strings.Contains(query, root+"(") || strings.Contains(query, root+" {") {
				kind := "Query"
				if strings.HasPrefix(strings.TrimSpace(query), "mutation") {
					kind = "Mutation"
				}
				return fmt.Sprintf("Field '%s' doesn't exist on type '%s'", root, kind)
			}
		}
	}
	if !strings.Contains(query, "duoSettingsUpdate(") && !strings.Contains(query, "duoSettings {") {
		return ""
	}
	args := map[string]string{"aiGatewayUrl": "17.9", "duoAgentPlatformServiceUrl": "18.4", "aiGatewayTimeoutSeconds": "18.7",
		"selfHostedDuoAgentPlatformServiceSecure": "18.10"}
	if strings.Contains(query, "duoSettingsUpdate(") {
		for k := range in {
			if from, ok := args[k]; !ok || !since(from) {
				return fmt.Sprintf("Variable $input of type DuoSettingsUpdateInput! was provided invalid value for %s (Field is not defined on DuoSettingsUpdateInput)", k)
			}
		}
	}
	if strings.Contains(query, "duoAgentPlatformServiceUrl") && !since("18.4") {
		return "Field 'duoAgentPlatformServiceUrl' doesn't exist on type 'DuoSettings'"
	}
	return ""
}
