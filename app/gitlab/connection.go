package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/secrets"
)

// TokenFile is where DuoBox keeps the GitLab personal access token (0600).
func TokenFile(d paths.Dirs) string { return filepath.Join(d.Secrets(), "gitlab_token") }

// ConnectionFile records the GitLab DuoBox last connected to (no secrets).
func ConnectionFile(d paths.Dirs) string { return filepath.Join(d.Config, "gitlab-connection.json") }

// Connection is what 'duobox gitlab connect' found.
type Connection struct {
	URL       string    `json:"url"`
	Version   string    `json:"version"`
	User      string    `json:"user,omitempty"`
	Admin     bool      `json:"admin"`
	CheckedAt time.Time `json:"checked_at"`
}

// SaveToken writes the token to its 0600 file atomically.
func SaveToken(d paths.Dirs, token string) error {
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return app.BadInput("paste only the token (glpat-…), on one line", "the GitLab token is empty or contains spaces")
	}
	if err := config.WriteFileAtomic(TokenFile(d), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("save gitlab token: %w", err)
	}
	return nil
}

// LoadToken reads the token; "" and no error when none is stored. A file
// others can read is refused: the token grants administrator access.
func LoadToken(d paths.Dirs) (string, error) {
	path := TokenFile(d)
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	tok, err := secrets.Read(path, "the GitLab token")
	if err != nil {
		return "", err
	}
	return tok, nil
}

// SaveConnection records the connection (no token in it).
func SaveConnection(d paths.Dirs, c Connection) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(ConnectionFile(d), append(data, '\n'), 0o600)
}

// LoadConnection reads the recorded connection; ok is false when there is none.
func LoadConnection(d paths.Dirs) (c Connection, ok bool, err error) {
	data, err := os.ReadFile(ConnectionFile(d))
	if errors.Is(err, os.ErrNotExist) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read gitlab connection: %w", err)
	}
	if err := json.Unmarshal(data, &c); err != nil {
		return c, false, app.BadInput("run 'duobox gitlab connect' again", "%s is damaged: %v", ConnectionFile(d), err)
	}
	return c, true, nil
}

// ConnectResult is what Connect found and did.
type ConnectResult struct {
	Connection
	Instance    Instance `json:"-"`
	AdminNote   string   `json:"admin_note,omitempty"`  // why apply is not possible with this token
	TokenStored bool     `json:"token_stored"`          // a new token was written
	ConfigNote  string   `json:"config_note,omitempty"` // what changed in the deployment config
}

// Connect reads GitLab's version and checks the token; only when that works
// does it store a new token (0600) and record the connection. With
// configPath naming an existing, valid deployment config, it also sets the
// config's gitlab.url and gitlab.version to what GitLab reports, so the
// gateway image and the snippet follow the instance. On any failure nothing
// stored changes.
func Connect(ctx context.Context, d paths.Dirs, u URL, token string, newToken bool, configPath string) (ConnectResult, error) {
	var r ConnectResult
	c := &Client{URL: u, Token: token}
	inst, err := c.Version(ctx)
	if err != nil {
		return r, err
	}
	r.Instance = inst
	// A GitLab version DuoBox's version table does not know is refused
	// before anything is stored: DuoBox cannot say what it needs.
	if _, err := RulesFor(inst.Parsed); err != nil {
		return r, err
	}
	r.Connection = Connection{URL: u.Base, Version: inst.Version, CheckedAt: time.Now().UTC()}
	if user, err := c.CheckAdmin(ctx); err == nil {
		r.User, r.Admin = user.Username, true
	} else if app.KindOf(err) == app.KindBadInput {
		r.AdminNote = err.Error()
	} else {
		return r, err
	}
	var dep config.Deployment
	var depErr error = os.ErrNotExist
	if configPath != "" {
		dep, depErr = config.Load(configPath)
	}
	if newToken {
		if err := SaveToken(d, token); err != nil {
			return r, err
		}
		r.TokenStored = true
	}
	if err := SaveConnection(d, r.Connection); err != nil {
		return r, fmt.Errorf("save gitlab connection: %w", err)
	}
	if depErr == nil {
		v := inst.Parsed.String()
		if dep.GitLab.Version != v || dep.GitLab.URL != u.Base {
			from := dep.GitLab
			dep.GitLab = config.GitLab{URL: u.Base, Version: v}
			if err := config.Save(configPath, dep); err != nil {
				return r, fmt.Errorf("update deployment config: %w", err)
			}
			r.ConfigNote = fmt.Sprintf("deployment config: gitlab %s %s → %s %s (the gateway image follows on the next 'duobox up')", from.URL, from.Version, u.Base, v)
		}
	}
	return r, nil
}
