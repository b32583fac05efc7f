package docker

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
)

// CreateRequest turns a container spec into the Engine API's create request.
// Secret values are filled from secrets (name → value); a missing one is an error.
func CreateRequest(c stack.Container, networkName string, secrets map[string]string) (client.ContainerCreateOptions, error) {
	env := append([]string(nil), c.Env...)
	for _, s := range c.SecretEnv {
		v, ok := secrets[s.Name]
		if !ok {
			return client.ContainerCreateOptions{}, fmt.Errorf("create %s: no value for secret %s (file %s)", c.Name, s.Name, s.File)
		}
		env = append(env, s.Name+"="+v)
	}
	cfg := &container.Config{
		Image:      c.Image,
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        env,
		Labels:     c.Labels,
		Healthcheck: &container.HealthConfig{Test: c.Health.Test, Interval: c.Health.Interval, Timeout: c.Health.Timeout,
			StartPeriod: c.Health.StartPeriod, Retries: c.Health.Retries},
	}
	host := &container.HostConfig{
		NetworkMode:   container.NetworkMode(networkName),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyMode(c.Restart)},
		ShmSize:       c.ShmSize,
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "50m", "max-file": "3"}},
	}
	if c.IPCHost {
		host.IpcMode = container.IPCModeHost
	}
	if c.GPU != nil {
		req := container.DeviceRequest{Driver: "nvidia", Capabilities: [][]string{{"gpu"}}}
		if len(c.GPU.DeviceIDs) == 0 {
			req.Count = -1
		} else {
			req.DeviceIDs = c.GPU.DeviceIDs
		}
		host.DeviceRequests = []container.DeviceRequest{req}
	}
	if len(c.Ports) > 0 {
		cfg.ExposedPorts = network.PortSet{}
		host.PortBindings = network.PortMap{}
		for _, p := range c.Ports {
			port, err := network.ParsePort(strconv.Itoa(p.ContainerPort) + "/tcp")
			if err != nil {
				return client.ContainerCreateOptions{}, err
			}
			var ip netip.Addr
			if p.HostIP != "" {
				if ip, err = netip.ParseAddr(strings.Trim(p.HostIP, "[]")); err != nil {
					return client.ContainerCreateOptions{}, fmt.Errorf("create %s: host address %q: %w", c.Name, p.HostIP, err)
				}
			}
			cfg.ExposedPorts[port] = struct{}{}
			host.PortBindings[port] = append(host.PortBindings[port], network.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)})
		}
	}
	for _, m := range c.Mounts {
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.Type(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	opts := client.ContainerCreateOptions{Name: c.Name, Config: cfg, HostConfig: host,
		NetworkingConfig: &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{networkName: {}}}}
	if c.Platform != "" {
		os, arch, _ := strings.Cut(c.Platform, "/")
		opts.Platform = &ocispec.Platform{OS: os, Architecture: arch}
	}
	return opts, nil
}

// CreateContainer creates c (not started).
func (e *Engine) CreateContainer(ctx context.Context, c stack.Container, networkName string, secrets map[string]string) (string, error) {
	opts, err := CreateRequest(c, networkName, secrets)
	if err != nil {
		return "", err
	}
	res, err := e.API.ContainerCreate(ctx, opts)
	if err != nil {
		if strings.Contains(err.Error(), "Conflict") || strings.Contains(err.Error(), "already in use") {
			return "", app.Conflict(err, "run 'duobox up' again (it reconciles), or remove the other container", "container name %s is taken", c.Name)
		}
		return "", e.explain(err, "create container "+c.Name)
	}
	return res.ID, nil
}

// Start starts a container, explaining the usual refusals (port taken, no GPU runtime).
func (e *Engine) Start(ctx context.Context, id string) error {
	_, err := e.API.ContainerStart(ctx, id, client.ContainerStartOptions{})
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "port is already allocated") || strings.Contains(msg, "address already in use"):
		return app.Environment(err, "stop what uses the port ('ss -ltnp | grep PORT'), or set gateway.port in the config to a free port",
			"the engine cannot publish the port: %s", lastClause(msg))
	case strings.Contains(msg, "could not select device driver") || strings.Contains(msg, "nvidia-container-cli"):
		return app.Environment(err, "install the NVIDIA Container Toolkit, run 'sudo nvidia-ctk runtime configure --runtime=docker' and 'sudo systemctl restart docker' (or use mode: cpu to try without a GPU)",
			"the engine cannot give the container a GPU: %s", lastClause(msg))
	case strings.Contains(msg, "bind source path does not exist") || strings.Contains(msg, "permission denied"):
		return app.Environment(err, "create the folder and make it writable for the container user, or change log_dir/docs_index in the config",
			"the engine cannot mount a folder: %s", lastClause(msg))
	}
	return e.explain(err, "start container "+id)
}

// Restart stops (10 s grace) and starts a container.
func (e *Engine) Restart(ctx context.Context, id string) error {
	timeout := 10
	if _, err := e.API.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &timeout}); err != nil {
		return e.explain(err, "restart container "+id)
	}
	return nil
}

// Inspect reports a container's state.
func (e *Engine) Inspect(ctx context.Context, id string) (engine.ContainerState, error) {
	r, err := e.API.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return engine.ContainerState{}, e.explain(err, "inspect container "+id)
	}
	return e.withLastExit(ctx, r.Container), nil
}

// Logs returns the last tail lines of stdout and stderr, in order.
func (e *Engine) Logs(ctx context.Context, id string, tail int) ([]string, error) {
	rc, err := e.API.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(tail)})
	if err != nil {
		return nil, e.explain(err, "read logs of "+id)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := stdcopy.StdCopy(&buf, &buf, rc); err != nil {
		return nil, fmt.Errorf("read logs of %s: %w", id, err)
	}
	var lines []string
	sc := bufio.NewScanner(&buf)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, nil
}

// Exec runs cmd (a health test in CMD form, "CMD" prefix allowed) and returns its exit code.
func (e *Engine) Exec(ctx context.Context, id string, cmd []string) (int, error) {
	if len(cmd) > 0 && cmd[0] == "CMD" {
		cmd = cmd[1:]
	}
	if len(cmd) > 0 && cmd[0] == "CMD-SHELL" {
		cmd = append([]string{"/bin/sh", "-c"}, cmd[1:]...)
	}
	ex, err := e.API.ExecCreate(ctx, id, client.ExecCreateOptions{Cmd: cmd})
	if err != nil {
		return -1, e.explain(err, "exec in "+id)
	}
	if _, err := e.API.ExecStart(ctx, ex.ID, client.ExecStartOptions{Detach: true}); err != nil {
		return -1, e.explain(err, "exec in "+id)
	}
	for {
		r, err := e.API.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return -1, e.explain(err, "exec in "+id)
		}
		if !r.Running {
			return r.ExitCode, nil
		}
		select {
		case <-ctx.Done():
			return -1, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// lastClause keeps the engine's own reason, dropping the API prefix.
func lastClause(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && i < len(msg)-2 {
		return msg[i+2:]
	}
	return msg
}
