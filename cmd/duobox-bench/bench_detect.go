package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

func init() {
	registerBench("detect", func(ctx context.Context, env *benchEnv) (result, error) {
		return coldProcessVsDockerInfo(ctx, env, "detect", "--json")
	})
	registerBench("recommend", func(ctx context.Context, env *benchEnv) (result, error) {
		return coldProcessVsDockerInfo(ctx, env, "recommend", "--json", "--gitlab-version", "18.5")
	})
}

// coldProcessVsDockerInfo times a fresh duobox process against a fresh
// `docker info` on the same engine, alternating runs, median of 15 each.
func coldProcessVsDockerInfo(ctx context.Context, env *benchEnv, args ...string) (result, error) {
	home, err := os.MkdirTemp(env.tmp, "home-")
	if err != nil {
		return result{}, err
	}
	timeRun := func(name string, args ...string) (float64, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "DUOBOX_HOME="+home)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return 0, fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return time.Since(start).Seconds() * 1000, nil
	}
	// Warm the page cache and the state database once for both.
	if _, err := timeRun(env.duobox, args...); err != nil {
		return result{}, err
	}
	if _, err := timeRun("docker", "info"); err != nil {
		return result{}, err
	}
	var ours, ref []float64
	for i := 0; i < 15; i++ {
		d, err := timeRun(env.duobox, args...)
		if err != nil {
			return result{}, err
		}
		ours = append(ours, d)
		r, err := timeRun("docker", "info")
		if err != nil {
			return result{}, err
		}
		ref = append(ref, r)
	}
	return result{value: median(ours), reference: median(ref), unit: "ms", goal: 1.1, lowerIsBetter: true,
		note: "median wall time of 15 cold processes; reference: `docker info` on the same engine"}, nil
}
