package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

func init() {
	registerBench("up", benchUp)
}

// benchUp times `duobox up` from nothing to both containers healthy (images
// already present) against a shell script doing the same with the docker
// CLI: the script DuoBox exports (network, volume, two docker run) plus a
// loop that runs each container's health command with 'docker exec' every
// 0.1 s — the fastest a script can notice health. Same engine, same test-bed
// images, alternating runs, median of 5 each. Both start with images pulled
// and the JWT keys already generated.
func benchUp(ctx context.Context, env *benchEnv) (result, error) {
	bed, err := testbed.New()
	if err != nil {
		return result{}, err
	}
	defer bed.Close()
	for _, k := range []testbed.Kind{testbed.ModelServer, testbed.Gateway} {
		if out, err := exec.CommandContext(ctx, "docker", "pull", bed.Ref(k, "v1")).CombinedOutput(); err != nil {
			return result{}, fmt.Errorf("docker pull: %v: %s", err, out)
		}
	}
	cfgFor := func(name string) (config.Deployment, error) {
		gw, err := freeTCPPort()
		if err != nil {
			return config.Deployment{}, err
		}
		agent, err := freeTCPPort()
		if err != nil {
			return config.Deployment{}, err
		}
		return config.Deployment{Name: name, GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
			Host: "gpu-box.example.com", Mode: config.ModeCPU,
			Models:      []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
			ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: "v1", HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
			Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "v1", HealthCmd: testbed.HealthCmd(testbed.Gateway)},
				Port: gw, AgentPort: agent, PublishAll: true}, // the bench host name is not this machine's
		}.WithDefaults(), nil
	}

	runDuoBox := func(i int) (float64, error) {
		home := filepath.Join(env.tmp, fmt.Sprintf("up-home-%d", i))
		cfg, err := cfgFor(fmt.Sprintf("bench-up-d%d-%d", os.Getpid()%10000, i))
		if err != nil {
			return 0, err
		}
		cfg.LogDir = filepath.Join(home, "logs")
		if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
			return 0, err
		}
		run := func(args ...string) error {
			cmd := exec.CommandContext(ctx, env.duobox, args...)
			cmd.Env = append(os.Environ(), "DUOBOX_HOME="+home)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("duobox %v: %v: %s", args, err, out)
			}
			return nil
		}
		// Same starting point as the script: keys exist, state database exists.
		if _, err := stack.EnsureKeys(mustSpec(cfg, paths.Dirs{Config: filepath.Join(home, "config")}.Secrets())); err != nil {
			return 0, err
		}
		_ = run("status") // creates the state database; exits 4 since nothing runs yet
		defer run("down", "--volumes")
		start := time.Now()
		if err := run("up"); err != nil {
			return 0, err
		}
		return time.Since(start).Seconds(), nil
	}

	runScript := func(i int) (float64, error) {
		dir := filepath.Join(env.tmp, fmt.Sprintf("up-script-%d", i))
		cfg, err := cfgFor(fmt.Sprintf("bench-up-s%d-%d", os.Getpid()%10000, i))
		if err != nil {
			return 0, err
		}
		s, err := stack.Build(cfg, stack.Options{Catalog: catalog.Catalog{}, SecretsDir: filepath.Join(dir, "secrets"), LogDir: filepath.Join(dir, "logs")})
		if err != nil {
			return 0, err
		}
		if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
			return 0, err
		}
		if _, err := stack.EnsureKeys(s); err != nil {
			return 0, err
		}
		files, err := stack.Export(s, stack.FormatDockerRun, stack.ExportOptions{})
		if err != nil {
			return 0, err
		}
		script := files[0].Content
		for _, c := range s.Containers {
			test := strings.Join(c.Health.Test[1:], " ")
			script += fmt.Sprintf("until docker exec %s %s >/dev/null 2>&1; do sleep 0.1; done\n", c.Name, test)
		}
		path := filepath.Join(dir, "up.sh")
		if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
			return 0, err
		}
		defer func() {
			for _, c := range s.Containers {
				exec.Command("docker", "rm", "-f", c.Name).Run()
			}
			exec.Command("docker", "network", "rm", s.Network.Name).Run()
			for _, v := range s.Volumes {
				exec.Command("docker", "volume", "rm", v.Name).Run()
			}
		}()
		start := time.Now()
		if out, err := exec.CommandContext(ctx, "sh", path).CombinedOutput(); err != nil {
			return 0, fmt.Errorf("reference script: %v: %s", err, out)
		}
		return time.Since(start).Seconds(), nil
	}

	// One warm-up of each (page cache, engine caches), then alternate.
	if _, err := runDuoBox(0); err != nil {
		return result{}, err
	}
	if _, err := runScript(0); err != nil {
		return result{}, err
	}
	var ours, ref []float64
	for i := 1; i <= 5; i++ {
		d, err := runDuoBox(i)
		if err != nil {
			return result{}, err
		}
		ours = append(ours, d)
		r, err := runScript(i)
		if err != nil {
			return result{}, err
		}
		ref = append(ref, r)
	}
	return result{value: median(ours), reference: median(ref), unit: "s", goal: 0.8, lowerIsBetter: true,
		note: "median of 5: duobox up from nothing to both healthy vs the exported docker-run script plus a docker-exec health loop (images present)"}, nil
}

// mustSpec builds the spec only to name the key files.
func mustSpec(cfg config.Deployment, secrets string) stack.Spec {
	s, _ := stack.Build(cfg, stack.Options{SecretsDir: secrets})
	return s
}

func freeTCPPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
