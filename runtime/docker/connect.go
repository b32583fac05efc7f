// Package docker is DuoBox's only door to the Docker Engine: it is the one
// package that imports the Docker SDK (github.com/moby/moby/client). It
// resolves the endpoint the way the docker CLI does (DOCKER_HOST, then
// DOCKER_CONTEXT, then the current context in ~/.docker/config.json), turns
// SDK errors into app problems with a fix, and hands out plain DuoBox types.
package docker

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/hardware"
)

// Engine is a connection to one Docker engine. Safe for concurrent use.
type Engine struct {
	API      *client.Client
	Endpoint string // e.g. unix:///var/run/docker.sock
	Context  string // docker context name, "" when DOCKER_HOST or the default is used
	// PullRetryLimit, when > 0, abandons a pull once one layer has been
	// retried that many times (0 lets the engine retry as it likes).
	PullRetryLimit int
}

// engineHTTPClient is the SDK's default HTTP client with a 256 KiB read
// buffer per connection instead of net/http's 4 KiB, so a log or event stream
// the engine has written ahead is read in a few system calls, not one per
// 4 KiB. WithHost then points its transport at the engine's socket.
func engineHTTPClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:    6, // as the SDK's default client: idle connections are released
			IdleConnTimeout: 30 * time.Second,
			ReadBufferSize:  256 << 10,
			// No HTTP/2 (the engine speaks HTTP/1.1): without this, the SDK's
			// clone of the transport sets up HTTP/2's TLS config, and the SDK
			// then takes the engine's socket for an HTTPS endpoint.
			TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{},
		},
		CheckRedirect: client.CheckRedirect,
	}
}

// Connect resolves the endpoint and creates a client; it does not contact the engine.
func Connect() (*Engine, error) {
	host, ctxName, err := resolveEndpoint()
	if err != nil {
		return nil, err
	}
	opts := []client.Opt{client.WithHTTPClient(engineHTTPClient()), client.WithHost(client.DefaultDockerHost),
		client.FromEnv, client.WithUserAgent("duobox")}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, app.Environment(err, "check DOCKER_HOST and your docker context ('docker context ls')", "cannot set up the Docker client: %v", err)
	}
	return &Engine{API: cli, Endpoint: cli.DaemonHost(), Context: ctxName}, nil
}

// Close releases the client's connections.
func (e *Engine) Close() error { return e.API.Close() }

// resolveEndpoint returns the host from the active docker context, or "" to
// let DOCKER_HOST / the default socket apply.
func resolveEndpoint() (host, contextName string, err error) {
	if os.Getenv("DOCKER_HOST") != "" {
		return "", "", nil
	}
	name := os.Getenv("DOCKER_CONTEXT")
	cfgDir := os.Getenv("DOCKER_CONFIG")
	if cfgDir == "" {
		home, _ := os.UserHomeDir()
		cfgDir = filepath.Join(home, ".docker")
	}
	if name == "" {
		var cfg struct {
			CurrentContext string `json:"currentContext"`
		}
		if b, err := os.ReadFile(filepath.Join(cfgDir, "config.json")); err == nil {
			_ = json.Unmarshal(b, &cfg)
		}
		name = cfg.CurrentContext
	}
	if name == "" || name == "default" {
		return "", "", nil
	}
	sum := sha256.Sum256([]byte(name))
	metaPath := filepath.Join(cfgDir, "contexts", "meta", hex.EncodeToString(sum[:]), "meta.json")
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return "", "", app.BadInput("run 'docker context ls' and 'docker context use default' or a context that exists",
			"docker context %q is selected but its metadata %s cannot be read: %v", name, metaPath, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host string `json:"Host"`
		} `json:"Endpoints"`
	}
	if err := json.Unmarshal(b, &meta); err != nil || meta.Endpoints["docker"].Host == "" {
		return "", "", app.BadInput("recreate the context with 'docker context create'", "docker context %q has no docker endpoint", name)
	}
	return meta.Endpoints["docker"].Host, name, nil
}

// Probe asks the engine about itself; failures are reported in the result
// with a sentence the user can act on.
func (e *Engine) Probe(ctx context.Context) hardware.Engine {
	out := hardware.Engine{Endpoint: e.Endpoint, Context: e.Context}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := e.API.Info(ctx, client.InfoOptions{})
	if err != nil {
		p := explainConnectError(err, e.Endpoint)
		out.Error, out.Fix = p.What, p.Fix
		return out
	}
	info := res.Info
	out.Reachable = true
	out.Version = info.ServerVersion
	out.APIVersion = e.API.ClientVersion()
	out.OS, out.Arch = info.OSType, info.Architecture
	out.DataRoot = info.DockerRootDir
	for name := range info.Runtimes {
		out.Runtimes = append(out.Runtimes, name)
		if strings.Contains(name, "nvidia") {
			out.NvidiaRuntime = true
		}
	}
	sort.Strings(out.Runtimes)
	for _, d := range info.DiscoveredDevices {
		if d.Source == "cdi" {
			out.CDIDevices = append(out.CDIDevices, d.ID)
		}
	}
	for _, opt := range info.SecurityOptions {
		if strings.Contains(opt, "rootless") {
			out.Rootless = true
		}
	}
	return out
}

// explainConnectError turns a failed call into what happened and what to do.
func explainConnectError(err error, endpoint string) *app.Problem {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "permission denied"):
		return &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(app.ErrEngineUnreachable, err),
			What: fmt.Sprintf("permission denied on the Docker socket %s", endpoint),
			Fix:  "add yourself to the docker group ('sudo usermod -aG docker $USER', then log out and in) or run DuoBox with sudo"}
	case client.IsErrConnectionFailed(err) || strings.Contains(msg, "no such file") || strings.Contains(msg, "connection refused"):
		return &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(app.ErrEngineUnreachable, err),
			What: fmt.Sprintf("the Docker engine at %s is not answering", endpoint),
			Fix:  "start Docker ('sudo systemctl start docker'), or point DOCKER_HOST / 'docker context use' at a running engine"}
	case errors.Is(err, context.DeadlineExceeded):
		return &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(app.ErrEngineUnreachable, err),
			What: fmt.Sprintf("the Docker engine at %s did not answer in time", endpoint),
			Fix:  "check that the engine is healthy ('docker info')"}
	}
	return &app.Problem{Kind: app.KindEnvironment, Err: errors.Join(app.ErrEngineUnreachable, err),
		What: fmt.Sprintf("the Docker engine at %s failed: %v", endpoint, err), Fix: "check 'docker info'"}
}

// Ping checks that the engine answers, returning an app.Problem when not.
func (e *Engine) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := e.API.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return explainConnectError(err, e.Endpoint)
	}
	return nil
}
