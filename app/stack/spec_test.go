package stack

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/bundles"
)

func testConfig(version string) config.Deployment {
	return config.Deployment{
		GitLab: config.GitLab{URL: "https://gitlab.example.com/", Version: version},
		Host:   "gpu-box.example.com",
		Models: []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 16384,
			GPUMemoryUtilization: 0.9, GPUs: []int{0}}},
		Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v" + version + ".0-ee"}},
	}.WithDefaults()
}

func build(t *testing.T, d config.Deployment) Spec {
	t.Helper()
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(d, Options{Catalog: cat, SecretsDir: "/secrets", LogDir: "/srv/gitlab-agw", HostIP: "192.0.2.10", HFTokenFile: "/secrets/hf_token"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func envOf(c Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		m[k] = v
	}
	return m
}

func TestBuildModelContainerIsPrivateWithExplicitLimits(t *testing.T) {
	s := build(t, testConfig("17.9"))
	m := s.Containers[0]
	if m.Role != RoleModel || m.Name != "duobox-model" || len(m.Ports) != 0 {
		t.Fatalf("model container %s role %s ports %v: must not be published", m.Name, m.Role, m.Ports)
	}
	for _, want := range [][]string{{"--served-model-name", "mistral-7b"}, {"--max-model-len", "16384"}, {"--gpu-memory-utilization", "0.9"}, {"--tokenizer-mode", "mistral"}} {
		i := slices.Index(m.Cmd, want[0])
		if i < 0 || m.Cmd[i+1] != want[1] {
			t.Errorf("cmd %v lacks %v", m.Cmd, want)
		}
	}
	if m.GPU == nil || !slices.Equal(m.GPU.DeviceIDs, []string{"0"}) || !m.IPCHost {
		t.Errorf("GPU request %+v ipc host %v", m.GPU, m.IPCHost)
	}
	if len(m.SecretEnv) != 0 || m.DownloadToken == nil || !slices.Contains(m.Env, "HF_TOKEN_PATH="+HFTokenTarget) ||
		slices.ContainsFunc(m.Env, func(e string) bool { return strings.HasPrefix(e, "HF_TOKEN=") }) {
		t.Errorf("the HF token must reach the model server as a read-only file only: env %v secrets %v", m.Env, m.SecretEnv)
	}
	if m.Labels[LabelManaged] != "true" || m.Labels[LabelConfigHash] != m.Hash() {
		t.Errorf("labels %v", m.Labels)
	}
}

func TestBuildGatewayEnvByVersion(t *testing.T) {
	for _, tc := range []struct {
		version    string
		secrets    int
		agentPort  bool
		docsTarget string
	}{{"17.2", 0, false, "/app/tmp/docs.db"}, {"17.5", 2, false, "/app/tmp/docs.db"},
		// Issue 12 item 7: WORKDIR /home/aigateway/app since 2024-11-05, before 17.6 shipped.
		{"17.6", 2, false, "/home/aigateway/app/tmp/docs.db"}, {"17.9", 2, false, "/home/aigateway/app/tmp/docs.db"},
		// Item 10: no Duo Workflow Service (no 50052, no DUO_WORKFLOW_*) before the 18.4 images.
		{"18.0", 2, false, "/home/aigateway/app/tmp/docs.db"}, {"18.3", 2, false, "/home/aigateway/app/tmp/docs.db"},
		{"18.4", 4, true, "/home/aigateway/app/tmp/docs.db"}, {"18.5", 4, true, "/home/aigateway/app/tmp/docs.db"}} {
		d := testConfig(tc.version)
		d.DocsIndex = "/data/docs.db"
		g := build(t, d).Containers[1]
		env := envOf(g)
		for k, v := range map[string]string{"AIGW_CUSTOM_MODELS__ENABLED": "true", "AIGW_FASTAPI__API_PORT": "5052",
			"AIGW_GITLAB_URL": "https://gitlab.example.com", "AIGW_GITLAB_API_URL": "https://gitlab.example.com/api/v4/",
			"AIGW_FASTAPI__OPENAPI_URL": "/openapi.json", "AIGW_FASTAPI__DOCS_URL": "/docs", "AIGW_CUSTOMER_PORTAL_URL": "https://gitlab.example.com"} {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", tc.version, k, env[k], v)
			}
		}
		if _, ok := env["AIGW_AUTH__BYPASS_EXTERNAL"]; ok {
			t.Errorf("%s: auth bypass set without being asked", tc.version)
		}
		if len(g.SecretEnv) != tc.secrets {
			t.Errorf("%s: %d secret env, want %d", tc.version, len(g.SecretEnv), tc.secrets)
		}
		if HasAgentPlatformPort(g) != tc.agentPort || g.Ports[0] != (Port{HostIP: "192.0.2.10", HostPort: 5052, ContainerPort: 5052}) {
			t.Errorf("%s: ports %v", tc.version, g.Ports)
		}
		for k := range env {
			if strings.HasPrefix(k, "DUO_WORKFLOW_") != tc.agentPort && strings.HasPrefix(k, "DUO_WORKFLOW_") {
				t.Errorf("%s: %s set although the image runs no Agent Platform", tc.version, k)
			}
		}
		for _, se := range g.SecretEnv {
			if strings.HasPrefix(se.Name, "DUO_WORKFLOW_") && !tc.agentPort {
				t.Errorf("%s: secret %s set although the image runs no Agent Platform", tc.version, se.Name)
			}
		}
		if !slices.Contains(g.Mounts, Mount{Type: "bind", Source: "/data/docs.db", Target: tc.docsTarget, ReadOnly: true}) ||
			slices.ContainsFunc(g.Mounts, func(m Mount) bool { return m.Target == gatewayLogPath }) {
			t.Errorf("%s: mounts %v (no log folder unless the gateway is asked for a log file)", tc.version, g.Mounts)
		}
	}
}

func TestBuildAuthBypassOnlyWhenAsked(t *testing.T) {
	d := testConfig("18.5")
	d.Gateway.AuthBypass = true
	if env := envOf(build(t, d).Containers[1]); env["AIGW_AUTH__BYPASS_EXTERNAL"] != "true" {
		t.Fatal("bypass asked for but not set")
	}
}

func TestHashChangesOnlyForTheChangedContainer(t *testing.T) {
	a := build(t, testConfig("18.5"))
	d := testConfig("18.5")
	d.Gateway.Image.Tag = "self-hosted-v18.5.1-ee"
	b := build(t, d)
	if a.Containers[0].Hash() != b.Containers[0].Hash() {
		t.Error("model hash changed although only the gateway changed")
	}
	if a.Containers[1].Hash() == b.Containers[1].Hash() {
		t.Error("gateway hash did not change with its tag")
	}
}

func TestCPUModeHasNoGPURequestAndRunsVLLMsCPUImage(t *testing.T) {
	d := testConfig("17.9")
	d.Mode = config.ModeCPU
	d.ModelServer = config.Image{}
	m := build(t, d.WithDefaults()).Containers[0]
	if m.GPU != nil || m.IPCHost || m.ShmSize == 0 || slices.Contains(m.Cmd, "--gpu-memory-utilization") {
		t.Fatalf("cpu mode model: %+v", m)
	}
	if !strings.HasPrefix(m.Image, config.DefaultCPUModelServerImage+":") {
		t.Errorf("cpu mode image = %s, want vLLM's CPU image", m.Image)
	}
	if envOf(m)[CPUKVCacheEnv] == "" {
		t.Errorf("cpu mode sets no %s: %v", CPUKVCacheEnv, m.Env)
	}
}

func TestCPUModeRefusesTheCUDAImage(t *testing.T) {
	d := testConfig("17.9")
	d.Mode = config.ModeCPU // testConfig already filled in vllm/vllm-openai
	cat, _ := bundles.Catalog()
	_, err := Build(d, Options{Catalog: cat})
	if err == nil || !strings.Contains(err.Error(), "NVIDIA GPUs (CUDA) only") || !strings.Contains(err.Error(), config.DefaultCPUModelServerImage) {
		t.Fatalf("CPU mode with the CUDA image: %v", err)
	}
}

// Codestral 22B AWQ is DuoBox's own pick for a 24 GB card on 18.5; the
// original repo's --load-format mistral would make vLLM look for
// consolidated*.safetensors, which the AWQ repo does not have.
func TestVariantIsServedWithItsOwnArgumentsNotTheOriginals(t *testing.T) {
	d := testConfig("18.5")
	d.Models = []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", Variant: "TechxGenus/Codestral-22B-v0.1-AWQ", GPUs: []int{0}}}
	cmd := build(t, d).Containers[0].Cmd
	for _, flag := range []string{"--load-format", "--config-format", "--tokenizer-mode"} {
		if slices.Contains(cmd, flag) {
			t.Errorf("AWQ variant served with the original's %s: %v", flag, cmd)
		}
	}
	d.Models[0].Variant = ""
	if cmd := build(t, d).Containers[0].Cmd; !slices.Contains(cmd, "--load-format") {
		t.Errorf("the original repo lost its own arguments: %v", cmd)
	}
}

func TestAgentPlatformModelGetsTheFamilysToolCallParser(t *testing.T) {
	cases := map[string]string{"mistralai/Codestral-22B-v0.1": "mistral", "meta-llama/Llama-3.1-8B-Instruct": "llama3_json", "openai/gpt-oss-20b": "openai"}
	for repo, parser := range cases {
		d := testConfig("18.5")
		d.Models = []config.Model{{HFRepo: repo, GPUs: []int{0}, Features: []string{"code_generation", "agent_platform"}}}
		cmd := strings.Join(build(t, d).Containers[0].Cmd, " ")
		if !strings.Contains(cmd, "--enable-auto-tool-choice --tool-call-parser "+parser) {
			t.Errorf("%s: %s", repo, cmd)
		}
		d.Models[0].Features = []string{"code_generation"}
		if cmd := strings.Join(build(t, d).Containers[0].Cmd, " "); strings.Contains(cmd, "tool") {
			t.Errorf("%s without Agent Platform got tool flags: %s", repo, cmd)
		}
	}
}

func TestAgentPlatformModelWithoutAKnownParserIsBadInput(t *testing.T) {
	d := testConfig("18.5")
	d.Models = []config.Model{{HFRepo: "someone/unknown-model", GPUs: []int{0}, Features: []string{"agent_platform"}}}
	cat, _ := bundles.Catalog()
	if _, err := Build(d, Options{Catalog: cat}); err == nil || !strings.Contains(err.Error(), "tool-call parser") {
		t.Fatalf("want a refusal naming the missing parser, got %v", err)
	}
	d.Models[0].ExtraArgs = []string{"--enable-auto-tool-choice", "--tool-call-parser", "hermes"}
	if _, err := Build(d, Options{Catalog: cat}); err != nil {
		t.Fatalf("the user's own parser is refused: %v", err)
	}
}

func TestResolveLogDirFallsBackToDataDir(t *testing.T) {
	data := t.TempDir()
	deny := func(dir string) error {
		if dir == DefaultSystemLogDir {
			return os.ErrPermission
		}
		return nil
	}
	got, err := ResolveLogDir("", data, "", deny)
	if err != nil || got != filepath.Join(data, "gitlab-agw") {
		t.Fatalf("ResolveLogDir = %q, %v", got, err)
	}
}

// With DUOBOX_HOME set, /srv/gitlab-agw is never probed (probing creates it),
// even where it is writable: the default is the data folder inside the home.
func TestResolveLogDirUnderDuoboxHomeNeverTouchesSrv(t *testing.T) {
	home := t.TempDir()
	data := filepath.Join(home, "data")
	var probed []string
	allow := func(dir string) error { probed = append(probed, dir); return nil }
	got, err := ResolveLogDir("", data, home, allow)
	if err != nil || got != filepath.Join(data, "gitlab-agw") {
		t.Fatalf("ResolveLogDir under DUOBOX_HOME = %q, %v", got, err)
	}
	if slices.Contains(probed, DefaultSystemLogDir) {
		t.Fatalf("probed %s under DUOBOX_HOME: %v", DefaultSystemLogDir, probed)
	}
	// Without it, a writable /srv/gitlab-agw is the seed's default.
	if got, _ := ResolveLogDir("", data, "", allow); got != DefaultSystemLogDir {
		t.Fatalf("without DUOBOX_HOME = %q, want %s", got, DefaultSystemLogDir)
	}
}

func secretsFixture(t *testing.T) (Spec, string) {
	t.Helper()
	dir := t.TempDir()
	d := testConfig("18.5")
	cat, _ := bundles.Catalog()
	s, err := Build(d, Options{Catalog: cat, SecretsDir: dir, HFTokenFile: filepath.Join(dir, SecretHFToken)})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SecretHFToken), []byte("hf_SECRETTOKEN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	created, err := EnsureKeys(s)
	if err != nil || len(created) != 4 {
		t.Fatalf("EnsureKeys created %v, %v", created, err)
	}
	again, _ := EnsureKeys(s)
	if len(again) != 0 {
		t.Fatalf("EnsureKeys replaced existing keys: %v", again)
	}
	for _, f := range created {
		st, _ := os.Stat(f)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o", f, st.Mode().Perm())
		}
	}
	return s, dir
}

