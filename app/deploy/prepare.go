package deploy

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/duobox/duobox/app"
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
	// AuthOff lists the settings that turn the gateway's authentication off
	// (auth_bypass or an env the gateway reads as bypass); also in Warnings.
	AuthOff []string
	// SecretsInEnv names the secrets handed to containers as environment
	// variables, which anyone allowed to run `docker inspect` can read: the
	// gateway image reads its JWT keys only from its environment.
	SecretsInEnv []string
	NewKeys      []string // key files generated now
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
	var logDir string
	var err error
	if stack.GatewayLogsToFile(d) { // no folder nothing writes
		logDir, err = stack.ResolveLogDir(d.LogDir, dirs.Data, dirs.Home, check)
		if readOnly && err != nil { // not created yet: name the folder up would use
			logDir, err = filepath.Join(dirs.Data, "gitlab-agw"), nil
			if d.LogDir != "" {
				logDir = d.LogDir
			}
		}
		if err != nil {
			return p, err
		}
	}
	p.LogDir = logDir
	var warn string
	var local bool
	p.HostIP, warn, local = bindAddress(d.Host, d.Gateway.PublishAll)
	if !local && !d.Gateway.PublishAll && !readOnly {
		return p, &app.Problem{Kind: app.KindBadInput, Remedy: app.RemedyPublishAll,
			What: fmt.Sprintf("%s is not an address of this machine (nor a name that resolves to one), so the gateway cannot be published on it alone", d.Host),
			Fix:  "give an address of this machine as the host (see 'duobox detect'), or publish on all addresses explicitly: 'duobox init --force --publish-all' (gateway.publish_all_addresses: true in the config)"}
	}
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
	if p.AuthOff = d.AuthOff(); len(p.AuthOff) > 0 {
		p.Warnings = append(p.Warnings, "gateway auth bypass is ON ("+strings.Join(p.AuthOff, ", ")+"): anyone who reaches port "+
			fmt.Sprint(d.Gateway.Port)+" can use the model without GitLab's tokens; GitLab's docs say: troubleshooting only")
	}
	for _, c := range p.Spec.Containers {
		for _, se := range c.SecretEnv {
			p.SecretsInEnv = append(p.SecretsInEnv, c.Name+" "+se.Name)
		}
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

// HostIsLocal reports whether host is (or resolves to) a non-loopback
// address of this machine: the gateway can then be published on it alone.
func HostIsLocal(host string) bool {
	_, _, local := bindAddress(host, false)
	return local
}

// bindAddress returns the host's own address and local=true when it is (or
// resolves to) an address of this machine; otherwise "" (all addresses) and
// a warning, which says it was asked for when publishAll is set.
func bindAddress(host string, publishAll bool) (ip, warning string, local bool) {
	addrs := map[netip.Addr]bool{}
	if list, err := net.InterfaceAddrs(); err == nil {
		for _, a := range list {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil {
				addrs[pfx.Addr().Unmap()] = true
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
		if addrs[a] && !a.IsLoopback() {
			if publishAll {
				return "", "the gateway is published on all addresses of this machine, as gateway.publish_all_addresses asks", true
			}
			return a.String(), "", true
		}
	}
	return "", fmt.Sprintf("%s is not an address of this machine (or does not resolve here), so the gateway is published on all addresses (gateway.publish_all_addresses); make sure GitLab reaches this machine as %s", host, host), false
}
