package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/runtime/logs"
	"github.com/duobox/duobox/runtime/logs/loggen"
)

func init() {
	registerBench("log-ingest", benchLogIngest)
	registerBench("log-memory", benchLogMemory)
	registerBench("log-search", benchLogSearch)
}

const benchLogLines = 1_000_000

// benchLogIngest: lines per second through DuoBox's whole pipeline (engine
// stream with timestamps, stdcopy demux, parse, ring, recognisers; only a
// summary is printed) against `docker logs` to /dev/null on the same
// container holding 1M lines; median of 5 alternating runs each (both are
// bound by the engine's own rate, so the runs' noise decides the ratio's).
func benchLogIngest(ctx context.Context, env *benchEnv) (result, error) {
	name, cleanup, err := benchLogContainer(ctx, env, "lines", fmt.Sprint(benchLogLines))
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	home := filepath.Join(env.tmp, "logs-home")
	timeRun := func(name string, args ...string) (float64, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DUOBOX_HOME="+home)
		cmd.Stdout, cmd.Stderr = nil, nil // /dev/null
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return 0, fmt.Errorf("%s %v: %w", name, args, err)
		}
		return time.Since(start).Seconds(), nil
	}
	var ours, ref []float64
	for i := 0; i < 5; i++ {
		d, err := timeRun(env.duobox, "logs", name, "--tail", "all", "--summary")
		if err != nil {
			return result{}, err
		}
		ours = append(ours, benchLogLines/d)
		r, err := timeRun("docker", "logs", name)
		if err != nil {
			return result{}, err
		}
		ref = append(ref, benchLogLines/r)
	}
	return result{value: median(ours), reference: median(ref), unit: "lines/s", goal: 1.0,
		note: "1M lines (3/4 plain vLLM-style, 1/4 gateway JSON); duobox logs --tail all --summary vs docker logs >/dev/null, median of 5"}, nil
}

// benchLogContainer loads the log generator image, runs it with args under
// DuoBox's labels (no log rotation) and waits for it to exit.
func benchLogContainer(ctx context.Context, env *benchEnv, args ...string) (string, func(), error) {
	tag, err := loadLogGenerator(ctx, env)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("duobox-bench-logs-%d", time.Now().UnixNano()%1e9)
	run := append([]string{"run", "-d"}, logGeneratorArgs(name, name, "model", tag, args...)...)
	if out, err := exec.CommandContext(ctx, "docker", run...).CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("docker run: %v: %s", err, out)
	}
	cleanup := func() { _ = exec.Command("docker", "rm", "-f", name).Run() }
	if out, err := exec.CommandContext(ctx, "docker", "wait", name).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("docker wait: %v: %s", err, out)
	}
	return name, cleanup, nil
}

// loadLogGenerator builds runtime/logs/loggen's image and loads it into the
// engine; it returns the image's tag.
func loadLogGenerator(ctx context.Context, env *benchEnv) (string, error) {
	dir, err := os.MkdirTemp(env.tmp, "loggen-")
	if err != nil {
		return "", err
	}
	tag := "duobox-test/loggen:" + loggen.SourceHash()[:12]
	archive, err := loggen.Build(ctx, dir, tag)
	if err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "docker", "load", "-q", "-i", archive).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker load: %v: %s", err, out)
	}
	return tag, nil
}

// logGeneratorArgs are `docker run`/`docker create` arguments for a log
// generator container named name, labelled as stack's container of role
// (json-file log without rotation), running tag with args.
func logGeneratorArgs(name, stackName, role, tag string, args ...string) []string {
	return append([]string{"--name", name, "--label", "io.duobox.managed=true", "--label", "io.duobox.stack=" + stackName,
		"--label", "io.duobox.role=" + role, "--log-driver", "json-file", "--log-opt", "max-size=1g", "--log-opt", "max-file=1", tag}, args...)
}

