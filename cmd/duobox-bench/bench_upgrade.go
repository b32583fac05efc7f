package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

func init() {
	registerBench("upgrade-downtime", benchUpgradeDowntime)
	registerBench("rollback", benchRollback)
}

// Gateway tags the upgrade benchmarks push: two good releases of GitLab 18.5
// and one that never becomes healthy, so the real tag rules apply.
const (
	benchTagA   = "self-hosted-v18.5.0-ee"
	benchTagB   = "self-hosted-v18.5.1-ee"
	benchTagBad = "self-hosted-v18.5.2-ee"
)

// upgradeBench is one deployed test-bed stack driven through the duobox binary.
type upgradeBench struct {
	env  *benchEnv
	bed  *testbed.Bed
	home string
	cfg  config.Deployment
}

func newUpgradeBench(ctx context.Context, env *benchEnv, name string) (*upgradeBench, func(), error) {
	bed, err := testbed.New()
	if err != nil {
		return nil, nil, err
	}
	for _, p := range []struct {
		tag string
		env []string
	}{{benchTagA, nil}, {benchTagB, nil}, {benchTagBad, []string{"DUOBOX_FAKE_NEVER_HEALTHY=1"}}} {
		if _, err := bed.PushImage(testbed.Gateway, p.tag, p.env...); err != nil {
			bed.Close()
			return nil, nil, err
		}
	}
	gw, err := freeTCPPort()
	if err != nil {
		bed.Close()
		return nil, nil, err
	}
	agent, err := freeTCPPort()
	if err != nil {
		bed.Close()
		return nil, nil, err
	}
	b := &upgradeBench{env: env, bed: bed, home: filepath.Join(env.tmp, name)}
	b.cfg = config.Deployment{Name: fmt.Sprintf("bench-%s-%d", name, os.Getpid()%10000),
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host:   "gpu-box.example.com", Mode: config.ModeCPU, LogDir: filepath.Join(b.home, "logs"),
		Models:      []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: "v1", HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: benchTagA, HealthCmd: testbed.HealthCmd(testbed.Gateway)},
			Port: gw, AgentPort: agent, PublishAll: true}, // the bench host name is not this machine's
	}.WithDefaults()
	if err := config.Save(filepath.Join(b.home, "config", "deployment.yaml"), b.cfg); err != nil {
		bed.Close()
		return nil, nil, err
	}
	cleanup := func() {
		b.duobox(context.Background(), nil, "down", "--volumes")
		bed.Close()
	}
	if err := b.duobox(ctx, nil, "up"); err != nil {
		cleanup()
		return nil, nil, err
	}
	for _, tag := range []string{benchTagB, benchTagBad} { // pulls are not what is measured
		if out, err := exec.CommandContext(ctx, "docker", "pull", bed.Ref(testbed.Gateway, tag)).CombinedOutput(); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("docker pull: %v: %s", err, out)
		}
	}
	return b, cleanup, nil
}

// duobox runs the binary on the bench's home; onLine, when set, sees each stderr line as it comes.
func (b *upgradeBench) duobox(ctx context.Context, onLine func(string), args ...string) error {
	cmd := exec.CommandContext(ctx, b.env.duobox, args...)
	cmd.Env = append(os.Environ(), "DUOBOX_HOME="+b.home)
	var out strings.Builder
	cmd.Stdout = &out
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pw.Close()
		pr.Close()
		return err
	}
	pw.Close()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if onLine != nil {
			onLine(sc.Text())
		}
	}
	pr.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("duobox %v: %w: %s", args, err, out.String())
	}
	return nil
}

// poller fires one call every 50 ms, each in its own goroutine, so a call
// that hangs (a published port with no container behind it) does not
// coarsen the timeline; each probe is stamped with when it was sent.
type poller struct {
	mu   sync.Mutex
	seen []probe
	stop chan struct{}
	done chan struct{}
}

type probe struct {
	at  time.Time
	ok  bool
	why string // a failed call: what came back
}

func startPoller(call func(at time.Time) probe) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		defer wg.Wait()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			wg.Add(1)
			go func(at time.Time) {
				defer wg.Done()
				pr := call(at)
				p.mu.Lock()
				p.seen = append(p.seen, pr)
				p.mu.Unlock()
			}(time.Now())
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// finish stops the calls, waits for those in flight and returns every probe in send order.
func (p *poller) finish() []probe {
	close(p.stop)
	<-p.done
	slices.SortFunc(p.seen, func(a, b probe) int { return a.at.Compare(b.at) })
	return p.seen
}

// startProber GETs the gateway's /monitoring/healthz every 50 ms and
// remembers when it answered 200.
func startProber(port int) *poller {
	url := fmt.Sprintf("http://127.0.0.1:%d/monitoring/healthz", port)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	return startPoller(func(at time.Time) probe {
		resp, err := client.Get(url)
		ok := err == nil && resp.StatusCode == 200
		if err == nil {
			resp.Body.Close()
		}
		return probe{at: at, ok: ok}
	})
}

