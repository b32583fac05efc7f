package stack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

// helmSpec is an 18.5 stack serving a gated model (Codestral 22B), with or
// without an HF token file, and with DuoBox's local pre-filled cache (which
// puts HF_HUB_OFFLINE=1 into the local spec).
func helmSpec(t *testing.T, withToken bool) Spec {
	t.Helper()
	d := testConfig("18.5")
	d.Models = []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", GPUs: []int{0}}}
	cat, _ := bundles.Catalog()
	o := Options{Catalog: cat, SecretsDir: "/secrets", HFHubCache: "/home/u/.cache/huggingface/hub"}
	if withToken {
		o.HFTokenFile = "/secrets/hf_token"
	}
	s, err := Build(d, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func helmFile(t *testing.T, files []File, name string) string {
	t.Helper()
	for _, f := range files {
		if f.Name == name {
			return f.Content
		}
	}
	t.Fatalf("no %s in the export", name)
	return ""
}

// manifests decodes vllm.yaml into its documents, by kind.
func manifests(t *testing.T, content string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	dec := yaml.NewDecoder(strings.NewReader(content))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		out[doc["kind"].(string)] = doc
	}
	return out
}

func TestHelmExportOnlineDownloadsIntoAClaimWithTheTokenFromASecret(t *testing.T) {
	files, err := Export(helmSpec(t, true), FormatHelm, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vllm := helmFile(t, files, "vllm.yaml")
	docs := manifests(t, vllm)
	if docs["PersistentVolumeClaim"] == nil {
		t.Fatalf("no PersistentVolumeClaim for the weights:\n%s", vllm)
	}
	if strings.Contains(vllm, "HF_HUB_OFFLINE") || strings.Contains(vllm, "emptyDir: {}") {
		t.Errorf("online export is offline over an empty cache:\n%s", vllm)
	}
	if !strings.Contains(vllm, "secretKeyRef") || !strings.Contains(vllm, "claimName: duobox-model-hf-cache") {
		t.Errorf("no token Secret reference or claim mount:\n%s", vllm)
	}
}

func TestHelmExportAirGappedUsesThePrefilledClaimOffline(t *testing.T) {
	files, err := Export(helmSpec(t, false), FormatHelm, ExportOptions{WeightsClaim: "weights"})
	if err != nil {
		t.Fatal(err)
	}
	vllm := helmFile(t, files, "vllm.yaml")
	docs := manifests(t, vllm)
	if docs["PersistentVolumeClaim"] != nil || !strings.Contains(vllm, "claimName: weights") {
		t.Errorf("air-gapped export must mount the given claim, not create one:\n%s", vllm)
	}
	if !strings.Contains(vllm, "name: HF_HUB_OFFLINE\n") || strings.Contains(vllm, "secretKeyRef") {
		t.Errorf("air-gapped export must be offline and need no token:\n%s", vllm)
	}
}

func TestHelmExportOfAGatedModelWithoutATokenIsBadInput(t *testing.T) {
	_, err := Export(helmSpec(t, false), FormatHelm, ExportOptions{})
	if err == nil || !strings.Contains(err.Error(), "gated") || !strings.Contains(err.Error(), "--weights-claim") {
		t.Fatalf("want a refusal naming the gated model and the ways out, got %v", err)
	}
}

// needTool finds a command-line tool; without it the test skips, except
// under CI, which installs it (scripts/setup-debian.sh).
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed; CI installs it with scripts/setup-debian.sh", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

func writeExport(t *testing.T, opts ExportOptions) string {
	t.Helper()
	files, err := Export(helmSpec(t, true), FormatHelm, opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), []byte(f.Content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The manifest goes through the real helm (as a chart's template: lint and
// render) for both weight sources.
func TestHelmExportPassesHelmLintAndTemplate(t *testing.T) {
	helm := needTool(t, "helm")
	for _, claim := range []string{"", "weights"} {
		dir := writeExport(t, ExportOptions{WeightsClaim: claim})
		chart := filepath.Join(dir, "chart")
		if err := os.MkdirAll(filepath.Join(chart, "templates"), 0o755); err != nil {
			t.Fatal(err)
		}
		meta := "apiVersion: v2\nname: duobox-vllm\nversion: 0.1.0\ndescription: DuoBox export check\nicon: https://example.com/i.png\n"
		vllm, _ := os.ReadFile(filepath.Join(dir, "vllm.yaml"))
		_ = os.WriteFile(filepath.Join(chart, "Chart.yaml"), []byte(meta), 0o600)
		_ = os.WriteFile(filepath.Join(chart, "values.yaml"), nil, 0o600)
		_ = os.WriteFile(filepath.Join(chart, "templates", "vllm.yaml"), vllm, 0o600)
		for _, args := range [][]string{{"lint", "--strict", chart}, {"template", "check", chart}} {
			if out, err := exec.Command(helm, args...).CombinedOutput(); err != nil {
				t.Errorf("helm %s (claim %q): %v\n%s", args[0], claim, err, out)
			}
		}
		if out, err := exec.Command(helm, "lint", "--strict", "-f", filepath.Join(dir, "values.yaml"), chart).CombinedOutput(); err != nil {
			t.Errorf("values.yaml is not valid Helm values: %v\n%s", err, out)
		}
	}
}

// kubectl's client-side dry run needs API discovery, so the test serves the
// discovery documents of the kinds the export uses and answers 404 for every
// object (FakeDiscovery: no cluster here). kubectl itself parses and checks
// each manifest.
func TestHelmExportPassesKubectlDryRun_FakeDiscovery(t *testing.T) {
	kubectl := needTool(t, "kubectl")
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		res := func(name, kind string, namespaced bool) map[string]any {
			return map[string]any{"name": name, "kind": kind, "namespaced": namespaced, "verbs": []string{"get", "create", "patch"}}
		}
		var body any
		switch r.URL.Path {
		case "/api":
			body = map[string]any{"kind": "APIVersions", "versions": []string{"v1"}}
		case "/apis":
			body = map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{map[string]any{"name": "apps",
				"versions": []any{map[string]string{"groupVersion": "apps/v1", "version": "v1"}}, "preferredVersion": map[string]string{"groupVersion": "apps/v1", "version": "v1"}}}}
		case "/api/v1":
			body = map[string]any{"kind": "APIResourceList", "groupVersion": "v1", "resources": []any{
				res("services", "Service", true), res("secrets", "Secret", true), res("persistentvolumeclaims", "PersistentVolumeClaim", true)}}
		case "/apis/apps/v1":
			body = map[string]any{"kind": "APIResourceList", "groupVersion": "apps/v1", "resources": []any{res("deployments", "Deployment", true)}}
		default:
			w.WriteHeader(http.StatusNotFound)
			body = map[string]any{"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
		}
		_ = json.NewEncoder(w).Encode(body)
	}))
	defer api.Close()
	kubeconfig := filepath.Join(t.TempDir(), "config")
	_ = os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "+api.URL+"}}]\n"+
		"users: [{name: u, user: {}}]\ncontexts: [{name: c, context: {cluster: c, user: u, namespace: ai-gateway}}]\ncurrent-context: c\n"), 0o600)
	for _, opts := range []ExportOptions{{}, {WeightsClaim: "weights"}, {IncludeSecrets: true, ReadSecret: func(string) ([]byte, error) { return []byte("tok"), nil }}} {
		dir := writeExport(t, opts)
		cmd := exec.Command(kubectl, "apply", "--dry-run=client", "--validate=false", "-f", filepath.Join(dir, "vllm.yaml"))
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl apply --dry-run=client (%+v): %v\n%s", opts.WeightsClaim, err, out)
		}
		for _, kind := range []string{"deployment.apps/duobox-model", "service/duobox-model"} {
			if !strings.Contains(string(out), kind) {
				t.Errorf("kubectl did not take %s:\n%s", kind, out)
			}
		}
	}
}

