package gitlab

import (
	"context"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
)

// fakeResolver answers from a table; names not in it do not exist.
type fakeResolver map[string][]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	addrs, ok := r[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range addrs {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}

func TestHostCheck_FakeResolver_AddressValidationTable(t *testing.T) {
	checker := HostChecker{
		Resolver: fakeResolver{
			"gpu-box":               {"192.168.1.10"},
			"gpu-box.example.com":   {"192.168.1.10", "2001:db8::10"},
			"debian-default":        {"127.0.1.1"},
			"elsewhere.example.com": {"10.9.9.9"},
			"dual":                  {"127.0.1.1", "192.168.1.10"},
		},
		LocalAddrs: func() ([]netip.Addr, error) {
			return []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1"),
				netip.MustParseAddr("192.168.1.10"), netip.MustParseAddr("2001:db8::10")}, nil
		},
	}
	for _, tc := range []struct {
		host    string
		ok      bool
		want    string // in the error, or the URL form when ok
		comment string
	}{
		{"gpu-box", true, "gpu-box", "name of this machine"},
		{"gpu-box.example.com.", true, "gpu-box.example.com", "trailing dot"},
		{"192.168.1.10", true, "192.168.1.10", "IPv4 literal of this machine"},
		{"2001:db8::10", true, "[2001:db8::10]", "IPv6 without brackets"},
		{"[2001:db8::10]", true, "[2001:db8::10]", "IPv6 with brackets"},
		{"dual", true, "dual", "one non-loopback local address is enough"},
		{"localhost", false, "do not use localhost", "seed's rule"},
		{"app.localhost", false, "do not use localhost", ".localhost names"},
		{"127.0.0.1", false, "loopback or wildcard", ""},
		{"127.5.6.7", false, "loopback or wildcard", "all of 127.0.0.0/8"},
		{"::1", false, "loopback or wildcard", ""},
		{"[::1]", false, "loopback or wildcard", ""},
		{"0.0.0.0", false, "loopback or wildcard", ""},
		{"::", false, "loopback or wildcard", ""},
		{"::ffff:127.0.0.1", false, "loopback or wildcard", "IPv4-mapped loopback"},
		{"debian-default", false, "resolves only to loopback", "/etc/hosts 127.0.1.1"},
		{"elsewhere.example.com", false, "not an address of this machine", ""},
		{"10.0.0.99", false, "not an address of this machine", "IP of another machine"},
		{"nope.example.com", false, "does not resolve", ""},
		{"http://gpu-box", false, "without scheme", ""},
		{"gpu-box:5052", false, "not a valid host name", "port belongs elsewhere"},
		{"gpu box", false, "without scheme, port or path", ""},
		{"", false, "empty", ""},
		{"fe80::1%eth0", false, "link-local", "zone only means something here"},
		{"fe80::1", false, "link-local", ""},
		{"-bad-.example", false, "not a valid host name", ""},
	} {
		t.Run(tc.host, func(t *testing.T) {
			got, err := checker.Check(context.Background(), tc.host)
			if tc.ok {
				if err != nil || got.ForURL != tc.want || len(got.Local) == 0 {
					t.Fatalf("%s: got %+v, %v", tc.comment, got, err)
				}
				return
			}
			if err == nil || app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%s: got %v, want a bad-input error containing %q", tc.comment, err, tc.want)
			}
		})
	}
}

// TestHostCheck_RealResolverAndPort uses this machine's own addresses and a
// real listener: a non-loopback address passes, and its port answers.
func TestHostCheck_RealResolverAndPort(t *testing.T) {
	addrs, err := InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var mine netip.Addr
	for _, a := range addrs {
		if a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() {
			mine = a
			break
		}
	}
	if !mine.IsValid() {
		t.Skip("this machine has no non-loopback IPv4 address")
	}
	if _, err := (HostChecker{}).Check(context.Background(), mine.String()); err != nil {
		t.Fatalf("%s: %v", mine, err)
	}
	if _, err := (HostChecker{}).Check(context.Background(), "localhost"); err == nil {
		t.Fatal("localhost passed")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(mine.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := CheckPort(context.Background(), mine.String(), port); err != nil {
		t.Errorf("listening port: %v", err)
	}
	ln.Close()
	err = CheckPort(context.Background(), mine.String(), port)
	if app.KindOf(err) != app.KindNotReady || !strings.Contains(err.Error(), "nothing answers on "+net.JoinHostPort(mine.String(), strconv.Itoa(port))) {
		t.Errorf("closed port: %v", err)
	}
}

func TestParseURL_WhatPeoplePaste(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.example.com":        "https://gitlab.example.com",
		"  https://gitlab.example.com///  ": "https://gitlab.example.com",
		"http://10.0.0.5:8080/":             "http://10.0.0.5:8080",
		"https://2001:db8::1":               "https://[2001:db8::1]",
		"https://2001:db8::1/gitlab/":       "https://[2001:db8::1]/gitlab",
		"https://[2001:db8::1]:8443/":       "https://[2001:db8::1]:8443",
		"https://example.com/gitlab":        "https://example.com/gitlab",
		"HTTPS://GitLab.Example.com/":       "https://GitLab.Example.com",
	} {
		u, err := ParseURL(in)
		if err != nil || u.Base != want {
			t.Errorf("%q: got %q, %v; want %q", in, u.Base, err, want)
		}
		if err == nil && u.API() != want+"/api/v4/" {
			t.Errorf("%q: API %q", in, u.API())
		}
	}
	for in, want := range map[string]string{
		"gitlab.example.com":                 "has no scheme: write https://gitlab.example.com",
		"ftp://gitlab.example.com":           "scheme must be http or https",
		"https://gitlab.example.com/api/v4/": "ends in /api/v4",
		"":                                   "empty",
		"https://gitlab.example.com/?tab=x":  "leave out user, query and fragment",
	} {
		_, err := ParseURL(in)
		if app.KindOf(err) != app.KindBadInput || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", in, err, want)
		}
	}
}

// FuzzParseURL: no panic; what is accepted is stable under a second parse and is a valid http(s) URL.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"https://gitlab.example.com/", "gitlab.example.com", "https://2001:db8::1", "http://[::1]:80/x//", "https://a/api/v4", "https://x:99999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := ParseURL(raw)
		if err != nil {
			return
		}
		again, err := ParseURL(u.Base)
		if err != nil || again.Base != u.Base {
			t.Fatalf("%q → %q → %q, %v", raw, u.Base, again.Base, err)
		}
		p, err := url.Parse(u.API())
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Hostname() != u.Host {
			t.Fatalf("%q: API URL %q does not parse back (%v)", raw, u.API(), err)
		}
	})
}

// FuzzHostForURL: a host that passes the syntax check always makes a URL
// whose host part reads back as the same host.
func FuzzHostForURL(f *testing.F) {
	for _, s := range []string{"gpu-box", "192.168.1.10", "2001:db8::10", "[2001:db8::10]", "fe80::1%eth0", "localhost", "a.b-c.d."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		if CheckHostSyntax(host) != nil {
			return
		}
		h := config.HostForURL(normalizeHost(host))
		u, err := url.Parse("http://" + h + ":5052")
		if err != nil {
			t.Fatalf("%q → %q: %v", host, h, err)
		}
		want := strings.TrimSuffix(strings.TrimSpace(host), ".")
		if a, ok := config.ParseHostIP(strings.TrimSpace(host)); ok {
			want = a.String()
		}
		if got := u.Hostname(); got != want {
			t.Fatalf("%q → URL host %q", host, got)
		}
	})
}
