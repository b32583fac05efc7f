package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// The gateway reads its settings with pydantic-settings (env prefix AIGW_,
// nested delimiter "__", names case-insensitive, booleans as pydantic parses
// them). These settings turn its authentication off (facts:
// gitlab-ai-gateway.md §3 and §8; ai_gateway/config.py ConfigAuth,
// duo_workflow_service's DUO_WORKFLOW_AUTH__ENABLED):
//
//	AIGW_AUTH__BYPASS_EXTERNAL=true              every request allowed
//	AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER=true  allowed with "Bypass-Auth: true"
//	AIGW_AUTH__BYPASS_JWT_SIGNATURE=true         signatures not checked
//	AIGW_AUTH={"bypass_external": true, ...}     the same fields as one JSON value
//	DUO_WORKFLOW_AUTH__ENABLED=false             the Agent Platform without auth
var authOffFields = []string{"bypass_external", "bypass_external_with_header", "bypass_jwt_signature"}

// pydantic's boolean words.
func pydanticTrue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "on", "t", "true", "y", "yes":
		return true
	}
	return false
}

func pydanticFalse(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "0", "off", "f", "false", "n", "no":
		return true
	}
	return false
}

// AuthOff lists what turns the gateway's authentication off in d, each as
// the setting that does it ("auth_bypass", "gateway.image.env
// AIGW_AUTH__BYPASS_EXTERNAL=true"); empty when authentication is on. Any of
// them is the same as auth_bypass: a visible warning in the CLI and the
// window, and `status` says so.
func (d Deployment) AuthOff() []string {
	var out []string
	if d.Gateway.AuthBypass {
		out = append(out, "auth_bypass: true")
	}
	names := make([]string, 0, len(d.Gateway.Image.Env))
	for k := range d.Gateway.Image.Env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := d.Gateway.Image.Env[k]
		up := strings.ToUpper(k)
		off := false
		switch {
		case up == "DUO_WORKFLOW_AUTH__ENABLED":
			off = pydanticFalse(v)
		case up == "AIGW_AUTH":
			var fields map[string]any
			if json.Unmarshal([]byte(v), &fields) == nil {
				for fk, fv := range fields {
					for _, f := range authOffFields {
						if strings.EqualFold(fk, f) && pydanticTrue(fmt.Sprint(fv)) {
							off = true
						}
					}
				}
			}
		case strings.HasPrefix(up, "AIGW_AUTH__"):
			for _, f := range authOffFields {
				if up == "AIGW_AUTH__"+strings.ToUpper(f) {
					off = pydanticTrue(v)
				}
			}
		}
		if off {
			out = append(out, fmt.Sprintf("gateway.image.env %s=%s", k, v))
		}
	}
	return out
}
