package docker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/health"
	"github.com/duobox/duobox/runtime/logs"
	"github.com/duobox/duobox/runtime/logs/loggen"
	"github.com/duobox/duobox/runtime/testbed"
)

var (
	lgOnce  sync.Once
	lgImage string
	lgErr   error
)

// lgLoadImage builds the log generator image once per test binary; its tag
// is the source's hash, so runs share one image instead of piling them up.
func lgLoadImage(t *testing.T, eng *docker.Engine) string {
	t.Helper()
	lgOnce.Do(func() {
		dir, err := os.MkdirTemp("", "duobox-loggen-")
		if err != nil {
			lgErr = err
			return
		}
		defer os.RemoveAll(dir)
		sum := sha256.Sum256([]byte(runtime.GOARCH + loggenVersion()))
		lgImage = "duobox-test/loggen:" + hex.EncodeToString(sum[:6])
		archive, err := loggen.Build(context.Background(), dir, lgImage)
		if err != nil {
			lgErr = err
			return
		}
		f, err := os.Open(archive)
		if err != nil {
			lgErr = err
			return
		}
		defer f.Close()
		lgErr = eng.LoadImageArchive(context.Background(), f)
	})
	if lgErr != nil {
		t.Fatalf("log generator image: %v", lgErr)
	}
	return lgImage
}

func loggenVersion() string { return loggen.SourceHash() }

type lgOptions struct {
	tty     bool
	memory  int64
	restart string // restart policy, e.g. "on-failure"
	retries int
	role    string
	stack   string // default: a new unique name
}

// lgRun starts a labelled log-generator container and removes it at cleanup.
func lgRun(t *testing.T, eng *docker.Engine, o lgOptions, args ...string) (id, name, stackName string) {
	t.Helper()
	img := lgLoadImage(t, eng)
	stackName = o.stack
	if stackName == "" {
		stackName = fmt.Sprintf("dbt-logs-%d", time.Now().UnixNano()%1e9)
	}
	name = stackName + "-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 60 {
		name = name[:60]
	}
	role := o.role
	if role == "" {
		role = stack.RoleModel
	}
	labels := map[string]string{stack.LabelManaged: "true", stack.LabelStack: stackName, stack.LabelRole: role}
	opts, err := docker.CreateRequest(stack.Container{Name: name, Image: img, Cmd: args, Labels: labels, Restart: o.restart}, "bridge", nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Config.Tty = o.tty
	opts.Config.Healthcheck = nil
	// No rotation: this engine's daemon.json rotates at 10 MB, which would
	// drop the beginning of the big logs these tests compare.
	opts.HostConfig.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1g", "max-file": "1"}}
	opts.HostConfig.RestartPolicy.MaximumRetryCount = o.retries
	if o.memory > 0 {
		opts.HostConfig.Memory, opts.HostConfig.MemorySwap = o.memory, o.memory
	}
	ctx := context.Background()
	res, err := eng.API.ContainerCreate(ctx, opts)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = eng.API.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
	})
	if _, err := eng.API.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	return res.ID, name, stackName
}

