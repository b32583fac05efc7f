package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/version"
)

// Spec is everything DuoBox creates for one deployment, in creation order.
type Spec struct {
	Stack      string      `json:"stack"`
	Network    Network     `json:"network"`
	Volumes    []Volume    `json:"volumes"`
	Containers []Container `json:"containers"` // model server(s) first, then the gateway
	// Weights describes what each model server loads, for exports that must
	// provide the weights themselves (Helm); not part of any container.
	Weights []ModelWeights `json:"weights,omitempty"`
}

// ModelWeights is the checkpoint a model container serves.
type ModelWeights struct {
	Container string `json:"container"`
	Repo      string `json:"repo"`
	Gated     bool   `json:"gated,omitempty"` // Hugging Face asks for a token (catalog; variants unknown → false)
	Bytes     uint64 `json:"bytes,omitempty"` // weight bytes from the catalog; 0 when unknown
}

// Network is the user-defined bridge network the containers share.
type Network struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Volume is a named volume (kept by "down" unless --volumes).
type Volume struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// Container is one container's exact configuration. Secret values are not
// here: SecretEnv names the files they are read from at create time.
type Container struct {
	Name       string      `json:"name"`
	Role       string      `json:"role"`
	Image      string      `json:"image"`
	Platform   string      `json:"platform,omitempty"` // "linux/amd64" when emulated
	Entrypoint []string    `json:"entrypoint,omitempty"`
	Cmd        []string    `json:"cmd,omitempty"`
	Env        []string    `json:"env"`
	SecretEnv  []SecretEnv `json:"secret_env,omitempty"`
	// DownloadToken is the model server's Hugging Face token (nil without
	// one): never an environment variable of the container (a read-only file
	// when the server downloads the weights itself, nothing when it starts
	// offline from the weights DuoBox pulled); the Helm export, whose server
	// downloads, takes it from a Secret.
	DownloadToken *SecretEnv        `json:"download_token,omitempty"`
	Labels        map[string]string `json:"labels"`
	Ports         []Port            `json:"ports,omitempty"`
	Mounts        []Mount           `json:"mounts,omitempty"`
	GPU           *GPURequest       `json:"gpu,omitempty"` // nil in CPU mode
	IPCHost       bool              `json:"ipc_host,omitempty"`
	ShmSize       int64             `json:"shm_size,omitempty"`
	Restart       string            `json:"restart"`
	Health        Health            `json:"health"`
}

// SecretEnv is an environment variable whose value is the content of File.
type SecretEnv struct {
	Name string `json:"name"`
	File string `json:"file"`
}

