package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/duobox/duobox/app/config"
)

func init() { registerBench("gui-logs-follow", benchGUILogsFollow) }

// Rate and length of the followed log (issue 17: 5,000 lines/s for 60 s).
const (
	followRate    = 5000
	followSeconds = 60
)

// benchGUILogsFollow: DuoBox's window on the Logs screen follows a model
// container (the log generator under a stack's labels) that prints 5,000
// lines/s for 60 s. The window's resident memory 60 s after the container
// started is compared with its memory at 10 s (value = RSS at 60 s,
// reference = RSS at 10 s), and the benchmark fails outright unless the
// model pane was given every line printed: the window's own counter, read
// from DUOBOX_GUI_STATS, must reach the container's line count.
func benchGUILogsFollow(ctx context.Context, env *benchEnv) (result, error) {
	tag, err := loadLogGenerator(ctx, env)
	if err != nil {
		return result{}, err
	}
	home := filepath.Join(env.tmp, "gui-logs-follow")
	stackName := fmt.Sprintf("bench-follow-%d", os.Getpid()%10000)
	cfg := config.Deployment{Name: stackName, GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host: "192.0.2.10", Mode: config.ModeCPU, LogDir: filepath.Join(home, "logs"),
		Models:      []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: "duobox-test/model-server", Tag: "v1"},
		Gateway:     config.Gateway{Image: config.Image{Repository: "duobox-test/gateway", Tag: "self-hosted-v18.5.0-ee"}},
	}.WithDefaults()
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		return result{}, err
	}
	model, gateway := stackName+"-model", stackName+"-gateway"
	defer func() { _ = exec.Command("docker", "rm", "-f", model, gateway).Run() }()
	create := append([]string{"create"}, logGeneratorArgs(model, stackName, "model", tag, "rate", fmt.Sprint(followRate), fmt.Sprint(followSeconds))...)
	if out, err := exec.CommandContext(ctx, "docker", create...).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("docker create: %v: %s", err, out)
	}
	quiet := append([]string{"run", "-d"}, logGeneratorArgs(gateway, stackName, "gateway", tag, "sleep")...)
	if out, err := exec.CommandContext(ctx, "docker", quiet...).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("docker run: %v: %s", err, out)
	}
	if err := openOnTab(home, "Logs"); err != nil {
		return result{}, err
	}
	x, err := startXvfb(ctx)
	if err != nil {
		return result{}, err
	}
	defer x.stop()
	stats := filepath.Join(env.tmp, "gui-logs-follow.json")
	duo, err := guiProcess(ctx, x, env.duobox, home, "DUOBOX_GUI_STATS="+stats)
	if err != nil {
		return result{}, err
	}
	defer stopProcess(duo)
	// The window is up and following once it writes its counters.
	if _, err := waitGUIStats(ctx, stats, 60*time.Second, func(map[string]int64) bool { return true }); err != nil {
		return result{}, err
	}
	time.Sleep(2 * time.Second) // the model pane attaches to the created container and waits for it to run
	if out, err := exec.CommandContext(ctx, "docker", "start", model).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("docker start: %v: %s", err, out)
	}
	started := time.Now()
	rssAt := func(at time.Duration) (float64, error) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Until(started.Add(at))):
		}
		rss, err := vmRSS(duo.Process.Pid)
		if err != nil {
			return 0, fmt.Errorf("the window exited while following: %w", err)
		}
		if b, err := os.ReadFile(stats); err == nil && os.Getenv("DUOBOX_BENCH_VERBOSE") != "" {
			fmt.Fprintf(os.Stderr, "gui-logs-follow at %s: RSS %.1f MiB, %s\n", at, rss, b)
		}
		return rss, nil
	}
	rss10, err := rssAt(10 * time.Second)
	if err != nil {
		return result{}, err
	}
	rss60, err := rssAt(followSeconds * time.Second)
	if err != nil {
		return result{}, err
	}
	printed := int64(followRate*followSeconds + 1) // and "done N"
	got, err := waitGUIStats(ctx, stats, 30*time.Second, func(r map[string]int64) bool { return r["model"] >= printed })
	if err != nil {
		return result{}, err
	}
	if got["model"] != printed {
		return result{}, fmt.Errorf("the window was given %d of the %d lines printed", got["model"], printed)
	}
	return result{value: rss60, reference: rss10, unit: "MiB", goal: 1.2, lowerIsBetter: true,
		note: fmt.Sprintf("window RSS 60 s vs 10 s into a log of %d lines/s; all %d lines reached the Logs screen", followRate, printed)}, nil
}

// waitGUIStats polls the window's DUOBOX_GUI_STATS file until done accepts
// its log counters (by role) or the time runs out; it returns the last ones.
func waitGUIStats(ctx context.Context, path string, limit time.Duration, done func(map[string]int64) bool) (map[string]int64, error) {
	deadline := time.Now().Add(limit)
	var last map[string]int64
	for {
		var s struct {
			LogsReceived map[string]int64 `json:"logs_received"`
		}
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &s) == nil {
			last = s.LogsReceived
			if done(last) {
				return last, nil
			}
		}
		if time.Now().After(deadline) {
			if last == nil {
				return nil, fmt.Errorf("the window wrote no counters to %s within %s", path, limit)
			}
			return last, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
