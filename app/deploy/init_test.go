package deploy

import (
	"errors"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

func initInput(t *testing.T, gitlab string, gpus ...hardware.GPU) InitInput {
	t.Helper()
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	res, err := recommend.Recommend(hardware.Machine{GPUs: gpus}, cat, recommend.Options{GitLab: version.MustParse(gitlab)})
	if err != nil {
		t.Fatal(err)
	}
	return InitInput{GitLabURL: "https://gitlab.example.com/", GitLabVersion: gitlab, Host: "gpu-box.example.com", Catalog: cat, Recommended: res}
}

var rtx4090 = hardware.GPU{Index: 0, Vendor: "nvidia", Name: "RTX 4090", MemoryTotal: 24564 << 20, MemoryFree: 24000 << 20, ComputeCapability: "8.9"}

func TestNewDeploymentRefusesLoopbackAndWildcardHosts(t *testing.T) {
	for _, h := range []string{"localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "0.0.0.0", "::"} {
		in := initInput(t, "17.9", rtx4090)
		in.Host = h
		_, _, err := NewDeployment(in)
		var p *app.Problem
		if !errors.As(err, &p) || p.Kind != app.KindBadInput || !strings.Contains(p.What, "do not use localhost") {
			t.Errorf("host %q: want the seed's reason, got %v", h, err)
		}
	}
}

func TestNewDeploymentTakesTheRecommendationAndTheNewestGatewayTag(t *testing.T) {
	in := initInput(t, "18.2", rtx4090)
	in.GatewayTags = []string{"self-hosted-v18.2.0-ee", "self-hosted-v18.2.1-ee", "latest"}
	d, _, err := NewDeployment(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Gateway.Image.Tag != "self-hosted-v18.2.1-ee" || d.GitLab.URL != "https://gitlab.example.com" {
		t.Errorf("gateway tag %q url %q", d.Gateway.Image.Tag, d.GitLab.URL)
	}
	if len(d.Models) == 0 || d.Models[0].MaxModelLen == 0 || d.Models[0].GPUMemoryUtilization == 0 || d.Models[0].ServedName == "" {
		t.Fatalf("models %+v", d.Models)
	}
	if strings.Contains(d.Models[0].ServedName, "/") {
		t.Errorf("served name %q should be a plain id", d.Models[0].ServedName)
	}
}

func TestNewDeploymentWithoutGPUNeedsModeCPU(t *testing.T) {
	in := initInput(t, "17.9")
	_, _, err := NewDeployment(in)
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--mode cpu") {
		t.Fatalf("want a bad-input problem pointing at --mode cpu, got %v", err)
	}
	in.Mode = config.ModeCPU
	d, _, err := NewDeployment(in)
	if err != nil || len(d.Models) != 1 || d.Models[0].GPUs != nil {
		t.Fatalf("cpu mode: %+v, %v", d.Models, err)
	}
}

func TestNewDeploymentNamedModelUsesItsFit(t *testing.T) {
	in := initInput(t, "17.9", rtx4090)
	in.Models = []string{"mistralai/Mistral-7B-Instruct-v0.3"}
	in.GatewayTag = "self-hosted-v17.9.3-ee"
	d, _, err := NewDeployment(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Models) != 1 || d.Models[0].HFRepo != "mistralai/Mistral-7B-Instruct-v0.3" || d.Models[0].MaxModelLen == 0 || d.Gateway.Image.Tag != "self-hosted-v17.9.3-ee" {
		t.Fatalf("%+v", d)
	}
}

// TestNewDeploymentImagesAUserPointsElsewhere: init takes the gateway
// repository, the model server image, both health commands and the Agent
// Platform port; bad values are refused with what to pass.
func TestNewDeploymentImagesAUserPointsElsewhere(t *testing.T) {
	in := initInput(t, "18.5", rtx4090)
	in.GatewayTags = []string{"self-hosted-v18.5.0-ee"}
	in.Port = 15052
	in.AgentPort = 15053
	in.GatewayRepository = "mirror.example.com/gitlab/model-gateway"
	in.ModelServerImage = "mirror.example.com:5000/vllm/vllm-openai-patched:v0.18.1-p1"
	in.ModelServerHealthCmd = "curl -fsS http://127.0.0.1:8000/health"
	in.GatewayHealthCmd = "none"
	d, _, err := NewDeployment(in)
	if err != nil {
		t.Fatal(err)
	}
	if d.Gateway.AgentPort != 15053 || d.Gateway.Image.Repository != "mirror.example.com/gitlab/model-gateway" || d.Gateway.Image.Tag != "self-hosted-v18.5.0-ee" ||
		d.ModelServer.Repository != "mirror.example.com:5000/vllm/vllm-openai-patched" || d.ModelServer.Tag != "v0.18.1-p1" {
		t.Errorf("images/ports: %+v %+v", d.Gateway, d.ModelServer)
	}
	if strings.Join(d.ModelServer.HealthCmd, " ") != "CMD curl -fsS http://127.0.0.1:8000/health" || strings.Join(d.Gateway.Image.HealthCmd, " ") != "NONE" {
		t.Errorf("health commands %q %q", d.ModelServer.HealthCmd, d.Gateway.Image.HealthCmd)
	}
	in.ModelServerImage = "vllm/vllm-openai"
	in.ModelServerHealthCmd = "CMD-SHELL wget -qO- http://127.0.0.1:8000/health || exit 1"
	if d, _, err = NewDeployment(in); err != nil || d.ModelServer.Tag != config.DefaultModelServerTag ||
		strings.Join(d.ModelServer.HealthCmd, "|") != "CMD-SHELL|wget -qO- http://127.0.0.1:8000/health || exit 1" {
		t.Errorf("repository without tag / CMD-SHELL: %+v %v", d.ModelServer, err)
	}

	for name, bad := range map[string]func(*InitInput){
		"agent port = gateway port": func(i *InitInput) { i.AgentPort = i.Port },
		"agent port out of range":   func(i *InitInput) { i.AgentPort = 70000 },
		"image with a digest":       func(i *InitInput) { i.ModelServerImage = "vllm/vllm-openai@sha256:abc" },
		"empty CMD-SHELL":           func(i *InitInput) { i.ModelServerHealthCmd = "CMD-SHELL" },
		"bad repository":            func(i *InitInput) { i.GatewayRepository = "Not A Repo" },
	} {
		in := initInput(t, "18.5", rtx4090)
		in.GatewayTags = []string{"self-hosted-v18.5.0-ee"}
		in.Port, in.AgentPort = 15052, 15053
		bad(&in)
		var p *app.Problem
		if _, _, err := NewDeployment(in); !errors.As(err, &p) || p.Kind != app.KindBadInput || p.Fix == "" {
			t.Errorf("%s: want bad input with a fix, got %v", name, err)
		}
	}
}