// lgWaitExit waits until the container has stopped for good.
func lgWaitExit(t *testing.T, eng *docker.Engine, id string, timeout time.Duration) engine.ContainerState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, err := eng.ContainerHealthState(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Running && !s.Restarting && s.Status == "exited" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after %v", id, s.Status, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lgEngineLines is the ground truth: every line the engine holds, read
// with plain stdcopy, no DuoBox code involved.
func lgEngineLines(t *testing.T, eng *docker.Engine, id string) []string {
	t.Helper()
	rc, err := eng.API.ContainerLogs(context.Background(), id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
}

func lgStream(t *testing.T, eng *docker.Engine, id string, opts logs.Options) *logs.Pipeline {
	t.Helper()
	p := logs.NewPipeline(opts)
	if err := (docker.LogSource{Engine: eng}).StreamLogs(context.Background(), id, logs.Request{Tail: -1, Timestamps: true}, p); err != nil {
		t.Fatal(err)
	}
	p.End()
	return p
}

func TestLogs_MillionLinesStayInABoundedRing(t *testing.T) {
	eng := testbed.Engine(t)
	id, _, _ := lgRun(t, eng, lgOptions{}, "lines", "1000000")
	lgWaitExit(t, eng, id, 3*time.Minute)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	p := lgStream(t, eng, id, logs.Options{})
	st := p.Stats()
	if st.Lines != 1_000_001 {
		t.Fatalf("lines %d, want 1000001", st.Lines)
	}
	g := p.Ring()
	if g.Len() != logs.DefaultRingLines || g.Evicted() != 1_000_001-logs.DefaultRingLines {
		t.Fatalf("ring holds %d, evicted %d", g.Len(), g.Evicted())
	}
	last := g.Search(logs.Query{Tail: 1})
	if len(last) != 1 || last[0].Text != "done 1000000" || last[0].Time.IsZero() {
		t.Fatalf("last record %+v", last)
	}
	if st.Levels["info"] != 750_000 || st.Levels["warning"] != 250_000 {
		t.Errorf("levels %v", st.Levels)
	}
	json := g.Search(logs.Query{Contains: "correlation_id"})
	if len(json) != 25_000 || json[0].Fields == nil || json[0].Fields.Logger != "api.access" || json[0].Fields.StatusCode != 200 {
		t.Errorf("json lines %d, first %+v", len(json), json[0].Fields)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 150<<20 {
		t.Errorf("heap grew by %d MiB holding %d lines", grown>>20, g.Len())
	}
}

func TestLogs_TenMegabyteLinesAreCappedAndMarked(t *testing.T) {
	eng := testbed.Engine(t)
	id, _, _ := lgRun(t, eng, lgOptions{}, "long", "10485760", "3")
	lgWaitExit(t, eng, id, time.Minute)
	p := lgStream(t, eng, id, logs.Options{})
	recs := p.Ring().Search(logs.Query{})
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	for i, r := range recs[:3] {
		if r.Flags&logs.FlagTruncated == 0 || len(r.Text) != logs.DefaultMaxLineBytes || len(r.Text)+r.Omitted != 10485760+len(fmt.Sprintf("long %d ", i)) {
			t.Errorf("line %d: flags %b len %d omitted %d", i, r.Flags, len(r.Text), r.Omitted)
		}
		if !strings.HasPrefix(r.Text, fmt.Sprintf("long %d xxx", i)) || strings.ContainsAny(r.Text[20:], "0123456789-:TZ") {
			t.Errorf("line %d carries something but x after its start (an engine timestamp?): %q", i, r.Text[:40])
		}
	}
	if recs[3].Text != "after-long" {
		t.Errorf("last %q", recs[3].Text)
	}
	// A one-shot read without the engine's timestamps gives the same lines.
	plain := logs.NewPipeline(logs.Options{})
	if err := (docker.LogSource{Engine: eng}).StreamLogs(context.Background(), id, logs.Request{Tail: -1}, plain); err != nil {
		t.Fatal(err)
	}
	plain.End()
	for i, r := range plain.Ring().Search(logs.Query{}) {
		if r.Text != recs[i].Text || r.Omitted != recs[i].Omitted || !r.Time.IsZero() {
			t.Errorf("line %d without timestamps: %q… omitted %d time %v", i, r.Text[:min(20, len(r.Text))], r.Omitted, r.Time)
		}
	}
}

func TestLogs_GarbageInvalidUTF8AndJSONWithMissingFields(t *testing.T) {
	eng := testbed.Engine(t)
	for _, tty := range []bool{false, true} {
		t.Run(fmt.Sprintf("tty=%v", tty), func(t *testing.T) {
			id, _, _ := lgRun(t, eng, lgOptions{tty: tty}, "garbage")
			lgWaitExit(t, eng, id, time.Minute)
			p := lgStream(t, eng, id, logs.Options{})
			recs := p.Ring().Search(logs.Query{})
			if len(recs) != 9 {
				t.Fatalf("%d records: %+v", len(recs), recs)
			}
			byPrefix := func(prefix string) logs.Record {
				for _, r := range recs {
					if strings.HasPrefix(r.Text, prefix) {
						return r
					}
				}
				t.Fatalf("no line starts with %q", prefix)
				return logs.Record{}
			}
			if r := byPrefix("binary: "); r.Flags&(logs.FlagBinary|logs.FlagInvalidUTF8) == 0 {
				t.Errorf("binary line flags %b", r.Flags)
			}
			// The engine's json-file driver already turns invalid UTF-8 into U+FFFD.
			if r := byPrefix("invalid utf8: caf"); !strings.Contains(r.Text, "\uFFFD") || !strings.HasSuffix(r.Text, " ok") {
				t.Errorf("invalid utf8 line %q flags %b", r.Text, r.Flags)
			}
			if r := byPrefix(`{"message": "json without level"}`); r.Fields == nil || r.Message() != "json without level" {
				t.Errorf("json without level: %+v", r)
			}
			if r := byPrefix(`{"level": "error"}`); r.Fields == nil || r.Level != logs.LevelError || r.Message() != r.Text {
				t.Errorf("json without message: %+v", r)
			}
			if r := byPrefix("ValueError: No available"); r.Event == nil || r.Event.Kind != "vllm_no_cache_memory" {
				t.Errorf("no event: %+v", r)
			}
			if r := byPrefix("jose.exceptions"); r.Event == nil || r.Event.Kind != "gateway_jwt_signature" {
				t.Errorf("no event: %+v", r)
			}
			oom := byPrefix("torch.OutOfMemoryError")
			if oom.Event == nil || oom.Event.Kind != "cuda_out_of_memory" || oom.Level != logs.LevelError {
				t.Errorf("oom line %+v", oom)
			}
			if want := map[bool]logs.Stream{false: logs.Stderr, true: logs.Stdout}[tty]; oom.Stream != want {
				t.Errorf("oom line on %v, want %v", oom.Stream, want)
			}
			if r := byPrefix("no newline at the end"); r.Flags&logs.FlagPartial == 0 {
				t.Errorf("last line flags %b", r.Flags)
			}
		})
	}
}

// cuttingSource breaks the engine stream every `every` messages, as an
// engine restart or a dropped socket would.
type cuttingSource struct {
	docker.LogSource
	every int
	cuts  int
}

type countingOutput struct {
	logs.Output
	n, every int
	cancel   context.CancelFunc
}

func (c *countingOutput) Frame(s logs.Stream, b []byte) error {
	c.n++
	if c.n > c.every {
		c.cancel()
		return errors.New("connection cut by the test")
	}
	return c.Output.Frame(s, b)
}

func (c *cuttingSource) StreamLogs(ctx context.Context, name string, req logs.Request, out logs.Output) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := c.LogSource.StreamLogs(sctx, name, req, &countingOutput{Output: out, every: c.every, cancel: cancel})
	if err != nil && ctx.Err() == nil && sctx.Err() != nil {
		c.cuts++
		return errors.New("stream cut")
	}
	return err
}

// TestFollow_RestartsAndCutStreamsLoseAndRepeatNothing follows a container
// that exits and is restarted by the engine three times while the stream is
// also cut every 37 messages; what DuoBox keeps must equal what the engine holds.
func TestFollow_RestartsAndCutStreamsLoseAndRepeatNothing(t *testing.T) {
	eng := testbed.Engine(t)
	id, name, _ := lgRun(t, eng, lgOptions{restart: "on-failure", retries: 3}, "count", "60", "15ms", "1")
	p := logs.NewPipeline(logs.Options{})
	src := &cuttingSource{LogSource: docker.LogSource{Engine: eng}, every: 37}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var notices []string
	var mu sync.Mutex
	f := &logs.Follower{Source: src, Container: name, Pipeline: p, Tail: -1, MaxDelay: 200 * time.Millisecond,
		OnNotice: func(n logs.Notice) { mu.Lock(); notices = append(notices, n.Message); mu.Unlock() }}
	go func() { done <- f.Run(ctx) }()

	s := lgWaitExit(t, eng, id, 2*time.Minute)
	if s.Restarts != 3 || s.ExitCode != 1 {
		t.Fatalf("restart count %d exit %d", s.Restarts, s.ExitCode)
	}
	truth := lgEngineLines(t, eng, id)
	if len(truth) != 240 {
		t.Fatalf("the engine holds %d lines, want 240", len(truth))
	}
	deadline := time.Now().Add(20 * time.Second)
	for p.Ring().Len() < len(truth) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a repeat would show up now
	cancel()
	<-done
	got := make([]string, 0, p.Ring().Len())
	for _, r := range p.Ring().Search(logs.Query{}) {
		got = append(got, r.Text)
	}
	if strings.Join(got, "\n") != strings.Join(truth, "\n") {
		t.Fatalf("DuoBox kept %d lines, the engine %d; first difference at %d", len(got), len(truth), firstDiff(got, truth))
	}
	if src.cuts < 3 {
		t.Errorf("the stream was cut only %d times", src.cuts)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(notices, "\n"), "stopped") {
		t.Errorf("no stop notice in %q", notices)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestHealth_OOMKilledContainerAndItsEvents runs a container that allocates
// until the kernel kills it (32 MiB limit): the engine reports exit 137 and
// OOMKilled, and the label-filtered event stream carries oom and die.
func TestHealth_OOMKilledContainerAndItsEvents(t *testing.T) {
	eng := testbed.Engine(t)
	stackName := fmt.Sprintf("dbt-oom-%d", time.Now().UnixNano()%1e9)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	evs := eng.WatchManagedEvents(ctx, stackName)
	time.Sleep(200 * time.Millisecond) // let the subscription reach the engine
	id, name, _ := lgRun(t, eng, lgOptions{memory: 32 << 20, stack: stackName}, "oom")
	s := lgWaitExit(t, eng, id, time.Minute)
	if s.ExitCode != 137 || !s.OOMKilled {
		t.Fatalf("exit %d oom %v (status %s)", s.ExitCode, s.OOMKilled, s.Status)
	}
	byRole, err := eng.ManagedContainer(ctx, stackName, stack.RoleModel)
	if err != nil || !byRole.Exists || byRole.Name != name || !byRole.OOMKilled || byRole.FinishedAt.IsZero() {
		t.Fatalf("by role: %+v %v", byRole, err)
	}
	none, err := eng.ManagedContainer(ctx, stackName, stack.RoleGateway)
	if err != nil || none.Exists {
		t.Fatalf("gateway of a stack without one: %+v %v", none, err)
	}
	seen := map[string]engine.Event{}
	for seen["die"].Action == "" {
		select {
		case ev := <-evs:
			if ev.Container != id {
				t.Errorf("event of another container: %+v", ev)
			}
			seen[ev.Action] = ev
		case <-ctx.Done():
			t.Fatalf("events seen: %v", seen)
		}
	}
	if seen["oom"].Action == "" || seen["die"].ExitCode != "137" || seen["die"].Role != stack.RoleModel || seen["start"].Name != name {
		t.Errorf("events: %+v", seen)
	}
}

func TestLogs_RefusesMissingContainer(t *testing.T) {
	eng := testbed.Engine(t)
	err := (docker.LogSource{Engine: eng}).StreamLogs(context.Background(), "duobox-no-such-container-x", logs.Request{}, logs.NewPipeline(logs.Options{}))
	if !errors.Is(err, app.ErrNotFound) {
		t.Fatalf("got %v", err)
	}
}

// TestHealthCheck_ExitedModelIsExplainedFromItsLog: the checker finds the
// stack's model container by label, sees it exited, and takes the reason
// and fix from the failures the recognisers found in its log.
func TestHealthCheck_ExitedModelIsExplainedFromItsLog(t *testing.T) {
	eng := testbed.Engine(t)
	id, name, stackName := lgRun(t, eng, lgOptions{}, "garbage")
	lgWaitExit(t, eng, id, time.Minute)
	src := docker.LogSource{Engine: eng}
	c := &health.Checker{Engine: eng, Target: health.Target{Stack: stackName, ServedName: "m"},
		Events: func(role string) []logs.Event {
			if role != stack.RoleModel {
				return nil
			}
			evs, _, err := health.ScanLogEvents(context.Background(), src, name, 1000)
			if err != nil {
				t.Error(err)
			}
			return evs
		}}
	r, err := c.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != health.StatusDown || !strings.Contains(r.Reason, "exited with code 0: ") || len(r.Events) != 3 {
		t.Fatalf("report %s %q events %d", r.Status, r.Reason, len(r.Events))
	}
	known := false
	for _, e := range r.Events {
		known = known || (e.Fix == r.Fix && strings.HasSuffix(r.Reason, e.Summary))
	}
	if !known {
		t.Errorf("reason %q / fix %q do not come from the log events", r.Reason, r.Fix)
	}
}
