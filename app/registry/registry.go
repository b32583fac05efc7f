// Package registry is how DuoBox talks to image registries itself (outside
// the engine): the docker CLI's credentials and credential helpers (as
// 'docker pull' uses them), the engine's Docker Hub mirrors, and the
// rate-limit reset time a registry announces. It uses go-containerregistry,
// never the Docker SDK.
package registry

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Host is the registry host of an image reference as the engine names it
// ("index.docker.io" for Docker Hub), or "" when ref does not parse.
func Host(ref string) string {
	r, err := name.ParseReference(ref)
	if err != nil {
		return ""
	}
	return r.Context().RegistryStr()
}

// Credentials are the docker CLI's credentials for ref's registry (from
// $DOCKER_CONFIG/config.json or its credential helper), the zero value when
// there are none. Same lookup as 'docker pull'.
func Credentials(ref string) (authn.AuthConfig, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return authn.AuthConfig{}, err
	}
	a, err := authn.DefaultKeychain.Resolve(r.Context())
	if err != nil {
		return authn.AuthConfig{}, err
	}
	cfg, err := a.Authorization()
	if err != nil || cfg == nil {
		return authn.AuthConfig{}, err
	}
	return *cfg, nil
}

// Options are go-containerregistry options that authenticate like the
// docker CLI does.
func Options(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// Mirrored lists where to fetch ref from, in order: for a Docker Hub image,
// the same repository on each of the engine's registry mirrors (as the
// engine tries them), then ref itself. Mirrors are URLs from the engine's
// "registry-mirrors" setting.
func Mirrored(ref string, mirrors []string) []string {
	r, err := name.ParseReference(ref)
	if err != nil || r.Context().RegistryStr() != name.DefaultRegistry {
		return []string{ref}
	}
	var out []string
	for _, m := range mirrors {
		host := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(m, "https://"), "http://"), "/")
		if host == "" {
			continue
		}
		out = append(out, host+"/"+r.Context().RepositoryStr()+refSuffix(r))
	}
	return append(out, ref)
}

func refSuffix(r name.Reference) string {
	if d, ok := r.(name.Digest); ok {
		return "@" + d.DigestStr()
	}
	return ":" + r.Identifier()
}

// ResetTime asks ref's registry when its rate limit resets, from the
// Retry-After or RateLimit-Reset header of a 429 answer to a manifest HEAD;
// ok is false when the registry does not answer 429 or gives no time.
func ResetTime(ctx context.Context, ref string, now time.Time) (reset time.Time, ok bool) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return time.Time{}, false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rec := &headerRecorder{base: remote.DefaultTransport}
	_, _ = remote.Head(r, append(Options(ctx), remote.WithTransport(rec), remote.WithRetryBackoff(remote.Backoff{Steps: 1}))...)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.limited == nil {
		return time.Time{}, false
	}
	return parseReset(rec.limited, now)
}

// parseReset reads a reset time: Retry-After in seconds or as an HTTP date,
// else RateLimit-Reset in seconds.
func parseReset(h http.Header, now time.Time) (time.Time, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return now.Add(time.Duration(s) * time.Second), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return t, true
		}
	}
	if v := strings.TrimSpace(h.Get("RateLimit-Reset")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return now.Add(time.Duration(s) * time.Second), true
		}
	}
	return time.Time{}, false
}

// headerRecorder keeps the headers of the last 429 answer it saw.
type headerRecorder struct {
	base    http.RoundTripper
	mu      sync.Mutex
	limited http.Header
}

func (h *headerRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		h.mu.Lock()
		h.limited = resp.Header.Clone()
		h.mu.Unlock()
	}
	return resp, err
}
