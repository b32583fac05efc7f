package docker_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/docker"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenCases are the real images DuoBox runs for three GitLab versions.
var goldenCases = []struct {
	file string
	cfg  config.Deployment
}{
	{"gitlab-17.2.json", config.Deployment{
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "17.2"}, Host: "gpu-box.example.com",
		Models:    []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b-instruct", MaxModelLen: 16384, GPUMemoryUtilization: 0.9, GPUs: []int{0}}},
		Gateway:   config.Gateway{Image: config.Image{Tag: "gitlab-v17.2.0"}},
		DocsIndex: "/srv/gitlab-agw/docs.db",
	}},
	{"gitlab-17.9.json", config.Deployment{
		GitLab: config.GitLab{URL: "https://gitlab.example.com/gitlab", Version: "17.9.2-ee"}, Host: "192.0.2.10",
		Models:  []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", ServedName: "codestral-22b", MaxModelLen: 32768, GPUMemoryUtilization: 0.92, GPUs: []int{0, 1}}},
		Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v17.9.4-ee"}},
	}},
	{"gitlab-18.5.json", config.Deployment{
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"}, Host: "gpu-box.example.com",
		Models:  []config.Model{{HFRepo: "mistralai/Mistral-Small-3.2-24B-Instruct-2506", ServedName: "mistral-small-24b", MaxModelLen: 32768, GPUMemoryUtilization: 0.95}},
		Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v18.5.0-ee"}},
	}},
}

// TestGoldenContainerConfigsForRealImages pins the exact Engine API create
// requests (and the spec behind them) for the real vLLM and gateway images.
// Regenerate with: go test ./runtime/docker/ -run Golden -update
func TestGoldenContainerConfigsForRealImages(t *testing.T) {
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range goldenCases {
		t.Run(tc.file, func(t *testing.T) {
			d := tc.cfg.WithDefaults()
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := stack.Build(d, stack.Options{Catalog: cat, SecretsDir: "/home/user/.config/duobox/secrets",
				LogDir: "/srv/gitlab-agw", HostIP: "192.0.2.10", HFTokenFile: "/home/user/.config/duobox/secrets/hf_token",
				HFHubCache: "/home/user/.cache/huggingface/hub"})
			if err != nil {
				t.Fatal(err)
			}
			type create struct {
				Name             string `json:"name"`
				Config           any    `json:"config"`
				HostConfig       any    `json:"host_config"`
				NetworkingConfig any    `json:"networking_config"`
			}
			out := struct {
				Spec    stack.Spec `json:"spec"`
				Creates []create   `json:"creates"`
			}{Spec: s}
			for _, c := range s.Containers {
				secrets := map[string]string{}
				for _, se := range c.SecretEnv {
					secrets[se.Name] = "<contents of " + se.File + ">"
				}
				req, err := docker.CreateRequest(c, s.Network.Name, secrets)
				if err != nil {
					t.Fatal(err)
				}
				out.Creates = append(out.Creates, create{req.Name, req.Config, req.HostConfig, req.NetworkingConfig})
			}
			got, err := json.MarshalIndent(out, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("container config for %s differs from %s; if intended, rerun with -update and review the diff", tc.file, path)
			}
		})
	}
}
