package testbed

import (
	"net"
	"path/filepath"
	"testing"

	"github.com/duobox/duobox/app/config"
)

// StackConfig is a CPU-mode deployment named name of this bed's stand-ins:
// the model server at modelTag and the gateway at gatewayTag from this
// registry, the gateway published on HostAddress at two distinct free ports,
// its log folder under home. Callers change what their test needs (the
// model, a tag) before saving it.
func (b *Bed) StackConfig(t testing.TB, name, home, modelTag, gatewayTag string) config.Deployment {
	t.Helper()
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	return config.Deployment{
		Name:   name,
		GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: "18.5"},
		Host:   HostAddress(t),
		Mode:   config.ModeCPU,
		Models: []config.Model{{HFRepo: "mistralai/Mistral-7B-Instruct-v0.3", ServedName: "mistral-7b", MaxModelLen: 4096}},
		ModelServer: config.Image{Repository: b.Repository(ModelServer), Tag: modelTag,
			HealthCmd: HealthCmd(ModelServer)},
		Gateway: config.Gateway{Image: config.Image{Repository: b.Repository(Gateway), Tag: gatewayTag,
			HealthCmd: HealthCmd(Gateway)}, Port: ports[0], AgentPort: ports[1]},
		LogDir: filepath.Join(home, "gitlab-agw"),
	}.WithDefaults()
}

// HostAddress is a non-loopback IPv4 address of this machine, where a test
// stack's gateway is published (as for GitLab); the test is skipped on a
// machine without one.
func HostAddress(t testing.TB) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("this machine has no non-loopback IPv4 address")
	return ""
}