// Port publishes ContainerPort on HostIP:HostPort (HostIP "" = all addresses).
type Port struct {
	HostIP        string `json:"host_ip,omitempty"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
}

// Mount is a named volume ("volume") or a host path ("bind").
type Mount struct {
	Type     string `json:"type"`
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
}

// GPURequest asks the NVIDIA runtime for GPUs: DeviceIDs, or all when empty.
type GPURequest struct {
	DeviceIDs []string `json:"device_ids,omitempty"`
}

// Health is a Docker health check (CMD form).
type Health struct {
	Test []string `json:"test"`
	// URL is what DuoBox's own probe reads inside the container (127.0.0.1);
	// when the image lacks the health command (no python3) or the check is
	// NONE, DuoBox reads it from outside at the container's address. Not part
	// of the config hash.
	URL         string        `json:"-"`
	Interval    time.Duration `json:"interval"`
	Timeout     time.Duration `json:"timeout"`
	StartPeriod time.Duration `json:"start_period"`
	Retries     int           `json:"retries"`
}

// Options are the facts Build needs from outside the config file.
type Options struct {
	Catalog     catalog.Catalog // model flags (vllm_args) and context length fallbacks
	SecretsDir  string          // paths.Dirs.Secrets()
	LogDir      string          // resolved gateway log dir (see ResolveLogDir)
	HostIP      string          // address to publish the gateway on; "" = all addresses
	HFTokenFile string          // 0600 file holding HF_TOKEN; "" = none
	// HFHubCache is the host's Hugging Face hub cache that DuoBox fills before
	// the model starts (app/weights); when set it is bind-mounted over the
	// container's hub cache and the model server runs with HF_HUB_OFFLINE=1.
	// "" leaves the download to the model server, into the cache volume.
	HFHubCache string
}

// Ports and paths inside the containers.
const (
	ModelPort      = 8000
	GatewayPort    = 5052
	AgentPort      = 50052
	hfCacheTarget  = "/root/.cache/huggingface"
	gatewayLogPath = "/var/log/aigateway"
	RestartPolicy  = "unless-stopped"
)

// Secret file names under the secrets folder.
const (
	SecretHFToken            = "hf_token"
	SecretAIGWSigningKey     = "aigw_signing.key"
	SecretAIGWValidationKey  = "aigw_validation.key"
	SecretDWSSigningKey      = "duo_workflow_jwt.key"
	SecretDWSValidationKey   = "duo_workflow_validation.key"
	DefaultSystemLogDir      = "/srv/gitlab-agw"
	modelHealthURL           = "http://127.0.0.1:8000/health"
	gatewayHealthURL         = "http://127.0.0.1:5052/monitoring/healthz"
	pythonHealthProbeFormat  = "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen(%q, timeout=4).status == 200 else 1)"
	defaultGPUMemoryFraction = 0.90
)

// Build turns a validated deployment config into the stack spec. It is pure:
// it reads no files and asks no engine, so golden tests can pin its output.
func Build(d config.Deployment, o Options) (Spec, error) {
	d = d.WithDefaults()
	v, err := version.Parse(d.GitLab.Version)
	if err != nil {
		return Spec{}, fmt.Errorf("build stack: %w", err)
	}
	if err := gitlabversions.Check(v); err != nil {
		return Spec{}, err
	}
	gitlabURL, err := config.NormalizeGitLabURL(d.GitLab.URL)
	if err != nil {
		return Spec{}, fmt.Errorf("build stack: %w", err)
	}
	s := Spec{Stack: d.Name}
	s.Network = Network{Name: d.Network, Labels: labels(d.Name, RoleNetwork)}
	cache := Volume{Name: d.Name + "-hf-cache", Labels: labels(d.Name, RoleVolume)}
	s.Volumes = []Volume{cache}
	if d.Mode == config.ModeCPU && d.ModelServer.Repository == config.DefaultModelServerImage {
		return Spec{}, app.BadInput("leave model_server.repository empty in CPU mode (DuoBox then uses vLLM's CPU image "+
			config.DefaultCPUModelServerImage+"), name another CPU build of vLLM, or use mode: gpu",
			"mode: cpu cannot run %s: that image is built for NVIDIA GPUs (CUDA) only", config.DefaultModelServerImage)
	}
	for i, m := range d.Models {
		c, err := modelContainer(d, o, v, i, m, cache.Name)
		if err != nil {
			return Spec{}, err
		}
		s.Containers = append(s.Containers, c)
		s.Weights = append(s.Weights, weightsOf(o.Catalog, c.Name, m))
	}
	s.Containers = append(s.Containers, gatewayContainer(d, o, v, gitlabURL))
	for i := range s.Containers {
		s.Containers[i].Labels[LabelConfigHash] = s.Containers[i].Hash()
	}
	return s, nil
}

// ModelContainerName is the name (and DNS name on the network) of the i-th model server.
func ModelContainerName(stack string, i int) string {
	if i == 0 {
		return stack + "-model"
	}
	return fmt.Sprintf("%s-model-%d", stack, i+1)
}

// RollbackContainerName is the name an upgrade gives the previous version of
// a container, kept stopped as the rollback target. Up and status leave it alone.
func RollbackContainerName(name string) string { return name + rollbackSuffix }

// IsRollbackContainer reports whether name is the rollback target of one of
// the spec's containers.
func (s Spec) IsRollbackContainer(name string) bool {
	base, ok := strings.CutSuffix(name, rollbackSuffix)
	if !ok {
		return false
	}
	for _, c := range s.Containers {
		if c.Name == base {
			return true
		}
	}
	return false
}

const rollbackSuffix = "-rollback"

// IsRollbackName reports whether a container name is a kept rollback target.
func IsRollbackName(name string) bool { return strings.HasSuffix(name, rollbackSuffix) }

// GatewayContainerName is the gateway container's name.
func GatewayContainerName(stack string) string { return stack + "-gateway" }

// ModelEndpoint is the URL the gateway (and GitLab's model config) uses for the i-th model.
func ModelEndpoint(stack string, i int) string {
	return fmt.Sprintf("http://%s:%d/v1", ModelContainerName(stack, i), ModelPort)
}

func modelContainer(d config.Deployment, o Options, v version.GitLab, i int, m config.Model, cacheVolume string) (Container, error) {
	entry, _ := o.Catalog.Find(m.HFRepo)
	toolArgs, err := toolCallArgs(v, entry, m)
	if err != nil {
		return Container{}, err
	}
	maxLen := m.MaxModelLen
	if maxLen == 0 {
		maxLen = entry.Architecture.MaxContext
	}
	if maxLen == 0 {
		maxLen = 8192
	}
	args := []string{"--model", m.Repo(), "--served-model-name", m.Name(), "--port", strconv.Itoa(ModelPort),
		"--max-model-len", strconv.Itoa(maxLen)}
	c := Container{
		Name:    ModelContainerName(d.Name, i),
		Role:    RoleModel,
		Image:   d.ModelServer.Ref(),
		Env:     envList(d.ModelServer.Env),
		Labels:  labels(d.Name, RoleModel),
		Mounts:  []Mount{{Type: "volume", Source: cacheVolume, Target: hfCacheTarget}},
		Restart: RestartPolicy,
		Health: Health{Test: healthTest(d.ModelServer.HealthCmd, modelHealthURL), URL: modelHealthURL, Interval: 10 * time.Second,
			Timeout: 5 * time.Second, StartPeriod: 30 * time.Minute, Retries: 3},
	}
	if d.Mode == config.ModeGPU {
		util := m.GPUMemoryUtilization
		if util == 0 {
			util = defaultGPUMemoryFraction
		}
		args = append(args, "--gpu-memory-utilization", strconv.FormatFloat(util, 'f', -1, 64))
		if tp := max(m.TensorParallelSize, len(m.GPUs)); tp > 1 {
			args = append(args, "--tensor-parallel-size", strconv.Itoa(tp))
		}
		c.GPU = &GPURequest{}
		for _, g := range m.GPUs {
			c.GPU.DeviceIDs = append(c.GPU.DeviceIDs, strconv.Itoa(g))
		}
		c.IPCHost = true
	} else {
		c.ShmSize = cpuShmSize
		if _, set := d.ModelServer.Env[CPUKVCacheEnv]; !set {
			c.Env = append(c.Env, fmt.Sprintf("%s=%d", CPUKVCacheEnv, DefaultCPUKVCacheGiB))
		}
	}
	if d := strings.ToLower(m.KVCacheDType); d != "" && d != "auto" {
		args = append(args, "--kv-cache-dtype", d)
	}
	if m.MaxNumBatchedTokens > 0 {
		args = append(args, "--max-num-batched-tokens", strconv.Itoa(m.MaxNumBatchedTokens))
	}
	args = append(args, entry.ArgsFor(m.Repo())...)
	args = append(args, toolArgs...)
	c.Cmd = append(args, m.ExtraArgs...)
	// The token never reaches the model server as an environment variable
	// ('docker inspect' shows those). With the host's cache mounted (GPU
	// mode), DuoBox pulled the weights already and the server starts offline
	// without it. Otherwise the server downloads them itself: the token file is
	// mounted read-only and HF_TOKEN_PATH names it (huggingface_hub reads the
	// token from that file when HF_TOKEN is unset: src/huggingface_hub/constants.py,
	// HF_TOKEN_PATH). DownloadToken keeps it for the Helm export either way.
	if o.HFTokenFile != "" {
		c.DownloadToken = &SecretEnv{Name: "HF_TOKEN", File: o.HFTokenFile}
		if o.HFHubCache == "" {
			c.Mounts = append(c.Mounts, Mount{Type: "bind", Source: o.HFTokenFile, Target: HFTokenTarget, ReadOnly: true})
			c.Env = append(c.Env, "HF_TOKEN_PATH="+HFTokenTarget)
		}
	}
	if o.HFHubCache != "" {
		c.Mounts = append(c.Mounts, Mount{Type: "bind", Source: o.HFHubCache, Target: hfCacheTarget + "/hub"})
		c.Env = append(c.Env, "HF_HUB_OFFLINE=1")
	}
	c.Labels[LabelModel] = m.Name()
	return c, nil
}

func weightsOf(c catalog.Catalog, container string, m config.Model) ModelWeights {
	w := ModelWeights{Container: container, Repo: m.Repo()}
	entry, ok := c.Find(m.HFRepo)
	if !ok {
		return w
	}
	if strings.EqualFold(m.Repo(), entry.HFRepo) {
		w.Gated, w.Bytes = entry.Gated, entry.WeightBytes
	}
	for _, q := range entry.Quantized {
		if strings.EqualFold(q.Repo, m.Repo()) {
			w.Bytes = q.WeightBytes
		}
	}
	return w
}

// CPU mode: vLLM's CPU backend sizes its KV cache from VLLM_CPU_KVCACHE_SPACE
// (GiB) and uses shared memory between processes (vLLM docs,
// getting_started/installation/cpu: docker run --shm-size=4g -e VLLM_CPU_KVCACHE_SPACE=…).
const (
	CPUKVCacheEnv        = "VLLM_CPU_KVCACHE_SPACE"
	DefaultCPUKVCacheGiB = 4
	cpuShmSize           = 4 << 30
)

// toolCallArgs are the flags vLLM needs to accept the tool calls Agent
// Platform requests carry (tool_choice "auto" is refused with 400 unless the
// server runs with --enable-auto-tool-choice and a --tool-call-parser; vLLM
// vllm/entrypoints/openai/serving_chat.py). Added when the model is assigned
// Agent Platform and the GitLab version has it; the parser is the family's
// from the catalog. Flags the user gave in extra_args win.
func toolCallArgs(v version.GitLab, entry catalog.Model, m config.Model) ([]string, error) {
	if !slices.Contains(m.Features, string(catalog.AgentPlatform)) || !HasAgentPlatform(v) {
		return nil, nil
	}
	if slices.Contains(m.ExtraArgs, autoToolChoiceFlag) {
		return nil, nil
	}
	if entry.ToolCallParser == "" {
		return nil, app.BadInput("remove agent_platform from this model's features, or add '"+autoToolChoiceFlag+
			" --tool-call-parser <parser>' to its extra_args (vLLM's tool-calling docs list the parsers)",
			"model %s is assigned Agent Platform, whose requests carry tools, but DuoBox knows no vLLM tool-call parser for it", m.Repo())
	}
	return []string{autoToolChoiceFlag, "--tool-call-parser", entry.ToolCallParser}, nil
}

const autoToolChoiceFlag = "--enable-auto-tool-choice"

func gatewayContainer(d config.Deployment, o Options, v version.GitLab, gitlabURL string) Container {
	env := []string{
		"AIGW_CUSTOM_MODELS__ENABLED=true",
		"AIGW_FASTAPI__API_PORT=" + strconv.Itoa(GatewayPort),
		"AIGW_FASTAPI__OPENAPI_URL=/openapi.json",
		"AIGW_FASTAPI__DOCS_URL=/docs",
		"AIGW_GITLAB_URL=" + gitlabURL,
		"AIGW_GITLAB_API_URL=" + gitlabURL + "/api/v4/",
		"AIGW_CUSTOMER_PORTAL_URL=" + gitlabURL,
	}
	var secrets []SecretEnv
	if NeedsGatewayKeys(v) {
		secrets = append(secrets,
			SecretEnv{Name: "AIGW_SELF_SIGNED_JWT__SIGNING_KEY", File: filepath.Join(o.SecretsDir, SecretAIGWSigningKey)},
			SecretEnv{Name: "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY", File: filepath.Join(o.SecretsDir, SecretAIGWValidationKey)})
	}
	ports := []Port{{HostIP: o.HostIP, HostPort: d.Gateway.Port, ContainerPort: GatewayPort}}
	if HasAgentPlatform(v) {
		env = append(env, "DUO_WORKFLOW_AUTH__ENABLED=true", "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL="+gitlabURL)
		secrets = append(secrets,
			SecretEnv{Name: "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY", File: filepath.Join(o.SecretsDir, SecretDWSSigningKey)},
			SecretEnv{Name: "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY", File: filepath.Join(o.SecretsDir, SecretDWSValidationKey)})
		ports = append(ports, Port{HostIP: o.HostIP, HostPort: d.Gateway.AgentPort, ContainerPort: AgentPort})
	}
	if d.Gateway.AuthBypass {
		env = append(env, "AIGW_AUTH__BYPASS_EXTERNAL=true")
	}
	env = append(env, envList(d.Gateway.Image.Env)...)
	c := Container{
		Name:      GatewayContainerName(d.Name),
		Role:      RoleGateway,
		Image:     d.Gateway.Image.Ref(),
		Env:       env,
		SecretEnv: secrets,
		Labels:    labels(d.Name, RoleGateway),
		Ports:     ports,
		Restart:   RestartPolicy,
		Health: Health{Test: healthTest(d.Gateway.Image.HealthCmd, gatewayHealthURL), URL: gatewayHealthURL, Interval: 10 * time.Second,
			Timeout: 5 * time.Second, StartPeriod: 2 * time.Minute, Retries: 3},
	}
	if o.LogDir != "" && GatewayLogsToFile(d) {
		c.Mounts = append(c.Mounts, Mount{Type: "bind", Source: o.LogDir, Target: gatewayLogPath})
	}
	if d.DocsIndex != "" {
		c.Mounts = append(c.Mounts, Mount{Type: "bind", Source: d.DocsIndex, Target: DocsIndexTarget(v), ReadOnly: true})
	}
	return c
}

// NeedsGatewayKeys reports whether DuoBox gives the gateway a self-signed
// JWT key pair (AIGW_SELF_SIGNED_JWT__*): the self-hosted images, 17.4 on
// (gateway.jwt_keys in the GitLab version table).
func NeedsGatewayKeys(v version.GitLab) bool {
	r, err := gitlabversions.For(v)
	return err == nil && r.Gateway.JWTKeys.Value
}

// HasAgentPlatform reports whether the gateway image runs the Duo Workflow
// Service (Agent Platform) on 50052 with its own key pair: 18.4 on, when the
// self-hosted Dockerfile set ENABLE_DUO_WORKFLOW_SERVICE=true (the table's
// gateway.ports.agent_platform).
func HasAgentPlatform(v version.GitLab) bool {
	r, err := gitlabversions.For(v)
	return err == nil && r.HasAgentPlatform()
}

// DocsIndexTarget is where the gateway of GitLab v opens docs.db: tmp/docs.db
// relative to the image's working directory (/app before the image moved its
// WORKDIR to /home/aigateway/app in November 2024, that is before 17.6).
func DocsIndexTarget(v version.GitLab) string {
	r, err := gitlabversions.For(v)
	if err != nil {
		return ""
	}
	return r.DocsIndexPath()
}

// Clone copies s deeply enough that changing a container (platform, labels)
// leaves s as it was.
func (s Spec) Clone() Spec {
	out := s
	out.Containers = make([]Container, len(s.Containers))
	for i, c := range s.Containers {
		c.Labels = maps.Clone(c.Labels)
		out.Containers[i] = c
	}
	return out
}

// HFTokenTarget is where a model server that downloads its weights finds
// the Hugging Face token file (mounted read-only).
const HFTokenTarget = "/run/secrets/hf_token"

// SecretFiles lists the secret files the spec reads (to generate or check them).
func (s Spec) SecretFiles() []string {
	var out []string
	for _, c := range s.Containers {
		for _, se := range c.SecretEnv {
			out = append(out, se.File)
		}
	}
	return out
}

// Container returns the container with the given name.
func (s Spec) Container(name string) (Container, bool) {
	for _, c := range s.Containers {
		if c.Name == name {
			return c, true
		}
	}
	return Container{}, false
}

// Hash is a digest of everything in c except the config-hash label itself:
// two containers with equal hashes were created from equal specs. Secret
// values are not part of it (their file paths are).
func (c Container) Hash() string {
	cp := c
	cp.Labels = map[string]string{}
	for k, v := range c.Labels {
		if k != LabelConfigHash {
			cp.Labels[k] = v
		}
	}
	b, _ := json.Marshal(cp) // map keys are sorted by encoding/json
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func labels(stackName, role string) map[string]string {
	return map[string]string{LabelManaged: "true", LabelStack: stackName, LabelRole: role}
}

func envList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// healthTest is the user's command, or a python3 probe of url (python3 is in
// both real images; neither ships curl).
func healthTest(custom []string, url string) []string {
	if len(custom) > 0 {
		if custom[0] == "CMD" || custom[0] == "CMD-SHELL" || custom[0] == "NONE" {
			return custom
		}
		return append([]string{"CMD"}, custom...)
	}
	return []string{"CMD", "python3", "-c", fmt.Sprintf(pythonHealthProbeFormat, url)}
}

// GatewayLogsToFile reports whether the user asked the gateway for a log
// file (AIGW_LOGGING__TO_FILE in gateway.image.env). Only then is the log
// directory created and mounted at /var/log/aigateway: without it the gateway
// writes no file (ai_gateway/config.py ConfigLogging.to_file), and DuoBox does
// not set it, because the gateway's file handler replaces its stdout handler
// (ai_gateway/structured_logging.py), so its lines would leave 'docker logs',
// which DuoBox's log view and health reasons read.
func GatewayLogsToFile(d config.Deployment) bool {
	return d.Gateway.Image.Env["AIGW_LOGGING__TO_FILE"] != ""
}

// ResolveLogDir picks the seed's log directory: the configured one (the
// user's own choice, kept even outside DUOBOX_HOME); else /srv/gitlab-agw
// when it exists and is writable (or can be created); else <data>/gitlab-agw.
// With DUOBOX_HOME set (home != "") the default is always <data>/gitlab-agw:
// /srv/gitlab-agw is neither probed nor created, so nothing lands outside it.
func ResolveLogDir(configured, dataDir, home string, writable func(string) error) (string, error) {
	if configured != "" {
		if err := writable(configured); err != nil {
			return "", err
		}
		return configured, nil
	}
	if home == "" && writable(DefaultSystemLogDir) == nil {
		return DefaultSystemLogDir, nil
	}
	dir := filepath.Join(dataDir, "gitlab-agw")
	if err := writable(dir); err != nil {
		return "", err
	}
	return dir, nil
}

// splitImage splits "repo:tag" or "repo@digest" (used by exports).
func splitImage(ref string) (repo, tag string) {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[:i], ref[i+1:]
	}
	return ref, "latest"
}
