package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/stack"
)

// ContainerFetcher fetches URLs from inside a running DuoBox container (the
// gateway), so a check sees what the gateway sees: its DNS, its network, its
// CA bundle. It implements gitlab.Fetcher. It runs, in this order, the first
// HTTP client the image has: python3 (the gateway image), curl, wget.
type ContainerFetcher struct {
	Engine    *Engine
	Container string // ID or name; must carry io.duobox.managed=true
	Name      string // for messages
}

// Where says the vantage point.
func (f ContainerFetcher) Where() string {
	return "inside the gateway container " + f.Name
}

// pyFetch prints the status code on the first line, then the body.
const pyFetch = `import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen(sys.argv[1], timeout=10)
    code, body = r.status, r.read()
except urllib.error.HTTPError as e:
    code, body = e.code, e.read()
sys.stdout.write(str(code) + "\n")
sys.stdout.buffer.write(body)
`

// Fetch GETs url from inside the container.
func (f ContainerFetcher) Fetch(ctx context.Context, url string) (int, []byte, error) {
	if err := f.checkManaged(ctx); err != nil {
		return 0, nil, err
	}
	attempts := []struct {
		cmd   []string
		parse func([]byte) (int, []byte, error)
	}{
		{[]string{"python3", "-c", pyFetch, url}, statusFirst},
		{[]string{"curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", url}, statusLast},
		{[]string{"wget", "-q", "-T", "10", "-O", "-", url}, func(b []byte) (int, []byte, error) { return 200, b, nil }},
	}
	var tried []string
	for _, a := range attempts {
		out, errOut, code, err := f.exec(ctx, a.cmd)
		if err != nil {
			return 0, nil, err
		}
		if code == 126 || code == 127 || strings.Contains(string(errOut), "executable file not found") {
			tried = append(tried, a.cmd[0])
			continue
		}
		if code != 0 {
			msg := strings.TrimSpace(string(errOut))
			if i := strings.LastIndex(msg, "\n"); i >= 0 {
				msg = msg[i+1:] // python's traceback ends with the reason
			}
			return 0, nil, fmt.Errorf("%s in the container failed (exit %d): %s", a.cmd[0], code, msg)
		}
		return a.parse(out)
	}
	return 0, nil, fmt.Errorf("the container has no HTTP client to run the check with (tried %s)", strings.Join(tried, ", "))
}

// checkManaged refuses containers without DuoBox's label.
func (f ContainerFetcher) checkManaged(ctx context.Context) error {
	res, err := f.Engine.API.ContainerInspect(ctx, f.Container, client.ContainerInspectOptions{})
	if err != nil {
		return explainConnectError(err, f.Engine.Endpoint)
	}
	if res.Container.Config == nil || res.Container.Config.Labels[stack.LabelManaged] != "true" {
		return fmt.Errorf("check in container %s: %w", f.Container, app.ErrNotManaged)
	}
	if res.Container.State == nil || !res.Container.State.Running {
		return app.NotReady(nil, "start it with 'duobox up'", "the gateway container %s is not running", f.Name)
	}
	return nil
}

// exec runs cmd in the container and returns stdout, stderr and the exit code.
func (f ContainerFetcher) exec(ctx context.Context, cmd []string) (stdout, stderr []byte, code int, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	created, err := f.Engine.API.ExecCreate(ctx, f.Container, client.ExecCreateOptions{Cmd: cmd, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("exec in %s: %w", f.Name, err)
	}
	att, err := f.Engine.API.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("attach to exec in %s: %w", f.Name, err)
	}
	defer att.Close()
	var o, e bytes.Buffer
	if _, err := stdcopy.StdCopy(&o, &e, att.Reader); err != nil && !errors.Is(err, context.Canceled) {
		return nil, nil, 0, fmt.Errorf("read exec output in %s: %w", f.Name, err)
	}
	ins, err := f.Engine.API.ExecInspect(ctx, created.ID, client.ExecInspectOptions{})
	if err != nil {
		return nil, nil, 0, fmt.Errorf("inspect exec in %s: %w", f.Name, err)
	}
	return o.Bytes(), e.Bytes(), ins.ExitCode, nil
}

func statusFirst(b []byte) (int, []byte, error) {
	line, body, _ := bytes.Cut(b, []byte("\n"))
	code, err := strconv.Atoi(strings.TrimSpace(string(line)))
	if err != nil {
		return 0, nil, fmt.Errorf("unexpected output from the fetch: %q", line)
	}
	return code, body, nil
}

func statusLast(b []byte) (int, []byte, error) {
	i := bytes.LastIndexByte(b, '\n')
	if i < 0 {
		return 0, nil, fmt.Errorf("unexpected output from curl: %q", b)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b[i+1:])))
	if err != nil {
		return 0, nil, fmt.Errorf("unexpected output from curl: %q", b[i+1:])
	}
	return code, b[:i], nil
}

// FindGateway returns the running gateway container of a stack ("duobox" by
// default), found by DuoBox's labels only.
func (e *Engine) FindGateway(ctx context.Context, stackName string) (ContainerFetcher, error) {
	filters := client.Filters{}.
		Add("label", stack.LabelManaged+"=true").
		Add("label", stack.LabelRole+"="+stack.RoleGateway).
		Add("label", stack.LabelStack+"="+stackName)
	res, err := e.API.ContainerList(ctx, client.ContainerListOptions{Filters: filters})
	if err != nil {
		return ContainerFetcher{}, explainConnectError(err, e.Endpoint)
	}
	if len(res.Items) == 0 {
		return ContainerFetcher{}, app.NotReady(app.ErrNotFound, "start it with 'duobox up', then check again",
			"no running DuoBox gateway container (stack %q)", stackName)
	}
	c := res.Items[0]
	name := c.ID[:min(12, len(c.ID))]
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	return ContainerFetcher{Engine: e, Container: c.ID, Name: name}, nil
}
