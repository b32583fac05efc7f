// Command testbedstack runs a DuoBox stack on the test bed for
// 'make screenshots' and the GUI benchmarks: it starts runtime/testbed's
// registry with the stand-in model server and gateway images, writes a
// deployment config under -home, runs 'duobox up', prints "ready", and on
// SIGINT/SIGTERM runs 'duobox down --volumes' and stops the registry.
// It exists for tests and screenshots only and never ships.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/runtime/testbed"
)

// Gateway tags the bed serves: the config runs the first, so the Upgrade
// screen has the second to offer.
const (
	gatewayTag = "self-hosted-v18.5.0-ee"
	newerTag   = "self-hosted-v18.5.1-ee"
)

func main() {
	home := flag.String("home", "", "DUOBOX_HOME for the stack (required)")
	duobox := flag.String("duobox", "bin/duobox", "the duobox binary")
	name := flag.String("name", fmt.Sprintf("shots-%d", os.Getpid()), "stack name")
	flag.Parse()
	if *home == "" {
		fmt.Fprintln(os.Stderr, "testbedstack: -home is required")
		os.Exit(2)
	}
	if err := run(*home, *duobox, *name); err != nil {
		fmt.Fprintln(os.Stderr, "testbedstack:", err)
		os.Exit(1)
	}
}

func run(home, duobox, name string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bed, err := testbed.New()
	if err != nil {
		return err
	}
	defer bed.Close()
	for _, tag := range []string{gatewayTag, newerTag} {
		if _, err := bed.PushImage(testbed.Gateway, tag); err != nil {
			return err
		}
	}
	host, err := hostAddress()
	if err != nil {
		return err
	}
	ports, err := testbed.FreePorts(2)
	if err != nil {
		return err
	}
	gw, agent := ports[0], ports[1]
	cfg := config.Deployment{Name: name, GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host: host, Mode: config.ModeCPU, LogDir: filepath.Join(home, "logs"),
		Models:      []config.Model{{HFRepo: "mistralai/Codestral-22B-v0.1", ServedName: "codestral-22b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: bed.Repository(testbed.ModelServer), Tag: "v1", HealthCmd: testbed.HealthCmd(testbed.ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: bed.Repository(testbed.Gateway), Tag: gatewayTag, HealthCmd: testbed.HealthCmd(testbed.Gateway)},
			Port: gw, AgentPort: agent},
	}.WithDefaults()
	if err := config.Save(filepath.Join(home, "config", "deployment.yaml"), cfg); err != nil {
		return err
	}
	duoboxCmd := func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, duobox, args...)
		cmd.Env = append(os.Environ(), "DUOBOX_HOME="+home)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	defer duoboxCmd(context.WithoutCancel(ctx), "down", "--volumes")
	if err := duoboxCmd(ctx, "up", "--timeout", "3m"); err != nil {
		return fmt.Errorf("duobox up: %w", err)
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

// hostAddress is this machine's first non-loopback IPv4 address: what GitLab
// would use, and what the dashboard's probes can reach.
func hostAddress() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
			return ip.IP.String(), nil
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address on this machine")
}
