package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/runtime/testbed"
)

func init() {
	registerBench("upgrade-downtime-model", benchUpgradeDowntimeModel)
}

// Model server tags the model upgrade benchmark moves between (vLLM release
// tags, so the real tag rule applies).
const (
	benchModelTagA = "v0.11.0"
	benchModelTagB = "v0.11.1"
)

// benchUpgradeDowntimeModel upgrades the model server back and forth (5
// upgrades) with 'duobox upgrade model' on a CPU-mode test-bed stack whose
// model (Mistral 7B AWQ, 4.2 GB of weights + 4 GiB KV cache + 1 GiB) fits
// twice in this machine's RAM by DuoBox's own fit, while a client calls the
// model through the gateway (GitLab's Test connection route, a real chat
// call from the gateway to the model by its name on the network) every 50 ms.
// Value: failed calls; reference: calls sent.
func benchUpgradeDowntimeModel(ctx context.Context, env *benchEnv) (result, error) {
	bed, err := testbed.New()
	if err != nil {
		return result{}, err
	}
	defer bed.Close()
	for _, tag := range []string{benchModelTagA, benchModelTagB} {
		if _, err := bed.PushImage(testbed.ModelServer, tag); err != nil {
			return result{}, err
		}
	}
	ports, err := testbed.FreePorts(2)
	if err != nil {
		return result{}, err
	}
	b := &upgradeBench{env: env, bed: bed, home: filepath.Join(env.tmp, "upgrade-model")}
	b.cfg = config.Deployment{Name: fmt.Sprintf("bench-upmodel-%d", os.Getpid()%10000),
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host:   "gpu-box.example.com", Mode: config.ModeCPU, LogDir: filepath.Join(b.home, "logs"),
		Models: []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", Variant: "solidrust/Mistral-7B-Instruct-v0.3-AWQ",
			ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: benchModelTagA, HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: "v1", HealthCmd: testbed.HealthCmd(testbed.Gateway)},
			Port: ports[0], AgentPort: ports[1], PublishAll: true},
	}.WithDefaults()
	if err := config.Save(filepath.Join(b.home, "config", "deployment.yaml"), b.cfg); err != nil {
		return result{}, err
	}
	defer b.duobox(context.Background(), nil, "down", "--volumes")
	if err := b.duobox(ctx, nil, "up"); err != nil {
		return result{}, err
	}
	if out, err := exec.CommandContext(ctx, "docker", "pull", bed.Ref(testbed.ModelServer, benchModelTagB)).CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("docker pull: %v: %s", err, out)
	}
	key, err := os.ReadFile(filepath.Join(paths.Dirs{Config: filepath.Join(b.home, "config")}.Secrets(), stack.SecretAIGWSigningKey))
	if err != nil {
		return result{}, err
	}
	token, err := deploy.MintCheckToken(key, deploy.Caller{}, time.Hour)
	if err != nil {
		return result{}, err
	}
	check := deploy.ModelCheck{GatewayURL: fmt.Sprintf("http://127.0.0.1:%d", b.cfg.Gateway.Port), Token: token,
		Family: "mistral", Endpoint: stack.ModelEndpoint(b.cfg.Name, 0), Identifier: "custom_openai/" + b.cfg.Models[0].Name()}
	if res, err := deploy.CheckModel(ctx, check); err != nil || res.Status != 200 {
		return result{}, fmt.Errorf("the model does not answer through the gateway before the upgrades: %+v %v", res, err)
	}
	var sent, failed int
	var gap time.Duration
	var firstFailure string
	for i := 0; i < 5; i++ {
		to := benchModelTagB
		if i%2 == 1 {
			to = benchModelTagA
		}
		p := startModelCaller(check)
		beside := false
		err := b.duobox(ctx, func(line string) {
			beside = beside || strings.Contains(line, "two copies of the model server fit")
		}, "upgrade", "model", "--to", to)
		time.Sleep(200 * time.Millisecond)
		calls := p.finish()
		if err != nil {
			return result{}, err
		}
		if !beside {
			return result{}, fmt.Errorf("DuoBox did not start the new model server beside the old one (does the model fit twice in RAM here? see 'duobox upgrade model')")
		}
		for _, c := range calls {
			sent++
			if !c.ok {
				failed++
				if firstFailure == "" {
					firstFailure = c.why
				}
			}
		}
		gap = max(gap, longestGap(calls))
	}
	note := fmt.Sprintf("5 model upgrades where two copies fit, a call through the gateway every 50 ms: %d of %d failed, longest gap %s", failed, sent, gap.Round(time.Millisecond))
	if firstFailure != "" {
		note += "; first failure: " + firstFailure
	}
	return result{value: float64(failed), reference: float64(sent), unit: "requests", goal: 0, lowerIsBetter: true, note: note}, nil
}

// startModelCaller calls the model through the gateway every 50 ms.
func startModelCaller(check deploy.ModelCheck) *poller {
	return startPoller(func(at time.Time) probe {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := deploy.CheckModel(ctx, check)
		pr := probe{at: at, ok: err == nil && res.Status == 200}
		if !pr.ok {
			pr.why = fmt.Sprintf("%s: status %d %s %v", at.Format("15:04:05.000"), res.Status, strings.TrimSpace(res.Body), err)
		}
		return pr
	})
}
