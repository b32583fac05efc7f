package deploy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/weights"
)

// Prepared is a spec ready for Up, with what the user should know about it.
type Prepared struct {
	Spec     stack.Spec
	Weights  *weights.Env // where EnsureWeights puts the weights; nil when the model server downloads them itself
	LogDir   string
	HostIP   string   // "" = all addresses
	Warnings []string // e.g. auth bypass on, host address not on this machine
	NewKeys  []string // key files generated now
}

// Prepare resolves what the config leaves to the machine — the gateway log
// directory (created if needed, checked writable), the address to publish
// on, the HF token file — builds the spec and generates missing JWT keys (0600).
func Prepare(d config.Deployment, dirs paths.Dirs, cat catalog.Catalog) (Prepared, error) {
	return prepare(d, dirs, cat, false)
}

// PrepareReadOnly builds the same spec as Prepare without creating anything
// (no folder, no key): for status, down and export.
func PrepareReadOnly(d config.Deployment, dirs paths.Dirs, cat catalog.Catalog) (Prepared, error) {
	return prepare(d, dirs, cat, true)
}

func prepare(d config.Deployment, dirs paths.Dirs, cat catalog.Catalog, readOnly bool) (Prepared, error) {
	var p Prepared
	check := LogDirWritable
	if readOnly {
		check = func(dir string) error {
			if syscall.Access(dir, 2 /* W_OK */) != nil {
				return os.ErrPermission
			}
			return nil
		}
	}
	logDir, err := stack.ResolveLogDir(d.LogDir, dirs.Data, check)
	if readOnly && err != nil { // not created yet: name the folder up would use
		logDir, err = filepath.Join(dirs.Data, "gitlab-agw"), nil
		if d.LogDir != "" {
			logDir = d.LogDir
		}
	}
	if err != nil {
		return p, err
	}
	p.LogDir = logDir
	var warn string
	p.HostIP, warn = LocalBindAddress(d.Host)
	if warn != "" {
		p.Warnings = append(p.Warnings, warn)
	}
	hfToken := filepath.Join(dirs.Secrets(), stack.SecretHFToken)
	if _, err := os.Stat(hfToken); err != nil {
		hfToken = ""
	}
	opts := stack.Options{Catalog: cat, SecretsDir: dirs.Secrets(), LogDir: logDir, HostIP: p.HostIP, HFTokenFile: hfToken}
	if d.Mode == config.ModeGPU {
		// The real model server gets its weights from DuoBox's verified,
		// resumable download (app/weights) and starts offline.
		env, err := weights.EnvFromOS(dirs.Secrets())
		if err != nil {
			return p, err
		}
		p.Weights, opts.HFHubCache = &env, env.HubCache
	}
	p.Spec, err = stack.Build(d, opts)
	if err != nil {
		return p, err
	}
	if d.Gateway.AuthBypass {
		p.Warnings = append(p.Warnings, "gateway auth bypass is ON (AIGW_AUTH__BYPASS_EXTERNAL=true): anyone who reaches port "+
			fmt.Sprint(d.Gateway.Port)+" can use the model without GitLab's tokens; GitLab's docs say: troubleshooting only")
	}
	if hfToken == "" {
		for _, m := range d.Models {
			if e, ok := cat.Find(m.HFRepo); ok && e.Gated {
				p.Warnings = append(p.Warnings, fmt.Sprintf("%s is gated on Hugging Face and no token is stored: put it in %s (mode 0600) or run 'duobox init --hf-token-file FILE'",
					m.HFRepo, filepath.Join(dirs.Secrets(), stack.SecretHFToken)))
			}
		}
	}
	if !readOnly {
		if d.DocsIndex != "" {
			// Refuse a file the gateway would silently find nothing in.
			if _, err := docsindex.Inspect(d.DocsIndex); err != nil {
				return p, err
			}
		}
		p.NewKeys, err = stack.EnsureKeys(p.Spec)
	}
	return p, err
}

// LocalBindAddress picks the address to publish the gateway on for host: the
// host's own address when it is (or resolves to) an address of this
// machine, else all addresses with a warning saying why.
func LocalBindAddress(host string) (ip, warning string) {
	local := map[netip.Addr]bool{}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil {
				local[pfx.Addr().Unmap()] = true
			}
		}
	}
	var candidates []netip.Addr
	if a, ok := config.ParseHostIP(host); ok {
		candidates = []netip.Addr{a}
	} else if names, err := net.LookupHost(host); err == nil {
		for _, n := range names {
			if a, err := netip.ParseAddr(n); err == nil {
				candidates = append(candidates, a.Unmap())
			}
		}
	}
	for _, a := range candidates {
		if local[a] && !a.IsLoopback() {
			return a.String(), ""
		}
	}
	return "", fmt.Sprintf("%s is not an address of this machine (or does not resolve here), so the gateway is published on all addresses; make sure GitLab reaches this machine as %s", host, host)
}
