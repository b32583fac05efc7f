// Package config reads, validates, writes and watches the deployment config:
// the one YAML file that holds what the user decided (GitLab URL and version,
// host address, models, image tags, ports, log dir). Secrets are never stored
// here; they live in 0600 files under the secrets folder.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/version"
)

// SchemaVersion is the version written into new files.
const SchemaVersion = 1

// Default ports and images (facts/gitlab-ai-gateway.md §1–2).
const (
	DefaultGatewayPort      = 5052
	DefaultAgentPort        = 50052
	DefaultModelPort        = 8000
	DefaultGatewayImage     = "registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/model-gateway"
	DefaultModelServerImage = "vllm/vllm-openai"
	DefaultModelServerTag   = "v0.18.1"
	// DefaultCPUModelServerImage is vLLM's published x86 CPU image (vLLM docs,
	// getting_started/installation/cpu: "Pre-built images",
	// gallery.ecr.aws/q9t5s3a7/vllm-cpu-release-repo); vllm/vllm-openai is CUDA-only.
	// Its tags follow vLLM's releases (vX.Y.Z); that DefaultModelServerTag
	// exists there is UNCONFIRMED, and DuoBox says so in CPU mode.
	DefaultCPUModelServerImage = "public.ecr.aws/q9t5s3a7/vllm-cpu-release-repo"
	DefaultName                = "duobox" // stack name
)

// Mode selects how the model server gets hardware.
const (
	ModeGPU = "gpu" // NVIDIA device request (the production path)
	ModeCPU = "cpu" // no device request: for trying the flow without a GPU, and for tests
)

// Deployment is the whole config file.
type Deployment struct {
	Version     int               `yaml:"version"`
	Name        string            `yaml:"name,omitempty"` // stack name: labels, container and volume names; "duobox" by default
	GitLab      GitLab            `yaml:"gitlab"`
	Host        string            `yaml:"host"`
	Mode        string            `yaml:"mode"`
	Models      []Model           `yaml:"models"`
	ModelServer Image             `yaml:"model_server"`
	Gateway     Gateway           `yaml:"gateway"`
	LogDir      string            `yaml:"log_dir,omitempty"`
	DocsIndex   string            `yaml:"docs_index,omitempty"`
	Network     string            `yaml:"network,omitempty"`
	Extra       map[string]string `yaml:"extra,omitempty"`
}

// GitLab is the instance the gateway serves.
type GitLab struct {
	URL     string `yaml:"url"`
	Version string `yaml:"version"`
}

// Image is a container image reference; Digest pins it once pulled.
type Image struct {
	Repository string `yaml:"repository"`
	Tag        string `yaml:"tag"`
	Digest     string `yaml:"digest,omitempty"`
	// Registry, when set, serves the same repository path instead of the
	// repository's own registry (a company mirror or private registry, e.g.
	// mirror.example.com:5000); tags and digests are chosen as without it.
	Registry string `yaml:"registry,omitempty"`
	// Env is extra environment for the container (never secrets: those live in files).
	Env map[string]string `yaml:"env,omitempty"`
	// HealthCmd replaces DuoBox's health-check command (Docker's CMD form), for custom images.
	HealthCmd []string `yaml:"health_cmd,omitempty"`
}

// Ref is "repository:tag", or "repository@digest" when pinned.
func (i Image) Ref() string {
	if i.Digest != "" {
		return i.Location() + "@" + i.Digest
	}
	return i.Location() + ":" + i.Tag
}

// Location is the repository pulled from: Repository, or its path on
// Registry when one is named.
func (i Image) Location() string {
	return Relocate(i.Repository, i.Registry)
}

// Relocate moves repository's path onto registry ("" leaves it as is):
// Relocate("vllm/vllm-openai", "mirror:5000") = "mirror:5000/vllm/vllm-openai".
func Relocate(repository, registry string) string {
	if registry == "" {
		return repository
	}
	r, err := name.NewRepository(repository)
	if err != nil {
		return repository
	}
	return registry + "/" + r.RepositoryStr()
}

