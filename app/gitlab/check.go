package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/duobox/duobox/app"
)

// Fetcher fetches a URL from some vantage point: this machine, or the
// gateway's own network (runtime/docker implements that by running the
// request inside the gateway container).
type Fetcher interface {
	Fetch(ctx context.Context, url string) (status int, body []byte, err error)
	Where() string // "this machine", "inside the gateway container duobox-gateway", …
}

// HostFetcher fetches from this machine.
type HostFetcher struct{ HTTP *http.Client }

// Where says the vantage point.
func (HostFetcher) Where() string { return "this machine" }

// Fetch GETs url with a 10 s timeout (what the gateway allows the discovery call).
func (f HostFetcher) Fetch(ctx context.Context, url string) (int, []byte, error) {
	c := f.HTTP
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil, rootCause(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, body, err
}

// OIDCCheck reports whether GitLab's OpenID discovery and keys answer from a
// vantage point: the gateway needs both to verify GitLab's tokens (facts §8).
type OIDCCheck struct {
	From         string `json:"from"`
	DiscoveryURL string `json:"discovery_url"`
	JWKSURL      string `json:"jwks_url,omitempty"`
	Keys         int    `json:"keys"`
	OK           bool   `json:"ok"`
	Problem      string `json:"problem,omitempty"`
	Fix          string `json:"fix,omitempty"`
}

// CheckOIDC fetches <GitLab>/.well-known/openid-configuration, then its jwks_uri,
// and counts the keys, the way the gateway's GitLabOidcProvider does.
func CheckOIDC(ctx context.Context, f Fetcher, gl URL) OIDCCheck {
	c := OIDCCheck{From: f.Where(), DiscoveryURL: gl.Base + "/.well-known/openid-configuration"}
	reachFix := "make GitLab reachable from " + c.From + " at " + gl.Base + " (DNS, firewall, proxy; a custom CA needs SSL_CERT_FILE on the gateway), then restart the gateway: it caches GitLab's keys for 24 h, even an empty set"
	status, body, err := f.Fetch(ctx, c.DiscoveryURL)
	if err != nil {
		c.Problem, c.Fix = fmt.Sprintf("cannot fetch %s: %v", c.DiscoveryURL, err), reachFix
		return c
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &disc) != nil || disc.JWKSURI == "" {
		c.Problem = fmt.Sprintf("%s answered %d without a jwks_uri: %s", c.DiscoveryURL, status, errorText(body))
		c.Fix = "check that " + gl.Base + " is GitLab's base URL (AIGW_GITLAB_URL) and that no proxy or login page answers instead"
		return c
	}
	c.JWKSURL = disc.JWKSURI
	status, body, err = f.Fetch(ctx, disc.JWKSURI)
	if err != nil {
		c.Problem = fmt.Sprintf("cannot fetch GitLab's keys at %s: %v", disc.JWKSURI, err)
		c.Fix = "GitLab advertises its keys at its external_url; make " + disc.JWKSURI + " reachable from " + c.From + " or set GitLab's external_url to the address used here"
		return c
	}
	var keys struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &keys) != nil {
		c.Problem, c.Fix = fmt.Sprintf("%s answered %d: %s", disc.JWKSURI, status, errorText(body)), "check GitLab's health; the gateway cannot verify tokens without these keys"
		return c
	}
	c.Keys = len(keys.Keys)
	if c.Keys == 0 {
		c.Problem, c.Fix = "GitLab publishes no signing keys", "on GitLab 17.10+ run 'sudo gitlab-rake cloud_connector:keys:create', then restart the gateway"
		return c
	}
	c.OK = true
	return c
}

// Finding is one line of 'duobox gitlab check'.
type Finding struct {
	Check   string `json:"check"`
	OK      bool   `json:"ok"`
	Detail  string `json:"detail,omitempty"`
	Problem string `json:"problem,omitempty"`
	Fix     string `json:"fix,omitempty"`
}

// FindingFromError turns a check's error into a finding.
func FindingFromError(check, detail string, err error) Finding {
	f := Finding{Check: check, OK: err == nil, Detail: detail}
	if err != nil {
		f.Problem = err.Error()
		var p *app.Problem
		if errors.As(err, &p) {
			f.Problem, f.Fix = p.What, p.Fix
		}
	}
	return f
}

// Finding turns an OIDC check into a finding.
func (c OIDCCheck) Finding() Finding {
	f := Finding{Check: "GitLab's OpenID keys from " + c.From, OK: c.OK, Problem: c.Problem, Fix: c.Fix}
	if c.OK {
		f.Detail = fmt.Sprintf("%s → %s: %d key(s)", c.DiscoveryURL, c.JWKSURL, c.Keys)
	}
	return f
}
