package docker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
)

// Engine texts that cannot be produced on this machine, recorded from moby
// (daemon/images, distribution/errors.go) and Docker Hub.
func TestPullClassFromRecordedEngineTexts(t *testing.T) {
	cases := []struct {
		text string
		want engine.PullClass
	}{
		{`write /var/lib/docker/tmp/GetImageBlob123: no space left on device`, engine.PullDiskFull},
		{`toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit`, engine.PullRateLimited},
		{`Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 127.0.0.53:53: server misbehaving`, engine.PullDNS},
		{`Get "https://registry-1.docker.io/v2/": proxyconnect tcp: dial tcp 10.0.0.1:3128: connect: no route to host`, engine.PullNoRoute},
		{`Get "https://registry-1.docker.io/v2/": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)`, engine.PullNoRoute},
		{`pull access denied for duobox/none, repository does not exist or may require 'docker login': denied: requested access to the resource is denied`, engine.PullAuth},
		{`no matching manifest for linux/arm64/v8 in the manifest list entries`, engine.PullPlatform},
		{`manifest for registry.gitlab.com/x:self-hosted-v1.0.0-ee not found: manifest unknown: manifest unknown`, engine.PullManifestUnknown},
		{`Get "https://r.example/v2/": tls: failed to verify certificate: x509: certificate signed by unknown authority`, engine.PullTLS},
		// issue 16: a dropped download resumed with "Range: bytes=N-" against a
		// registry that refuses open-ended ranges (go-containerregistry's, as
		// this engine answered it) was exit 1
		{`blob unknown: We don't understand your Range`, engine.PullInterrupted},
		{`unexpected EOF`, engine.PullInterrupted},
		{`read tcp 10.0.0.2:50412->104.18.1.1:443: read: connection reset by peer`, engine.PullInterrupted},
	}
	for _, c := range cases {
		if got := pullClass(errors.New(c.text)); got != c.want {
			t.Errorf("%q: class %q, want %q", c.text, got, c.want)
		}
	}
}

func TestPullRefusedResumeIsEnvironmentNamingTheRegistry(t *testing.T) {
	err := (&Engine{}).pullError(context.Background(), errors.New("blob unknown: We don't understand your Range"), "r.example:5000/duobox/gateway:v1", "")
	var f *engine.PullFailure
	if app.KindOf(err) != app.KindEnvironment || !errors.As(err, &f) || f.Class != engine.PullInterrupted || !f.BundleHelps() ||
		!strings.Contains(err.Error(), "the registry r.example:5000 dropped the connection in the middle of a download and the engine could not resume the download") ||
		!strings.Contains(err.Error(), "layers already downloaded are kept") {
		t.Fatalf("want an environment problem naming the registry's dropped connection, got %v", err)
	}
}

func TestPullDiskFullFromRecordedEngineTextIsEnvironment(t *testing.T) {
	err := (&Engine{}).pullError(context.Background(), errors.New("failed to register layer: write /usr/lib/x: no space left on device"), "vllm/vllm-openai:v0.9.0", "")
	var f *engine.PullFailure
	if app.KindOf(err) != app.KindEnvironment || !errors.As(err, &f) || f.Class != engine.PullDiskFull || f.BundleHelps() {
		t.Fatalf("want environment disk-full problem without bundle offer, got %v", err)
	}
}