// benchLogFile writes n lines shaped like the container's (vLLM plain lines,
// gateway JSON lines, a few known failures).
func benchLogFile(env *benchEnv, n int) (string, error) {
	path := filepath.Join(env.tmp, fmt.Sprintf("lines-%d.log", n))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for i := 1; i <= n; i++ {
		ts := time.Date(2026, 11, 27, 3, 0, 0, i, time.UTC).Format(time.RFC3339Nano)
		switch {
		case i%1000 == 0:
			fmt.Fprintf(w, "%s torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB (line %d)\n", ts, i)
		case i%4 == 0:
			status := 200
			if i%400 == 0 {
				status = 503
			}
			fmt.Fprintf(w, `%s {"status_code": %d, "correlation_id": "01K6B8V2NG%08d", "logger": "api.access", "level": "info", "message": "POST /v1/prompts/model_configuration%%2Fcheck", "duration_s": 0.25}`+"\n", ts, status, i)
		case i%4 == 1:
			fmt.Fprintf(w, "%s INFO 11-27 03:14:49 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, Running: 0 reqs, line %d\n", ts, i)
		case i%4 == 2:
			fmt.Fprintf(w, "%s (APIServer pid=1) INFO 11-27 03:14:49 [api_server.py:1024] GET /v1/models 200 OK line %d\n", ts, i)
		default:
			fmt.Fprintf(w, "%s WARNING 11-27 03:14:49 [config.py:1] slow request line %d\n", ts, i)
		}
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return path, f.Close()
}

// benchLogMemory: the process's resident memory after 1M lines against after
// 100k, both through one pipeline (parse, recognisers, a ring of 100k lines)
// fed in this process; each figure is read from /proc/self/statm after a GC
// that returns freed memory to the system, so it is what the process keeps,
// not a GC peak. Flat memory means a ratio near 1.
func benchLogMemory(ctx context.Context, env *benchEnv) (result, error) {
	first, err := benchLogFile(env, 100_000)
	if err != nil {
		return result{}, err
	}
	rest, err := benchLogFile(env, benchLogLines-100_000)
	if err != nil {
		return result{}, err
	}
	defer os.Remove(first)
	defer os.Remove(rest)
	p := logs.NewPipeline(logs.Options{})
	feed := func(path string) (float64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := p.Feed(f); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		runtime.GC()
		debug.FreeOSMemory()
		return residentMiB()
	}
	small, err := feed(first)
	if err != nil {
		return result{}, err
	}
	big, err := feed(rest)
	if err != nil {
		return result{}, err
	}
	if n := p.Stats().Lines; n != benchLogLines {
		return result{}, fmt.Errorf("the pipeline saw %d lines, want %d", n, benchLogLines)
	}
	return result{value: big, reference: small, unit: "MiB", goal: 1.2, lowerIsBetter: true,
		note: fmt.Sprintf("resident memory after 1M vs 100k lines through one pipeline (ring of %d lines, %d held)", logs.DefaultRingLines, p.Ring().Len())}, nil
}

// residentMiB reads this process's resident set size.
func residentMiB() (float64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read /proc/self/statm: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, fmt.Errorf("unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseFloat(fields[1], 64)
	if err != nil {
		return 0, err
	}
	return pages * float64(os.Getpagesize()) / (1 << 20), nil
}

// benchLogSearch: a regexp search over a full ring (100k lines) against
// `grep -E -c` over the same lines in a file; median of 7 each.
func benchLogSearch(ctx context.Context, env *benchEnv) (result, error) {
	path, err := benchLogFile(env, logs.DefaultRingLines)
	if err != nil {
		return result{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return result{}, err
	}
	p := logs.NewPipeline(logs.Options{})
	err = p.Feed(f)
	f.Close()
	if err != nil {
		return result{}, err
	}
	// grep sees the lines as the ring holds them (without the engine timestamp).
	plain := filepath.Join(env.tmp, "ring.txt")
	var b strings.Builder
	for _, r := range p.Ring().Search(logs.Query{}) {
		b.WriteString(r.Text)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(plain, []byte(b.String()), 0o600); err != nil {
		return result{}, err
	}
	const pattern = `CUDA out of memory|KV cache is needed|"status_code": 5[0-9][0-9]`
	q := logs.Query{Regexp: regexp.MustCompile(pattern)}
	var ours, ref []float64
	var n int
	for i := 0; i < 7; i++ {
		start := time.Now()
		n = len(p.Ring().Search(q))
		ours = append(ours, time.Since(start).Seconds()*1000)
		start = time.Now()
		out, err := exec.CommandContext(ctx, "grep", "-E", "-c", pattern, plain).Output()
		if err != nil {
			return result{}, fmt.Errorf("grep: %w", err)
		}
		ref = append(ref, time.Since(start).Seconds()*1000)
		if got := strings.TrimSpace(string(out)); got != fmt.Sprint(n) {
			return result{}, fmt.Errorf("DuoBox found %d lines, grep %s", n, got)
		}
	}
	return result{value: median(ours), reference: median(ref), unit: "ms", goal: 2, lowerIsBetter: true,
		note: fmt.Sprintf("regexp %q over a full ring of %d lines (%d matches) vs grep -E -c on the same lines", pattern, logs.DefaultRingLines, n)}, nil
}
