package gitlab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/version"
)

// Client talks to one GitLab instance's REST and GraphQL APIs with a personal
// access token. The token is sent as a Bearer header and never logged.
type Client struct {
	URL   URL
	Token string
	HTTP  *http.Client // nil: a client with a 15 s timeout
}

// Instance is what GET /api/v4/version answers.
type Instance struct {
	Version    string         `json:"version"` // as GitLab says it, e.g. "18.4.1-ee"
	Revision   string         `json:"revision"`
	Enterprise bool           `json:"enterprise"`
	Parsed     version.GitLab `json:"-"`
}

// TokenInfo is what GET /api/v4/personal_access_tokens/self answers.
type TokenInfo struct {
	Name      string   `json:"name"`
	Scopes    []string `json:"scopes"`
	Active    bool     `json:"active"`
	ExpiresAt string   `json:"expires_at"`
}

// User is the part of GET /api/v4/user DuoBox reads; is_admin is present for administrators.
type User struct {
	Username string `json:"username"`
	IsAdmin  bool   `json:"is_admin"`
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: 15 * time.Second}
}

// Version reads GitLab's version (GET /api/v4/version).
func (c *Client) Version(ctx context.Context) (Instance, error) {
	var in Instance
	if err := c.getJSON(ctx, "/api/v4/version", &in); err != nil {
		return in, err
	}
	v, err := version.Parse(in.Version)
	if err != nil {
		return in, app.Environment(err, "report this to DuoBox with the output of GET /api/v4/version", "GitLab at %s reports version %q, which DuoBox cannot read", c.URL.Base, in.Version)
	}
	in.Parsed = v
	return in, nil
}

// Token describes the token in use (GET /api/v4/personal_access_tokens/self).
func (c *Client) TokenInfo(ctx context.Context) (TokenInfo, error) {
	var t TokenInfo
	return t, c.getJSON(ctx, "/api/v4/personal_access_tokens/self", &t)
}

// CurrentUser reads the token's user (GET /api/v4/user).
func (c *Client) CurrentUser(ctx context.Context) (User, error) {
	var u User
	return u, c.getJSON(ctx, "/api/v4/user", &u)
}

// CheckAdmin checks that the token can change instance settings: scope api and an administrator.
func (c *Client) CheckAdmin(ctx context.Context) (User, error) {
	t, err := c.TokenInfo(ctx)
	if err != nil {
		return User{}, err
	}
	if !slices.Contains(t.Scopes, "api") {
		return User{}, app.BadInput("create a personal access token with the api scope (User settings → Access tokens) and run 'duobox gitlab connect' again",
			"the GitLab token %q has scopes %s, not api: GitLab's GraphQL mutations need the api scope", t.Name, strings.Join(t.Scopes, ", "))
	}
	u, err := c.CurrentUser(ctx)
	if err != nil {
		return u, err
	}
	if !u.IsAdmin {
		return u, app.BadInput("use a token of an administrator, or hand the printed snippet ('duobox env') to one",
			"the GitLab user %q is not an administrator: only administrators can change the GitLab Duo self-hosted settings", u.Username)
	}
	return u, nil
}

// gqlError is one entry of a GraphQL "errors" array.
type gqlError struct {
	Message string `json:"message"`
}

// GraphQL posts one document to /api/graphql and decodes "data" into out.
// Top-level errors and a mutation's own "errors" list become an error.
func (c *Client) GraphQL(ctx context.Context, query string, vars map[string]any, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return fmt.Errorf("encode graphql request: %w", err)
	}
	var resp struct {
		Data   json.RawMessage `json:"data"`
		Errors []gqlError      `json:"errors"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/graphql", body, &resp); err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		msgs := make([]string, len(resp.Errors))
		for i, e := range resp.Errors {
			msgs[i] = e.Message
		}
		return &app.Problem{Kind: app.KindBadInput, What: "GitLab refused the request: " + strings.Join(msgs, "; "),
			Fix: "check that the token's user is an administrator and that GitLab Duo Self-Hosted is licensed on this instance"}
	}
	if out != nil && len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, out); err != nil {
			return fmt.Errorf("decode graphql response: %w", err)
		}
	}
	return nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

// do sends one request and maps failures to problems a person can act on.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL.Base+path, rd)
	if err != nil {
		return fmt.Errorf("build request %s: %w", path, err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http().Do(req)
	if err != nil {
		return app.Environment(err, "check the URL, that GitLab is up, and that this machine can reach it (proxy, firewall, VPN, DNS)",
			"cannot reach GitLab at %s: %v", c.URL.Base, rootCause(err))
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return app.Environment(err, "try again; check the network between this machine and GitLab", "read GitLab's answer to %s: %v", path, err)
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		if c.Token == "" {
			return app.BadInput("pass a personal access token ('duobox gitlab connect --token-stdin')", "GitLab at %s needs a token for %s (401)", c.URL.Base, path)
		}
		return app.BadInput("create a new personal access token (scope api) and run 'duobox gitlab connect' again",
			"GitLab refused the token (401 Unauthorized): it is wrong, expired or revoked")
	case res.StatusCode == http.StatusForbidden:
		return app.BadInput("create a personal access token with the api scope, owned by an administrator",
			"GitLab refused %s (403 Forbidden): %s", path, errorText(data))
	case res.StatusCode == http.StatusNotFound:
		return app.BadInput("give GitLab's base URL (what the browser shows before /explore or a project path), for example https://gitlab.example.com",
			"no GitLab API at %s%s (404): is %s GitLab's base URL?", c.URL.Base, path, c.URL.Base)
	case res.StatusCode >= 300:
		return app.Environment(fmt.Errorf("status %d", res.StatusCode), "check GitLab's health (Admin → Monitoring) and try again",
			"GitLab answered %s %s with %d: %s", method, path, res.StatusCode, errorText(data))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return app.BadInput("give GitLab's base URL, for example https://gitlab.example.com (a proxy or login page answered instead of GitLab's API)",
			"the answer from %s%s is not GitLab's JSON: %s", c.URL.Base, path, errorText(data))
	}
	return nil
}

// errorText shortens a response body for a message.
func errorText(data []byte) string {
	var m struct {
		Message any    `json:"message"`
		Error   string `json:"error"`
		Desc    string `json:"error_description"`
	}
	if json.Unmarshal(data, &m) == nil {
		switch {
		case m.Desc != "":
			return m.Error + ": " + m.Desc
		case m.Error != "":
			return m.Error
		case m.Message != nil:
			return fmt.Sprint(m.Message)
		}
	}
	s := strings.Join(strings.Fields(string(data)), " ")
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return fmt.Sprintf("%q", s)
}

func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
