package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func valid() Deployment {
	return Deployment{
		GitLab:  GitLab{URL: "https://gitlab.example.com", Version: "17.9"},
		Host:    "gpu-box.example.com",
		Models:  []Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", GPUMemoryUtilization: 0.9, MaxModelLen: 16384}},
		Gateway: Gateway{Image: Image{Tag: "self-hosted-v17.9.2-ee"}},
	}.WithDefaults()
}

func TestSaveLoadRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "deployment.yaml")
	if err := Save(p, valid()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	d, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if d.Models[0].Name() != "mistralai/Mistral-7B-Instruct-v0.3" || d.Gateway.Port != 5052 || d.Network != "duobox" {
		t.Fatalf("loaded %+v", d)
	}
}

func TestValidateNamesEachBadField(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Deployment)
		want   string
	}{
		{"loopback host", func(d *Deployment) { d.Host = "localhost" }, "host: \"localhost\""},
		{"loopback ip", func(d *Deployment) { d.Host = "127.0.1.1" }, "loopback"},
		{"wildcard", func(d *Deployment) { d.Host = "0.0.0.0" }, "wildcard"},
		{"ipv6 loopback", func(d *Deployment) { d.Host = "[::1]" }, "loopback"},
		{"ipv6 zone", func(d *Deployment) { d.Host = "fe80::1%eth0" }, "link-local"},
		{"url without scheme", func(d *Deployment) { d.GitLab.URL = "gitlab.example.com" }, "no scheme"},
		{"api url", func(d *Deployment) { d.GitLab.URL = "https://gitlab.example.com/api/v4/" }, "/api/v4"},
		{"bad version", func(d *Deployment) { d.GitLab.Version = "seventeen" }, "gitlab.version"},
		{"major only", func(d *Deployment) { d.GitLab.Version = "17" }, "minor release"},
		{"bad tag", func(d *Deployment) { d.Gateway.Image.Tag = "bad tag!" }, "gateway.image"},
		{"bad repo", func(d *Deployment) { d.Models[0].HFRepo = "mistral" }, "hf_repo"},
		{"util too high", func(d *Deployment) { d.Models[0].GPUMemoryUtilization = 1.2 }, "gpu_memory_utilization"},
		{"port", func(d *Deployment) { d.Gateway.Port = 70000 }, "gateway.port"},
		{"no models", func(d *Deployment) { d.Models = nil }, "at least one model"},
		{"relative log dir", func(d *Deployment) { d.LogDir = "logs" }, "log_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := valid()
			tt.mutate(&d)
			err := d.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

func TestNormalizeGitLabURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.example.com":    "https://gitlab.example.com",
		"https://gitlab.example.com///": "https://gitlab.example.com",
		"http://10.0.0.5:8080/":         "http://10.0.0.5:8080",
		"https://[2001:db8::1]/":        "https://[2001:db8::1]",
		"https://example.com/gitlab/":   "https://example.com/gitlab",
	} {
		got, err := NormalizeGitLabURL(in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "gitlab.example.com", "ftp://x", "https://", "https://u:p@x", "https://x?a=b"} {
		if _, err := NormalizeGitLabURL(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseRejectsUnknownFieldsAndBrokenYAML(t *testing.T) {
	for _, body := range []string{"gitlab: [", "colour: red\n", "version: 1\ngitlab: {url: x}\n"} {
		if _, err := Parse([]byte(body), "test.yaml"); err == nil || !strings.Contains(err.Error(), "test.yaml") {
			t.Errorf("Parse(%q) err = %v, want an error naming the file", body, err)
		}
	}
}

func TestWatchKeepsLastGoodConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "deployment.yaml")
	if err := Save(p, valid()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	changes := make(chan Deployment, 4)
	errs := make(chan error, 4)
	go Watch(ctx, p, func(d Deployment) { changes <- d }, func(err error) { errs <- err })
	time.Sleep(200 * time.Millisecond)

	if err := os.WriteFile(p, []byte("gitlab: [broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "not a valid deployment config") {
			t.Fatalf("error %v", err)
		}
	case d := <-changes:
		t.Fatalf("a broken edit was delivered as a config: %+v", d)
	case <-ctx.Done():
		t.Fatal("no error for a broken edit")
	}
	good := valid()
	good.Host = "other-host.example.com"
	if err := Save(p, good); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-changes:
		if d.Host != "other-host.example.com" {
			t.Fatalf("host %q", d.Host)
		}
	case <-ctx.Done():
		t.Fatal("the fixed config was not delivered")
	}
}

func TestHostForURL(t *testing.T) {
	for in, want := range map[string]string{" 010:: ": "[10::]", "2001:db8::1": "[2001:db8::1]", "[2001:db8::1]": "[2001:db8::1]", " gpu-box ": "gpu-box", "10.0.0.5": "10.0.0.5"} {
		if got := HostForURL(in); got != want {
			t.Errorf("HostForURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImageOnAnotherRegistryKeepsPathAndTag(t *testing.T) {
	img := Image{Repository: DefaultGatewayImage, Tag: "self-hosted-v18.2.1-ee", Registry: "mirror.example.com:5000"}
	want := "mirror.example.com:5000/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway:self-hosted-v18.2.1-ee"
	if got := img.Ref(); got != want {
		t.Errorf("Ref() = %q, want %q", got, want)
	}
	if got := (Image{Repository: "vllm/vllm-openai", Tag: "v0.9.0", Registry: "reg.corp"}).Ref(); got != "reg.corp/vllm/vllm-openai:v0.9.0" {
		t.Errorf("Docker Hub image moved: %q", got)
	}
	if err := CheckImage(Image{Repository: "vllm/vllm-openai", Tag: "v1", Registry: "https://reg.corp/x"}); err == nil {
		t.Error("a registry with scheme and path should be refused")
	}
}

// TestExplicitZeroPortIsRefusedOmittedIsTheDefault: "port: 0" written in
// the file used to mean the default silently (issue 16); omitted still does.
func TestExplicitZeroPortIsRefusedOmittedIsTheDefault(t *testing.T) {
	body, err := Marshal(valid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ from, to, want string }{
		{"port: 5052", "port: 0", "gateway.port: 0 is not a TCP port (1–65535); leave the field out for the default 5052"},
		{"agent_port: 50052", "agent_port: 0", "gateway.agent_port: 0 is not a TCP port (1–65535); leave the field out for the default 50052"},
		{"agent_port: 50052", "agent_port: 0x0", "gateway.agent_port: 0 is not a TCP port"},
	} {
		spoilt := strings.Replace(string(body), "    "+tt.from+"\n", "    "+tt.to+"\n", 1)
		if spoilt == string(body) {
			t.Fatalf("%q not in the config:\n%s", tt.from, body)
		}
		_, err := Parse([]byte(spoilt), "deployment.yaml")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "deployment.yaml") {
			t.Errorf("%s: got %v, want %q", tt.to, err, tt.want)
		}
	}
	omitted := strings.Replace(strings.Replace(string(body), "    port: 5052\n", "", 1), "    agent_port: 50052\n", "", 1)
	d, err := Parse([]byte(omitted), "deployment.yaml")
	if err != nil || d.Gateway.Port != DefaultGatewayPort || d.Gateway.AgentPort != DefaultAgentPort {
		t.Fatalf("ports left out: %+v, %v", d.Gateway, err)
	}
}