// Model is one served model.
type Model struct {
	HFRepo               string  `yaml:"hf_repo"`
	ServedName           string  `yaml:"served_name,omitempty"`
	Variant              string  `yaml:"variant,omitempty"` // a quantized repo used instead of HFRepo
	GPUs                 []int   `yaml:"gpus,omitempty"`
	GPUMemoryUtilization float64 `yaml:"gpu_memory_utilization,omitempty"`
	MaxModelLen          int     `yaml:"max_model_len,omitempty"`
	// vLLM memory settings (0 / "": vLLM's default); TensorParallelSize, when
	// set, must equal the number of GPUs named.
	TensorParallelSize  int      `yaml:"tensor_parallel_size,omitempty"`
	KVCacheDType        string   `yaml:"kv_cache_dtype,omitempty"` // auto, fp8, fp8_e4m3, fp8_e5m2
	MaxNumBatchedTokens int      `yaml:"max_num_batched_tokens,omitempty"`
	Features            []string `yaml:"features,omitempty"`
	ExtraArgs           []string `yaml:"extra_args,omitempty"`
}

// Repo is the repository actually served: the variant when set.
func (m Model) Repo() string {
	if m.Variant != "" {
		return m.Variant
	}
	return m.HFRepo
}

// Name is the served model name (what GitLab uses as custom_openai/<name>).
func (m Model) Name() string {
	if m.ServedName != "" {
		return m.ServedName
	}
	return m.Repo()
}

// Gateway is the AI Gateway container's settings.
type Gateway struct {
	Image      Image `yaml:"image"`
	Port       int   `yaml:"port,omitempty"`
	AgentPort  int   `yaml:"agent_port,omitempty"`
	AuthBypass bool  `yaml:"auth_bypass,omitempty"`
	// PublishAll publishes the gateway's ports on all addresses of this
	// machine. Without it DuoBox publishes only on the host address, and
	// refuses a host that is not an address of this machine.
	PublishAll bool `yaml:"publish_all_addresses,omitempty"`
}

// MaxConfigSize caps the deployment config a command reads.
const MaxConfigSize = 1 << 20

var envNameRE = app.LazyRegexp(`^[A-Za-z_][A-Za-z0-9_]*$`)

var nameRE = app.LazyRegexp(`^[a-z][a-z0-9-]{0,39}$`)

// WithDefaults fills empty fields with DuoBox's defaults.
func (d Deployment) WithDefaults() Deployment {
	if d.Version == 0 {
		d.Version = SchemaVersion
	}
	if d.Mode == "" {
		d.Mode = ModeGPU
	}
	if d.ModelServer.Repository == "" && d.Mode == ModeCPU {
		d.ModelServer.Repository = DefaultCPUModelServerImage
	}
	if d.ModelServer.Repository == "" {
		d.ModelServer.Repository = DefaultModelServerImage
	}
	if d.ModelServer.Tag == "" {
		d.ModelServer.Tag = DefaultModelServerTag
	}
	if d.Gateway.Image.Repository == "" {
		d.Gateway.Image.Repository = DefaultGatewayImage
	}
	if d.Gateway.Port == 0 {
		d.Gateway.Port = DefaultGatewayPort
	}
	if d.Gateway.AgentPort == 0 {
		d.Gateway.AgentPort = DefaultAgentPort
	}
	if d.Name == "" {
		d.Name = DefaultName
	}
	if d.Network == "" {
		d.Network = d.Name
	}
	return d
}

// Validate checks every field a person can get wrong and says which one and how to fix it.
func (d Deployment) Validate() error { return d.validate(nil) }

// explicitZeroPorts names the gateway ports the YAML sets to 0: omitted
// means the default, but a 0 written out is a value, and no TCP port.
func explicitZeroPorts(data []byte) []string {
	var set struct {
		Gateway struct {
			Port      *int `yaml:"port"`
			AgentPort *int `yaml:"agent_port"`
		} `yaml:"gateway"`
	}
	if yaml.Unmarshal(data, &set) != nil {
		return nil
	}
	var errs []string
	for _, f := range []struct {
		field string
		v     *int
		def   int
	}{{"gateway.port", set.Gateway.Port, DefaultGatewayPort}, {"gateway.agent_port", set.Gateway.AgentPort, DefaultAgentPort}} {
		if f.v != nil && *f.v == 0 {
			errs = append(errs, fmt.Sprintf("%s: 0 is not a TCP port (1–65535); leave the field out for the default %d", f.field, f.def))
		}
	}
	return errs
}

