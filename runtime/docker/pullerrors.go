package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	mobyregistry "github.com/moby/moby/api/types/registry"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/registry"
)

// registryAuth is the X-Registry-Auth value for ref: the docker CLI's
// credentials for its registry (config.json or credential helper), as
// 'docker pull' sends them; "" when there are none.
func registryAuth(ref string) (string, error) {
	c, err := registry.Credentials(ref)
	if err != nil || (c.Username == "" && c.Password == "" && c.Auth == "" && c.IdentityToken == "" && c.RegistryToken == "") {
		return "", err
	}
	b, err := json.Marshal(mobyregistry.AuthConfig{Username: c.Username, Password: c.Password, Auth: c.Auth,
		ServerAddress: registry.Host(ref), IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken})
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// orBundle is the offline alternative every registry fix ends with.
const orBundle = "; on a machine without access, load an offline bundle instead ('duobox bundle load FILE', made with 'duobox bundle create' on a machine with access)"

// pullClass sorts an engine pull error into a class by the engine's own
// texts (moby's distribution/registry errors and Go's net, x509 and syscall
// messages); "" when it is none of them.
func pullClass(err error) engine.PullClass {
	msg := strings.ToLower(err.Error())
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(msg, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("no space left on device"):
		return engine.PullDiskFull
	case has("blob unknown") && has("range"), has("requested range not satisfiable", "unexpected eof", "connection reset by peer", "broken pipe"):
		// a download cut mid-blob: moby retries with a Range request from
		// where it stopped (distribution/pull_v2.go); a registry that does
		// not serve open-ended ranges answers 416 BLOB_UNKNOWN ("We don't
		// understand your Range", go-containerregistry pkg/registry/blobs.go)
		return engine.PullInterrupted
	case has("toomanyrequests", "too many requests", "pull rate limit", " 429 "):
		return engine.PullRateLimited
	case has("no such host", "server misbehaving", "temporary failure in name resolution", "name or service not known"):
		return engine.PullDNS
	case has("x509:", "tls: failed to verify certificate", "certificate signed by unknown authority", "certificate is not valid", "certificate has expired"):
		return engine.PullTLS
	case has("no matching manifest"):
		return engine.PullPlatform
	case has("unauthorized", "denied", "authentication required", "no basic auth credentials", "incorrect username or password"):
		return engine.PullAuth
	case has("manifest unknown", "not found") || cerrdefs.IsNotFound(err):
		return engine.PullManifestUnknown
	case has("connection refused", "no route to host", "network is unreachable", "i/o timeout", "proxyconnect",
		"tls handshake timeout", "dial tcp", "request canceled while waiting for connection", "client.timeout exceeded"):
		return engine.PullNoRoute
	}
	return ""
}

// pullError explains a failed pull: one sentence and one fix per class,
// exit 3 (environment) for all of them; the app.Problem's cause is a
// *engine.PullFailure (so the window can offer "Load a bundle…").
func (e *Engine) pullError(ctx context.Context, err error, ref, platform string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	class := pullClass(err)
	host := registry.Host(ref)
	f := &engine.PullFailure{Class: class, Image: ref, Registry: host, Err: err}
	var what, fix string
	switch class {
	case engine.PullDNS:
		what = fmt.Sprintf("cannot pull %s: the registry's name %s does not resolve (DNS failure: %s)", ref, host, lastClause(err.Error()))
		fix = "check this machine's DNS settings and network connection ('nslookup " + host + "'), or name a registry you can reach for this image ('duobox init --gateway-registry/--model-server-registry')" + orBundle
	case engine.PullNoRoute:
		what = fmt.Sprintf("cannot pull %s: the engine gets no connection to %s (%s)", ref, host, lastClause(err.Error()))
		fix = "if this network needs a proxy, set it for the Docker engine, not the shell: \"proxies\" in /etc/docker/daemon.json (or HTTPS_PROXY in a systemd drop-in for docker.service), then restart Docker; otherwise check the firewall" + orBundle
	case engine.PullTLS:
		what = fmt.Sprintf("cannot pull %s: the certificate of %s is not trusted (%s)", ref, host, lastClause(err.Error()))
		fix = "if your company uses its own certificate authority, give it to the engine: copy the CA certificate to /etc/docker/certs.d/" + host + "/ca.crt (no restart needed)" + orBundle
	case engine.PullAuth:
		what = fmt.Sprintf("cannot pull %s: %s asks for a login or refused access (%s)", ref, host, lastClause(err.Error()))
		fix = "run 'docker login " + host + "' (DuoBox uses the docker CLI's credentials and credential helpers), and check the repository name" + orBundle
	case engine.PullRateLimited:
		what = fmt.Sprintf("cannot pull %s: %s's pull rate limit is reached (HTTP 429)", ref, host)
		if reset, ok := registry.ResetTime(ctx, ref, time.Now()); ok {
			f.ResetAt = reset
			what += fmt.Sprintf("; it resets at %s (in %s)", reset.UTC().Format("15:04 MST"), time.Until(reset).Round(time.Minute))
		} else {
			what += "; the registry did not say when it resets"
		}
		fix = "wait for the reset, or 'docker login' (logged-in pulls have a higher limit), or set a registry mirror for the engine (\"registry-mirrors\" in /etc/docker/daemon.json)" + orBundle
	case engine.PullManifestUnknown:
		f.Err = errors.Join(app.ErrNotFound, err)
		what = fmt.Sprintf("image %s does not exist in its registry (manifest unknown: the tag was removed or never pushed)", ref)
		fix = "check the tag in the config (gateway tags follow the GitLab version; 'duobox init' picks one that exists), then run 'duobox up' again, or load an offline bundle that holds this image ('duobox bundle load FILE')"
	case engine.PullPlatform:
		f.Err = errors.Join(engine.ErrPlatform, err)
		what = fmt.Sprintf("image %s has no variant for %s: %s", ref, platformOr(platform), lastClause(err.Error()))
		fix = "use a tag built for this platform; or install QEMU emulation ('docker run --privileged --rm tonistiigi/binfmt --install all') and DuoBox pulls the image's own platform and runs it emulated"
	case engine.PullDiskFull:
		what = fmt.Sprintf("the engine ran out of disk space while pulling %s", ref)
		fix = "free disk space where Docker keeps images ('docker system df', 'docker image prune'), then run 'duobox up' again"
	case engine.PullInterrupted:
		return interrupted(f, fmt.Sprintf("the engine could not resume the download (%s)", lastClause(err.Error())))
	default:
		return e.explain(err, "pull "+ref)
	}
	return &app.Problem{Kind: app.KindEnvironment, What: what, Fix: fix, Err: f}
}

// interrupted is the problem of a registry that dropped the connection in
// the middle of a download (detail: what became of it).
func interrupted(f *engine.PullFailure, detail string) error {
	f.Class = engine.PullInterrupted
	return &app.Problem{Kind: app.KindEnvironment, Err: f,
		What: fmt.Sprintf("cannot pull %s: the registry %s dropped the connection in the middle of a download and %s", f.Image, f.Registry, detail),
		Fix:  "run 'duobox up' again (layers already downloaded are kept); if it keeps breaking, something on the way cuts long downloads: check the proxy's or firewall's timeouts, or set a registry mirror for the engine (\"registry-mirrors\" in /etc/docker/daemon.json)" + orBundle}
}

// engineGone explains a pull whose progress stream from the engine broke
// (err): the Docker engine stopped or its socket went away, not the
// registry. It names the engine even when it answers again.
func (e *Engine) engineGone(ctx context.Context, err error, ref string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pull %s: %w", ref, ctx.Err())
	}
	what := fmt.Sprintf("the Docker engine at %s went away while pulling %s (%s)", e.Endpoint, ref, lastClause(err.Error()))
	if e.Ping(ctx) == nil {
		what = fmt.Sprintf("the connection to the Docker engine at %s broke while pulling %s (%s); the engine answers again", e.Endpoint, ref, lastClause(err.Error()))
	}
	return &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(app.ErrEngineUnreachable, err), What: what,
		Fix: "check that Docker runs ('systemctl status docker', 'docker info'; 'journalctl -u docker' says why it stopped), then run 'duobox up' again (layers already downloaded are kept)"}
}