func TestExportsReferenceSecretsUnlessAsked(t *testing.T) {
	s, _ := secretsFixture(t)
	for _, format := range Formats {
		files, err := Export(s, format, ExportOptions{})
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		all := ""
		for _, f := range files {
			all += f.Content
			if strings.HasSuffix(f.Name, ".yaml") {
				var v any
				dec := yaml.NewDecoder(strings.NewReader(f.Content))
				for dec.Decode(&v) == nil {
				}
			}
		}
		if strings.Contains(all, "PRIVATE KEY") || strings.Contains(all, "hf_SECRETTOKEN") {
			t.Errorf("%s export inlines a secret", format)
		}
		if !strings.Contains(all, "aigw_signing.key") && format != FormatHelm {
			t.Errorf("%s export does not say where the signing key is", format)
		}
		withSecrets, err := Export(s, format, ExportOptions{IncludeSecrets: true})
		if err != nil {
			t.Fatal(err)
		}
		joined := ""
		for _, f := range withSecrets {
			joined += f.Content
		}
		// The HF token is a read-only file of the model server, not an
		// environment variable: compose and docker-run mount the file there
		// too; Helm, whose server downloads, puts it in a Secret.
		if !strings.Contains(joined, "PRIVATE KEY") {
			t.Errorf("%s --include-secrets lacks the keys", format)
		}
		if format == FormatHelm && !strings.Contains(joined, "hf_SECRETTOKEN") ||
			format != FormatHelm && (strings.Contains(joined, "hf_SECRETTOKEN") || !strings.Contains(joined, HFTokenTarget)) {
			t.Errorf("%s --include-secrets: the HF token is neither in a Secret (Helm) nor mounted as a file", format)
		}
	}
}