// validate is Validate with errors found in the file itself added first.
func (d Deployment) validate(errs []string) error {
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if d.Version != SchemaVersion {
		add("version: %d is not supported (want %d)", d.Version, SchemaVersion)
	}
	if _, err := NormalizeGitLabURL(d.GitLab.URL); err != nil {
		add("gitlab.url: %v", err)
	}
	if v, err := version.Parse(d.GitLab.Version); err != nil {
		add("gitlab.version: %v", err)
	} else if !v.HasMinor() {
		add("gitlab.version: %q needs a minor release, for example %d.9", d.GitLab.Version, v.Major)
	} else if err := gitlabversions.Check(v); err != nil {
		add("gitlab.version: %v", err)
	}
	if !nameRE().MatchString(d.Name) {
		add("name: %q must be lower-case letters, digits and '-', starting with a letter (at most 40 characters)", d.Name)
	}
	if err := CheckHostSyntax(d.Host); err != nil {
		add("host: %v", err)
	}
	if d.Mode != ModeGPU && d.Mode != ModeCPU {
		add("mode: %q is not %q or %q", d.Mode, ModeGPU, ModeCPU)
	}
	if len(d.Models) == 0 {
		add("models: at least one model is needed (run 'duobox recommend' to pick one)")
	}
	var utilSum float64
	for i, m := range d.Models {
		if strings.Count(m.HFRepo, "/") != 1 {
			add("models[%d].hf_repo: %q is not a Hugging Face repo id such as org/name", i, m.HFRepo)
		}
		if math.IsNaN(m.GPUMemoryUtilization) || m.GPUMemoryUtilization < 0 || m.GPUMemoryUtilization > 0.98 {
			add("models[%d].gpu_memory_utilization: %v is outside 0–0.98", i, m.GPUMemoryUtilization)
		}
		if tp := m.TensorParallelSize; tp < 0 || tp > 8 || tp&(tp-1) != 0 {
			add("models[%d].tensor_parallel_size: %d is not 1, 2, 4 or 8", i, tp)
		} else if tp > 0 && len(m.GPUs) > 0 && len(m.GPUs) != tp {
			add("models[%d].tensor_parallel_size: %d, but %d GPUs are named in gpus", i, tp, len(m.GPUs))
		}
		switch strings.ToLower(m.KVCacheDType) {
		case "", "auto", "fp8", "fp8_e4m3", "fp8_e5m2":
		default:
			add("models[%d].kv_cache_dtype: %q is not auto, fp8, fp8_e4m3 or fp8_e5m2", i, m.KVCacheDType)
		}
		if n := m.MaxNumBatchedTokens; n < 0 || (n > 0 && n < 256) {
			add("models[%d].max_num_batched_tokens: %d is below 256 (leave it out for vLLM's default)", i, n)
		}
		seen := map[int]bool{}
		for _, g := range m.GPUs {
			if g < 0 || seen[g] {
				add("models[%d].gpus: %d is negative or repeated", i, g)
			}
			seen[g] = true
		}
		utilSum += m.GPUMemoryUtilization
		if m.MaxModelLen < 0 {
			add("models[%d].max_model_len: %d is negative", i, m.MaxModelLen)
		}
	}
	if utilSum > 0.98 {
		add("models: gpu_memory_utilization shares add up to %.2f; together they must stay at or below 0.98", utilSum)
	}
	for _, img := range []struct {
		field string
		img   Image
	}{{"model_server", d.ModelServer}, {"gateway.image", d.Gateway.Image}} {
		if err := CheckImage(img.img); err != nil {
			add("%s: %v", img.field, err)
		}
	}
	for _, img := range []struct {
		field string
		env   map[string]string
	}{{"model_server.env", d.ModelServer.Env}, {"gateway.image.env", d.Gateway.Image.Env}} {
		for name := range img.env {
			if !envNameRE().MatchString(name) {
				add("%s: %q is not an environment variable name (letters, digits and '_', not starting with a digit)", img.field, name)
			}
		}
	}
	for field, p := range map[string]int{"gateway.port": d.Gateway.Port, "gateway.agent_port": d.Gateway.AgentPort} {
		if p < 1 || p > 65535 {
			add("%s: %d is not a TCP port (1–65535)", field, p)
		}
	}
	if d.Gateway.Port == d.Gateway.AgentPort {
		add("gateway.agent_port: %d is the same port as gateway.port; the gateway publishes two ports (5052 and 50052 by default)", d.Gateway.AgentPort)
	}
	if d.LogDir != "" && !filepath.IsAbs(d.LogDir) {
		add("log_dir: %q must be an absolute path", d.LogDir)
	}
	if d.DocsIndex != "" && !filepath.IsAbs(d.DocsIndex) {
		add("docs_index: %q must be an absolute path", d.DocsIndex)
	}
	if len(errs) > 0 {
		return &app.Problem{Kind: app.KindBadInput, What: "the deployment config is not valid:\n  " + strings.Join(errs, "\n  "),
			Fix: "correct these fields (or run 'duobox init' again)"}
	}
	return nil
}