// The Hugging Face token is never an environment variable of the model
// server ('docker inspect' shows those): a server that starts offline from
// the weights DuoBox pulled (GPU mode) gets nothing, one that downloads the
// weights itself gets the file read-only with HF_TOKEN_PATH naming it, and
// the Helm export, whose server downloads, still references it.
func TestHFTokenOnlyWhereTheModelServerDownloads(t *testing.T) {
	s := helmSpec(t, true)
	for _, c := range s.Containers {
		if c.Role != RoleModel {
			continue
		}
		if len(c.SecretEnv) != 0 || c.DownloadToken == nil || c.DownloadToken.File != "/secrets/hf_token" {
			t.Fatalf("offline model server: secret env %v, download token %v", c.SecretEnv, c.DownloadToken)
		}
	}
	if len(s.SecretFiles()) != 4 {
		t.Errorf("secret files the local stack reads: %v (the token is not one of them offline)", s.SecretFiles())
	}
	d := testConfig("18.5")
	d.Models = []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", GPUs: []int{0}}}
	cat, _ := bundles.Catalog()
	online, err := Build(d, Options{Catalog: cat, SecretsDir: "/secrets", HFTokenFile: "/secrets/hf_token"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range online.Containers {
		if c.Role != RoleModel {
			continue
		}
		mounted := slices.Contains(c.Mounts, Mount{Type: "bind", Source: "/secrets/hf_token", Target: HFTokenTarget, ReadOnly: true})
		if len(c.SecretEnv) != 0 || !mounted || !slices.Contains(c.Env, "HF_TOKEN_PATH="+HFTokenTarget) || c.DownloadToken == nil {
			t.Fatalf("model server that downloads: secret env %v, mounts %v, env %v, download token %v", c.SecretEnv, c.Mounts, c.Env, c.DownloadToken)
		}
	}
}