func TestComposeExportParsesAndKeepsModelPrivate(t *testing.T) {
	s, _ := secretsFixture(t)
	files, _ := Export(s, FormatCompose, ExportOptions{})
	var f composeFile
	if err := yaml.Unmarshal([]byte(files[0].Content), &f); err != nil {
		t.Fatal(err)
	}
	if m := f.Services["duobox-model"]; len(m.Ports) != 0 || m.Deploy == nil {
		t.Errorf("model service %+v", m)
	}
	if g := f.Services["duobox-gateway"]; !slices.Equal(g.Ports, []string{"5052:5052", "50052:50052"}) || !slices.Equal(g.DependsOn, []string{"duobox-model"}) {
		t.Errorf("gateway service ports %v depends %v", g.Ports, g.DependsOn)
	}
}

func TestDockerRunScriptIsValidShell(t *testing.T) {
	s, _ := secretsFixture(t)
	files, _ := Export(s, FormatDockerRun, ExportOptions{})
	path := filepath.Join(t.TempDir(), files[0].Name)
	if err := os.WriteFile(path, []byte(files[0].Content), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", path).CombinedOutput(); err != nil {
		t.Fatalf("sh -n: %v\n%s\n%s", err, out, files[0].Content)
	}
	if !strings.Contains(files[0].Content, `AIGW_SELF_SIGNED_JWT__SIGNING_KEY="$(cat `) {
		t.Errorf("script does not read the key from its file:\n%s", files[0].Content)
	}
}