// NormalizeGitLabURL accepts "https://host[:port][/relative-root]" with or
// without trailing slashes and returns it without the trailing slash.
func NormalizeGitLabURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("empty: give the URL people open GitLab with, for example https://gitlab.example.com")
	}
	// "javascript:alert(1)" is a scheme, not a host: never suggest https://javascript:…
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" && !strings.Contains(raw, "://") && !strings.Contains(u.Scheme, ".") {
		if _, perr := strconv.Atoi(strings.SplitN(u.Opaque, "/", 2)[0]); perr != nil {
			return "", fmt.Errorf("%q: the scheme must be http or https, not %q; give the URL people open GitLab with, for example https://gitlab.example.com", raw, u.Scheme)
		}
	}
	if !strings.Contains(raw, "://") {
		return "", fmt.Errorf("%q has no scheme: write https://%s (or http:// if GitLab has no TLS)", raw, raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q is not a URL: %v", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%q: the scheme must be http or https, not %q", raw, u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q has no host name", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q: leave out user, query and fragment; give only scheme, host, port and the relative root if any", raw)
	}
	if strings.HasSuffix(strings.TrimRight(u.Path, "/"), "/api/v4") {
		return "", fmt.Errorf("%q ends in /api/v4: give GitLab's base URL; DuoBox adds /api/v4/ where needed", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u.Scheme + "://" + u.Host + u.Path, nil
}

// Load reads and validates a config file. A missing file yields an error
// wrapping os.ErrNotExist.
func Load(path string) (Deployment, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return Deployment{}, app.BadInput("give the deployment config file (deployment.yaml), not a folder", "%s is a folder, not a config file", path)
	} else if err == nil && st.Size() > MaxConfigSize {
		return Deployment{}, app.BadInput("give the deployment config DuoBox wrote (a few KB)", "%s is %d bytes; a deployment config is at most %d", path, st.Size(), MaxConfigSize)
	} else if err != nil && errors.Is(err, syscall.ENOTDIR) {
		return Deployment{}, app.Environment(err, "check DUOBOX_HOME and --config", "%s cannot be read: a part of its path is a file, not a folder", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Deployment{}, &app.Problem{Kind: app.KindBadInput, What: fmt.Sprintf("no deployment config at %s", path),
				Fix: "run 'duobox init --gitlab-url URL --gitlab-version X.Y --host HOST' first", Err: err}
		}
		return Deployment{}, fmt.Errorf("read config %q: %w", path, err)
	}
	return Parse(data, path)
}

// Parse decodes strictly (unknown fields are errors), applies defaults and validates.
func Parse(data []byte, name string) (Deployment, error) {
	var d Deployment
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return Deployment{}, &app.Problem{Kind: app.KindBadInput, What: fmt.Sprintf("%s is not a valid deployment config: %v", name, err),
			Fix: "fix the YAML (compare with 'duobox init --print'), or run 'duobox init' again", Err: err}
	}
	d = d.WithDefaults()
	if err := d.validate(explicitZeroPorts(data)); err != nil {
		var p *app.Problem
		if errors.As(err, &p) {
			p.What = name + ": " + p.What
		}
		return Deployment{}, err
	}
	return d, nil
}

// Marshal renders the config as YAML with a header comment.
func Marshal(d Deployment) ([]byte, error) {
	body, err := yaml.Marshal(d)
	if err != nil {
		return nil, err
	}
	header := "# DuoBox deployment config. Edit freely: DuoBox picks up changes live and\n# rejects a bad edit while keeping the last good config. Secrets are not kept here.\n"
	return append([]byte(header), body...), nil
}

// Save validates d and writes it atomically (temp file + rename), 0600.
func Save(path string, d Deployment) error {
	d = d.WithDefaults()
	if err := d.Validate(); err != nil {
		return err
	}
	data, err := Marshal(d)
	if err != nil {
		return err
	}
	return WriteFileAtomic(path, data, 0o600)
}

// WriteFileAtomic writes data next to path and renames it into place, so a
// reader never sees a half-written file.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
