package gitlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
)

// Resolver looks up a host name; *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// HostChecker checks the address GitLab will use to reach the gateway. Zero
// value: the system resolver and this machine's interface addresses.
type HostChecker struct {
	Resolver   Resolver
	LocalAddrs func() ([]netip.Addr, error)
}

// HostCheck is what a check found.
type HostCheck struct {
	Host      string       `json:"host"`
	Resolved  []netip.Addr `json:"resolved"`            // what the name resolves to (the literal itself for an IP)
	Local     []netip.Addr `json:"local"`               // of those, this machine's non-loopback addresses
	ForURL    string       `json:"for_url"`             // the host as written inside a URL (IPv6 in brackets)
	Unchecked string       `json:"unchecked,omitempty"` // why resolution was not checked, if it was not
}

// CheckHostSyntax is config.CheckHostSyntax plus what GitLab on another
// machine cannot use either: an IPv6 link-local address or one with a zone
// ("fe80::1%eth0"), which is only meaningful on this machine and cannot be
// written in a URL as is.
func CheckHostSyntax(host string) error {
	if err := config.CheckHostSyntax(host); err != nil {
		return app.BadInput("pick one of the addresses 'duobox detect' lists, or a DNS name that points to one", "host address: %v", err)
	}
	if a, ok := config.ParseHostIP(strings.TrimSpace(host)); ok && (a.Zone() != "" || a.IsLinkLocalUnicast()) {
		return app.BadInput("pick a global or private address from 'duobox detect', or a DNS name",
			"host address %q is link-local: only machines on the same link can use it, and GitLab's settings cannot hold it", host)
	}
	return nil
}

// Check refuses localhost, loopback and wildcard addresses (the seed's rule),
// then checks that the name resolves to at least one address of this machine
// that is not loopback, so GitLab on another machine can reach the gateway there.
func (c HostChecker) Check(ctx context.Context, host string) (HostCheck, error) {
	if err := CheckHostSyntax(host); err != nil {
		return HostCheck{}, err
	}
	h := normalizeHost(host)
	out := HostCheck{Host: h, ForURL: config.HostForURL(h)}
	if addr, ok := config.ParseHostIP(h); ok {
		out.Resolved = []netip.Addr{addr}
	} else {
		r := c.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		addrs, err := r.LookupNetIP(ctx, "ip", h)
		if err != nil || len(addrs) == 0 {
			return out, app.BadInput("add the name to DNS or /etc/hosts on this machine and on GitLab's, or use an IP address from 'duobox detect'",
				"host address %q does not resolve on this machine: %v", h, lookupReason(err))
		}
		for _, a := range addrs {
			out.Resolved = append(out.Resolved, a.Unmap())
		}
	}
	locals := c.LocalAddrs
	if locals == nil {
		locals = InterfaceAddrs
	}
	mine, err := locals()
	if err != nil {
		out.Unchecked = fmt.Sprintf("this machine's addresses could not be listed: %v", err)
		return out, nil
	}
	var loopbackOnly = true
	for _, a := range out.Resolved {
		if a.IsLoopback() || a.IsUnspecified() {
			continue
		}
		loopbackOnly = false
		if slices.Contains(mine, a) {
			out.Local = append(out.Local, a)
		}
	}
	switch {
	case loopbackOnly:
		return out, app.BadInput("use a name that resolves to this machine's network address (check /etc/hosts: Debian maps the host name to 127.0.1.1), or an IP from 'duobox detect'",
			"host address %q resolves only to loopback (%s): GitLab on another machine could not reach the gateway there", h, joinAddrs(out.Resolved))
	case len(out.Local) == 0:
		return out, app.BadInput("use a name or address that points to this machine (see 'duobox detect' for its addresses)",
			"host address %q resolves to %s, which is not an address of this machine (it has %s)", h, joinAddrs(out.Resolved), joinAddrs(nonLoopback(mine)))
	}
	return out, nil
}

// normalizeHost drops spaces, IPv6 brackets and a trailing dot; IP literals
// come back in their canonical form.
func normalizeHost(host string) string {
	h := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]"), ".")
	if a, ok := config.ParseHostIP(h); ok {
		return a.String()
	}
	return h
}

// InterfaceAddrs lists this machine's interface addresses.
func InterfaceAddrs() ([]netip.Addr, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap().WithZone(""))
		}
	}
	return out, nil
}

// CheckPort reports whether something accepts TCP connections on host:port,
// which is how GitLab will call the gateway.
func CheckPort(ctx context.Context, host string, port int) error {
	h := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(host), "["), "]")
	addr := net.JoinHostPort(h, strconv.Itoa(port))
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return app.NotReady(err, "start the gateway ('duobox up'), check that it publishes the port on this address, and that no firewall blocks it",
			"nothing answers on %s: %v", addr, errors.Unwrap(err))
	}
	return conn.Close()
}

func lookupReason(err error) string {
	var dnsErr *net.DNSError
	switch {
	case err == nil:
		return "no addresses"
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return "no such host"
	case errors.As(err, &dnsErr) && dnsErr.IsTimeout:
		return "the lookup timed out"
	}
	return err.Error()
}

func nonLoopback(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			out = append(out, a)
		}
	}
	return out
}

func joinAddrs(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return "no usable address"
	}
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
