// Package weights gets model weights into the Hugging Face cache that the
// model container reads, before the container starts, so it can start with
// HF_HUB_OFFLINE=1. It lists a repository through the hub API, keeps only the
// files vLLM loads (safetensors in one format, config, tokenizer), downloads
// them in parallel with resume and verification into the standard cache layout
// (models--org--name/blobs, snapshots/<commit>, refs/<revision>), imports a
// local copy for air-gapped machines, reports what the cache holds and removes
// a model from it.
//
// Entry points: Ensure (what `duobox up` and the GUI's Deploy call: nothing is
// fetched when the cache already holds the model), Pull, Import, Status and
// Remove. Progress is reported as plain Progress values through a callback.
package weights

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/secrets"
)

// DefaultEndpoint is the hub huggingface_hub talks to when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// TokenSecretName is the file in DuoBox's secrets folder that may hold the hub token.
const TokenSecretName = "hf_token"

// Env is where the hub and its cache are and which token to send, read from
// the environment the way huggingface_hub reads it.
type Env struct {
	Endpoint    string // HF_ENDPOINT, without a trailing slash
	HubCache    string // HF_HUB_CACHE, or HF_HOME/hub, or ~/.cache/huggingface/hub
	Token       string // never logged or printed
	TokenSource string // where Token came from ("HF_TOKEN", a file path); empty when none
	Offline     bool   // HF_HUB_OFFLINE is set: never use the network
}

// EnvFromOS reads HF_ENDPOINT, HF_HOME, HF_HUB_CACHE (and the older
// HUGGINGFACE_HUB_CACHE), HF_HUB_OFFLINE and the token: HF_TOKEN, then
// HUGGING_FACE_HUB_TOKEN, then DuoBox's secret file secretsDir/hf_token (0600),
// then huggingface_hub's token file (HF_TOKEN_PATH or HF_HOME/token).
// secretsDir may be empty.
func EnvFromOS(secretsDir string) (Env, error) {
	hfHome, err := hfHome()
	if err != nil {
		return Env{}, err
	}
	e := Env{
		Endpoint: strings.TrimRight(firstEnv("HF_ENDPOINT"), "/"),
		HubCache: expandHome(firstEnv("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")),
		Offline:  truthy(firstEnv("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")),
	}
	if e.Endpoint == "" {
		e.Endpoint = DefaultEndpoint
	}
	if e.HubCache == "" {
		e.HubCache = filepath.Join(hfHome, "hub")
	}
	for _, name := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			if err := secrets.CheckHFToken(v); err != nil {
				return Env{}, app.BadInput("set "+name+" to the token from https://huggingface.co/settings/tokens, or unset it",
					"$%s is not a Hugging Face token: %v", name, err)
			}
			e.Token, e.TokenSource = v, name
			return e, nil
		}
	}
	files := []string{}
	if secretsDir != "" {
		files = append(files, filepath.Join(secretsDir, TokenSecretName))
	}
	if p := expandHome(os.Getenv("HF_TOKEN_PATH")); p != "" {
		files = append(files, p)
	} else {
		files = append(files, filepath.Join(hfHome, "token"))
	}
	for _, f := range files {
		tok, err := secrets.Read(f, "the Hugging Face token")
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Env{}, err
		}
		if tok != "" {
			if err := secrets.CheckHFToken(tok); err != nil {
				return Env{}, app.Environment(err, "put only the token from https://huggingface.co/settings/tokens in "+f,
					"the Hugging Face token in %s is not a token: %v", f, err)
			}
			e.Token, e.TokenSource = tok, f
			return e, nil
		}
	}
	return e, nil
}

// hfHome is HF_HOME, or with $DUOBOX_HOME set its cache/huggingface
// (nothing of DuoBox's lands outside DUOBOX_HOME; the model server's cache
// bind mount included), or $XDG_CACHE_HOME/huggingface, or
// ~/.cache/huggingface (shared with huggingface_hub).
func hfHome() (string, error) {
	if v := expandHome(os.Getenv("HF_HOME")); v != "" {
		return v, nil
	}
	if os.Getenv(paths.EnvHome) != "" {
		dirs, err := paths.Resolve()
		if err != nil {
			return "", err
		}
		return filepath.Join(dirs.Cache, "huggingface"), nil
	}
	if v := os.Getenv("XDG_CACHE_HOME"); v != "" {
		return filepath.Join(expandHome(v), "huggingface"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the Hugging Face cache: set HF_HOME or HF_HUB_CACHE: %w", err)
	}
	return filepath.Join(home, ".cache", "huggingface"), nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// expandHome expands a leading ~ as Python's os.path.expanduser does.
func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
	}
	return p
}

// truthy reads a boolean variable as huggingface_hub does.
func truthy(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// tokenNote says, for error messages, whether a token was sent and from where.
func (e Env) tokenNote() string {
	if e.Token == "" {
		return "no token was sent (none in HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the token files)"
	}
	return "a token was sent (from " + e.TokenSource + ")"
}
