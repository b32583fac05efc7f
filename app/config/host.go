package config

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/duobox/duobox/app"
)

// loopbackReason is the seed's rule, said once.
const loopbackReason = "GitLab must reach the gateway by a host name or address valid in your network; do not use localhost, a loopback or a wildcard address"

var hostnameRE = app.LazyRegexp(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$`)

// CheckHostSyntax accepts a host name or an IP literal (IPv6 with or without
// brackets) and refuses loopback and wildcard addresses. It does not resolve
// names; see the gitlab package for the network checks.
func CheckHostSyntax(host string) error {
	h := strings.TrimSpace(host)
	if h == "" {
		return errors.New("empty: give the host name or address GitLab will use to reach this machine (see 'duobox detect' for candidates)")
	}
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/ ") {
		return fmt.Errorf("%q: give only a host name or address, without scheme, port or path", host)
	}
	if addr, ok := ParseHostIP(h); ok {
		if addr.IsLoopback() || addr.IsUnspecified() {
			return fmt.Errorf("%q is a loopback or wildcard address: %s", host, loopbackReason)
		}
		if addr.Zone() != "" || addr.IsLinkLocalUnicast() {
			return fmt.Errorf("%q is a link-local address, valid only on one network link: use a routable address or a host name", host)
		}
		return nil
	}
	if strings.EqualFold(strings.TrimSuffix(h, "."), "localhost") || strings.HasSuffix(strings.ToLower(strings.TrimSuffix(h, ".")), ".localhost") {
		return fmt.Errorf("%q: %s", host, loopbackReason)
	}
	// A name whose last label is all digits is no host name (RFC 1123 2.1,
	// RFC 3696 2): "999.1.1.1" is a broken IPv4 address, not a name to resolve.
	labels := strings.Split(strings.TrimSuffix(h, "."), ".")
	if last := labels[len(labels)-1]; last != "" && strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("%q is not a valid IP address (each IPv4 part is 0–255, four parts) nor a host name", host)
	}
	if !hostnameRE().MatchString(h) || len(h) > 253 {
		return fmt.Errorf("%q is not a valid host name (letters, digits, '-' and '.', for example gpu-box.example.com)", host)
	}
	return nil
}

// ParseHostIP parses an IP literal, with or without IPv6 brackets.
func ParseHostIP(h string) (netip.Addr, bool) {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	addr, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

// HostForURL formats a host for use inside a URL: IPv6 literals get brackets.
func HostForURL(h string) string {
	h = strings.TrimSpace(h)
	if addr, ok := ParseHostIP(h); ok && addr.Is6() {
		return "[" + addr.String() + "]"
	}
	return h
}

// CheckImage validates an image reference: a repository, and a tag or digest.
func CheckImage(img Image) error {
	if img.Repository == "" {
		return errors.New("no image repository")
	}
	if _, err := name.NewRepository(img.Repository); err != nil {
		return fmt.Errorf("%q is not an image repository: %v", img.Repository, err)
	}
	if img.Registry != "" {
		if _, err := name.NewRegistry(img.Registry); err != nil || strings.ContainsAny(img.Registry, "/@") {
			return fmt.Errorf("%q is not a registry host (host or host:port, no scheme or path)", img.Registry)
		}
	}
	if img.Tag == "" && img.Digest == "" {
		return fmt.Errorf("image %q has neither tag nor digest", img.Repository)
	}
	if img.Tag != "" {
		if _, err := name.NewTag(img.Repository + ":" + img.Tag); err != nil {
			return fmt.Errorf("%q is not a valid image tag (letters, digits, '_', '.', '-'; at most 128 characters): %v", img.Tag, err)
		}
	}
	if img.Digest != "" {
		if _, err := name.NewDigest(img.Repository + "@" + img.Digest); err != nil {
			return fmt.Errorf("%q is not an image digest (sha256:<64 hex>): %v", img.Digest, err)
		}
	}
	return nil
}
