package registry

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMirroredTriesEngineMirrorsForDockerHubOnly(t *testing.T) {
	got := Mirrored("vllm/vllm-openai:v0.9.0", []string{"https://mirror.corp:5000/", "http://second.corp"})
	want := []string{"mirror.corp:5000/vllm/vllm-openai:v0.9.0", "second.corp/vllm/vllm-openai:v0.9.0", "vllm/vllm-openai:v0.9.0"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Mirrored = %v, want %v", got, want)
	}
	if got := Mirrored("registry.gitlab.com/a/b:1", []string{"https://mirror.corp"}); len(got) != 1 {
		t.Errorf("mirrors apply to Docker Hub only, got %v", got)
	}
}

func TestCredentialsFromDockerCLIConfig(t *testing.T) {
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"reg.corp:5000":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	c, err := Credentials("reg.corp:5000/team/gateway:v1")
	if err != nil || c.Username != "alice" || c.Password != "s3cret" {
		t.Fatalf("want alice's credentials, got %+v, %v", c, err)
	}
	if c, err := Credentials("other.corp/team/gateway:v1"); err != nil || c.Username != "" {
		t.Errorf("no credentials for another registry, got %+v, %v", c, err)
	}
}

func TestResetTimeFromRetryAfterOfA429(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v2/" {
			return
		}
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	now := time.Now()
	reset, ok := ResetTime(context.Background(), strings.TrimPrefix(srv.URL, "http://")+"/a/b:1", now)
	if !ok || !reset.Equal(now.Add(2*time.Minute)) {
		t.Errorf("want reset in 2 minutes, got %v %v", reset, ok)
	}
	if _, ok := parseReset(http.Header{}, now); ok {
		t.Error("no header gives no reset time")
	}
	if r, ok := parseReset(http.Header{"Ratelimit-Reset": {"60"}}, now); !ok || !r.Equal(now.Add(time.Minute)) {
		t.Errorf("RateLimit-Reset: got %v %v", r, ok)
	}
}
