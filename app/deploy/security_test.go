package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
)

func securityDeployment(t *testing.T) config.Deployment {
	return config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"}, Host: "gpu-box.example.com", Mode: config.ModeCPU,
		Models: []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3"}}, Gateway: config.Gateway{Image: config.Image{Tag: "self-hosted-v18.5.0-ee"}},
		LogDir: filepath.Join(t.TempDir(), "logs")}.WithDefaults()
}

// TestPrepare_PublishesOnAllAddressesOnlyWhenAsked: a host that is not an
// address of this machine is refused by up (and init) unless the config asks
// for all addresses explicitly; read-only commands still work.
func TestPrepare_PublishesOnAllAddressesOnlyWhenAsked(t *testing.T) {
	d := securityDeployment(t)
	dirs := testDirs(t)
	_, err := Prepare(d, dirs, bundlesCatalog(t))
	if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), "--publish-all") {
		t.Fatalf("non-local host without publish_all_addresses: %v", err)
	}
	if keys, _ := os.ReadDir(dirs.Secrets()); len(keys) != 0 {
		t.Errorf("keys generated before the refusal: %v", keys)
	}
	if _, err := PrepareReadOnly(d, dirs, bundlesCatalog(t)); err != nil {
		t.Errorf("status/down must still work: %v", err)
	}
	d.Gateway.PublishAll = true
	p, err := Prepare(d, dirs, bundlesCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if p.HostIP != "" || len(p.Warnings) == 0 || !strings.Contains(p.Warnings[0], "publish_all_addresses") {
		t.Errorf("publish all: host ip %q warnings %v", p.HostIP, p.Warnings)
	}
	if _, err := os.Stat(d.LogDir); p.LogDir != "" || !os.IsNotExist(err) {
		t.Errorf("log folder %q made although the gateway writes no log file (%v)", p.LogDir, err)
	}
	d.Gateway.Image.Env = map[string]string{"AIGW_LOGGING__TO_FILE": "/var/log/aigateway/aigateway.log"}
	if p, err = Prepare(d, dirs, bundlesCatalog(t)); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(p.LogDir); err != nil || st.Mode().Perm() != 0o700 || p.LogDir != d.LogDir {
		t.Errorf("log folder %q for the gateway's log file: %v, want 0700", p.LogDir, err)
	}
}

// TestPrepare_AuthOffThroughGatewayEnvWarnsLikeAuthBypass and the secrets
// that travel as environment variables are listed for status.
func TestPrepare_AuthOffThroughGatewayEnvWarnsLikeAuthBypass(t *testing.T) {
	d := securityDeployment(t)
	d.Gateway.PublishAll = true
	d.Gateway.Image.Env = map[string]string{"AIGW_AUTH__BYPASS_EXTERNAL": "True"}
	p, err := PrepareReadOnly(d, testDirs(t), bundlesCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.AuthOff) != 1 || !strings.Contains(strings.Join(p.Warnings, "\n"), "auth bypass is ON (gateway.image.env AIGW_AUTH__BYPASS_EXTERNAL=True)") {
		t.Errorf("auth off %v warnings %v", p.AuthOff, p.Warnings)
	}
	if !strings.Contains(strings.Join(p.SecretsInEnv, " "), "AIGW_SELF_SIGNED_JWT__SIGNING_KEY") {
		t.Errorf("secrets in env: %v", p.SecretsInEnv)
	}
}

// TestPrepare_GarbageJWTKeyAndOpenSecretsFolderAreRefused: a key file that
// is not a PEM RSA private key, or a secrets folder others can write to, is
// refused by up before anything starts.
func TestPrepare_GarbageJWTKeyAndOpenSecretsFolderAreRefused(t *testing.T) {
	d := securityDeployment(t)
	d.Gateway.PublishAll = true
	dirs := testDirs(t)
	os.MkdirAll(dirs.Secrets(), 0o700)
	key := filepath.Join(dirs.Secrets(), stack.SecretAIGWSigningKey)
	os.WriteFile(key, []byte("garbage"), 0o600)
	if _, err := Prepare(d, dirs, bundlesCatalog(t)); err == nil || !strings.Contains(err.Error(), "not a PEM key") {
		t.Errorf("garbage key: %v", err)
	}
	os.Remove(key)
	if _, err := Prepare(d, dirs, bundlesCatalog(t)); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dirs.Secrets(), 0o777)
	if _, err := Prepare(d, dirs, bundlesCatalog(t)); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("0777 secrets folder: %v", err)
	}
}

// TestPrepare_UnderDuoboxHomeEveryHostPathIsInside: with DUOBOX_HOME set and
// the gateway told to log to a file, the log folder is <home>/data/gitlab-agw
// (never /srv/gitlab-agw, even where that is writable, as it is for root), and
// every bind mount the spec asks of the host lies inside the home.
func TestPrepare_UnderDuoboxHomeEveryHostPathIsInside(t *testing.T) {
	home := t.TempDir()
	t.Setenv(paths.EnvHome, home)
	for _, v := range []string{"HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		t.Setenv(v, "")
	}
	dirs, err := paths.Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if err := dirs.Ensure(); err != nil {
		t.Fatal(err)
	}
	_, srvBefore := os.Stat(stack.DefaultSystemLogDir)
	for _, mode := range []string{config.ModeCPU, config.ModeGPU} {
		d := securityDeployment(t)
		d.LogDir, d.Mode, d.Gateway.PublishAll = "", mode, true
		d.Gateway.Image.Env = map[string]string{"AIGW_LOGGING__TO_FILE": "/var/log/aigateway/aigateway.log"}
		p, err := Prepare(d, dirs, bundlesCatalog(t))
		if err != nil {
			t.Fatal(mode, err)
		}
		if want := filepath.Join(home, "data", "gitlab-agw"); p.LogDir != want {
			t.Errorf("%s: log folder %q, want %q", mode, p.LogDir, want)
		}
		binds := 0
		for _, c := range p.Spec.Containers {
			for _, m := range c.Mounts {
				if m.Type != "bind" {
					continue
				}
				binds++
				if rel, err := filepath.Rel(home, m.Source); err != nil || strings.HasPrefix(rel, "..") {
					t.Errorf("%s: %s mounts %s, outside DUOBOX_HOME %s", mode, c.Name, m.Source, home)
				}
			}
		}
		if binds == 0 {
			t.Errorf("%s: no bind mount checked (the log folder at least is one)", mode)
		}
	}
	if _, err := os.Stat(stack.DefaultSystemLogDir); os.IsNotExist(srvBefore) && !os.IsNotExist(err) {
		t.Errorf("%s was created although DUOBOX_HOME is set", stack.DefaultSystemLogDir)
	}
}
