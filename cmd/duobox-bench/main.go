// Command duobox-bench runs DuoBox's benchmarks. Each benchmark measures
// DuoBox and a local reference (the docker CLI on the same engine, curl,
// grep, sqlite3, …) in the same run and prints one line:
//
//	bench: NAME value=V unit=U reference=R ratio=V/R goal=<=G
//
// Run it through `make bench`. -run selects benchmarks by substring.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"
)

// benchmark is one registered measurement.
type benchmark struct {
	name string
	run  func(ctx context.Context, env *benchEnv) (result, error)
}

// result is what a benchmark measured; lowerIsBetter picks the goal's direction.
type result struct {
	value, reference float64
	unit             string
	goal             float64
	lowerIsBetter    bool
	note             string
}

// benchEnv is what every benchmark may use.
type benchEnv struct {
	duobox string // path to the built duobox binary
	tmp    string // a scratch folder removed at exit
}

var benchmarks []benchmark

// registerBench adds a benchmark; each bench_<name>.go file calls it from init.
func registerBench(name string, run func(ctx context.Context, env *benchEnv) (result, error)) {
	benchmarks = append(benchmarks, benchmark{name, run})
}

func main() {
	duobox := flag.String("duobox", "bin/duobox", "the duobox binary to measure")
	filter := flag.String("run", "", "only benchmarks whose name contains this")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tmp, err := os.MkdirTemp("", "duobox-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(tmp)
	env := &benchEnv{duobox: *duobox, tmp: tmp}
	sort.SliceStable(benchmarks, func(i, j int) bool { return benchmarks[i].name < benchmarks[j].name })
	failed := false
	for _, b := range benchmarks {
		if *filter != "" && !strings.Contains(b.name, *filter) {
			continue
		}
		start := time.Now()
		r, err := b.run(ctx, env)
		if err != nil {
			fmt.Printf("bench: %s error=%q\n", b.name, err.Error())
			failed = true
			continue
		}
		op := ">="
		if r.lowerIsBetter {
			op = "<="
		}
		ratio := 0.0
		if r.reference != 0 {
			ratio = r.value / r.reference
		}
		fmt.Printf("bench: %s value=%.4g unit=%s reference=%.4g ratio=%.3f goal=%s%g\n", b.name, r.value, r.unit, r.reference, ratio, op, r.goal)
		if r.note != "" {
			fmt.Fprintf(os.Stderr, "  %s: %s (%.1fs)\n", b.name, r.note, time.Since(start).Seconds())
		}
	}
	if failed {
		os.Exit(1)
	}
}

// median returns the middle of xs (xs is sorted in place).
func median(xs []float64) float64 {
	sort.Float64s(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
