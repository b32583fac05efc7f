package config

import (
	"strings"
	"testing"
)

// TestAuthOff_AnyGatewayEnvThatTurnsAuthOffCounts: auth bypass set through
// gateway.image.env is the same as auth_bypass (issue 16, item 2).
func TestAuthOff_AnyGatewayEnvThatTurnsAuthOffCounts(t *testing.T) {
	off := map[string]string{
		"AIGW_AUTH__BYPASS_EXTERNAL":             "true",
		"aigw_auth__bypass_external":             "1",
		"AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER": "yes",
		"AIGW_AUTH__BYPASS_JWT_SIGNATURE":        "On",
		"DUO_WORKFLOW_AUTH__ENABLED":             "false",
		"AIGW_AUTH":                              `{"bypass_external": true}`,
	}
	for k, v := range off {
		d := valid()
		d.Gateway.Image.Env = map[string]string{k: v}
		if got := d.AuthOff(); len(got) != 1 || !strings.Contains(got[0], k) {
			t.Errorf("%s=%s: AuthOff %v", k, v, got)
		}
	}
	on := map[string]string{"AIGW_AUTH__BYPASS_EXTERNAL": "false", "DUO_WORKFLOW_AUTH__ENABLED": "true", "AIGW_AUTH": `{"bypass_external": false}`, "AIGW_LOGGING__LEVEL": "debug"}
	for k, v := range on {
		d := valid()
		d.Gateway.Image.Env = map[string]string{k: v}
		if got := d.AuthOff(); len(got) != 0 {
			t.Errorf("%s=%s: AuthOff %v", k, v, got)
		}
	}
	d := valid()
	d.Gateway.AuthBypass = true
	if got := d.AuthOff(); len(got) != 1 || got[0] != "auth_bypass: true" {
		t.Errorf("auth_bypass: %v", got)
	}
}

// TestValidate_HostAndEnvNamesOfIssue16: an invalid address is refused, not
// published on all addresses; an empty env name is bad input, not the
// engine's raw text.
func TestValidate_HostAndEnvNamesOfIssue16(t *testing.T) {
	for _, host := range []string{"999.1.1.1", "1.2.3", "256.0.0.1", "10.0.0.999"} {
		d := valid()
		d.Host = host
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "not a valid IP address") {
			t.Errorf("host %q: %v", host, err)
		}
	}
	for _, host := range []string{"gpu-box.example.com", "10.1.2.3", "2001:db8::1", "box1"} {
		d := valid()
		d.Host = host
		if err := d.Validate(); err != nil {
			t.Errorf("host %q refused: %v", host, err)
		}
	}
	for _, name := range []string{"", "1ABC", "A-B", "A B", "A=B"} {
		d := valid()
		d.Gateway.Image.Env = map[string]string{name: "x"}
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "not an environment variable name") {
			t.Errorf("gateway env name %q: %v", name, err)
		}
		d = valid()
		d.ModelServer.Env = map[string]string{name: "x"}
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), "model_server.env") {
			t.Errorf("model server env name %q: %v", name, err)
		}
	}
}