func TestMintGatewayTokenRefusesNonPEM(t *testing.T) {
	if _, err := MintGatewayToken([]byte("not a key"), GatewayClaims{Subject: "duobox"}, 60e9); err == nil {
		t.Fatal("want an error for a non-PEM key")
	}
}

func TestReadSecretsRefusesGroupReadableFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "k")
	os.WriteFile(f, []byte("x"), 0o644)
	_, err := ReadSecrets(Container{SecretEnv: []SecretEnv{{Name: "K", File: f}}})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("want refusal with chmod fix, got %v", err)
	}
}

func TestBuildMountsTheLogFolderOnlyForALogFile(t *testing.T) {
	d := testConfig("18.5")
	gw := build(t, d).Containers[1]
	if slices.ContainsFunc(gw.Mounts, func(m Mount) bool { return m.Target == gatewayLogPath }) || GatewayLogsToFile(d) {
		t.Fatalf("log folder mounted although the gateway writes no file: %v", gw.Mounts)
	}
	d.Gateway.Image.Env = map[string]string{"AIGW_LOGGING__TO_FILE": gatewayLogPath + "/aigateway.log"}
	gw = build(t, d).Containers[1]
	if !slices.Contains(gw.Mounts, Mount{Type: "bind", Source: "/srv/gitlab-agw", Target: gatewayLogPath}) {
		t.Fatalf("gateway asked for a log file, mounts %v", gw.Mounts)
	}
}