// okAfter is the first 200 at or after t (zero when none).
func okAfter(probes []probe, t time.Time) time.Time {
	for _, pr := range probes {
		if pr.ok && !pr.at.Before(t) {
			return pr.at
		}
	}
	return time.Time{}
}

// longestGap is the longest time from a failed probe to the next 200.
func longestGap(probes []probe) time.Duration {
	var gap time.Duration
	var firstFail time.Time
	for _, pr := range probes {
		switch {
		case !pr.ok && firstFail.IsZero():
			firstFail = pr.at
		case pr.ok && !firstFail.IsZero():
			gap = max(gap, pr.at.Sub(firstFail))
			firstFail = time.Time{}
		}
	}
	return gap
}

// restartToHealthy stops the serving gateway with the docker CLI and times
// 'docker start' until /monitoring/healthz answers 200 (probed every 50 ms).
func (b *upgradeBench) restartToHealthy(ctx context.Context) (time.Duration, error) {
	name := stack.GatewayContainerName(b.cfg.Name)
	if out, err := exec.CommandContext(ctx, "docker", "stop", name).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("docker stop: %v: %s", err, out)
	}
	p := startProber(b.cfg.Gateway.Port)
	start := time.Now()
	out, err := exec.CommandContext(ctx, "docker", "start", name).CombinedOutput()
	if err != nil {
		p.finish()
		return 0, fmt.Errorf("docker start: %v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		p.mu.Lock()
		seen := slices.Clone(p.seen)
		p.mu.Unlock()
		slices.SortFunc(seen, func(a, b probe) int { return a.at.Compare(b.at) })
		t := okAfter(seen, start)
		if !t.IsZero() {
			p.finish()
			return t.Sub(start), nil
		}
	}
	p.finish()
	return 0, fmt.Errorf("%s did not answer after docker start", name)
}

// benchUpgradeDowntime measures how long the gateway does not answer during
// 'duobox upgrade' between two good tags (pulled beforehand), against the
// new container's own start-to-healthy time with 'docker start'. Median of 7,
// alternating the direction.
func benchUpgradeDowntime(ctx context.Context, env *benchEnv) (result, error) {
	b, cleanup, err := newUpgradeBench(ctx, env, "upgrade")
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	var ours, ref []float64
	for i := 0; i < 7; i++ {
		to := benchTagB
		if i%2 == 1 {
			to = benchTagA
		}
		p := startProber(b.cfg.Gateway.Port)
		err := b.duobox(ctx, nil, "upgrade", "gateway", "--to", to)
		time.Sleep(200 * time.Millisecond)
		probes := p.finish()
		if err != nil {
			return result{}, err
		}
		ours = append(ours, longestGap(probes).Seconds())
		d, err := b.restartToHealthy(ctx)
		if err != nil {
			return result{}, err
		}
		ref = append(ref, d.Seconds())
	}
	return result{value: median(ours), reference: median(ref), unit: "s", goal: 1.1, lowerIsBetter: true,
		note: "median of 7: /monitoring/healthz unanswered during duobox upgrade (probe 50 ms) vs the new container's docker start to healthy"}, nil
}

// benchRollback measures, for an upgrade to a tag that never becomes
// healthy, the time from DuoBox declaring it unhealthy to the old version
// answering again, against the old container's own 'docker start' to
// healthy. Median of 5.
func benchRollback(ctx context.Context, env *benchEnv) (result, error) {
	b, cleanup, err := newUpgradeBench(ctx, env, "rollback")
	if err != nil {
		return result{}, err
	}
	defer cleanup()
	var ours, ref []float64
	for i := 0; i < 5; i++ {
		p := startProber(b.cfg.Gateway.Port)
		var unhealthyAt time.Time
		err := b.duobox(ctx, func(line string) {
			if unhealthyAt.IsZero() && strings.Contains(line, "rolling back") {
				unhealthyAt = time.Now()
			}
		}, "upgrade", "gateway", "--to", benchTagBad, "--timeout", "2s")
		time.Sleep(200 * time.Millisecond)
		probes := p.finish()
		if err == nil || unhealthyAt.IsZero() {
			return result{}, fmt.Errorf("the upgrade to %s should have rolled back (err %v)", benchTagBad, err)
		}
		back := okAfter(probes, unhealthyAt)
		if back.IsZero() {
			return result{}, fmt.Errorf("the old gateway did not answer again after the rollback")
		}
		ours = append(ours, back.Sub(unhealthyAt).Seconds())
		d, err := b.restartToHealthy(ctx)
		if err != nil {
			return result{}, err
		}
		ref = append(ref, d.Seconds())
	}
	return result{value: median(ours), reference: median(ref), unit: "s", goal: 1.2, lowerIsBetter: true,
		note: "median of 5: from 'rolling back' (new tag unhealthy) to the old gateway answering /monitoring/healthz vs its docker start to healthy"}, nil
}
