// Package paths resolves where DuoBox keeps its files: the XDG base
// directories, or one folder when DUOBOX_HOME is set (tests and scripts use
// that to isolate runs).
package paths

import (
	"errors"
	"github.com/duobox/duobox/app"
	"os"
	"path/filepath"
	"strings"
)

// EnvHome names the variable that puts every DuoBox file under one folder.
const EnvHome = "DUOBOX_HOME"

// Dirs are DuoBox's folders. None is created by Resolve; use Ensure.
type Dirs struct {
	Config string // deployment config, catalog overlay, secrets/
	Data   string // logs, keys, docs index, model weights cache
	State  string // SQLite database, locks
	Cache  string // downloads in progress
	// Home is $DUOBOX_HOME (absolute) when it is set, else "": then nothing
	// DuoBox writes may land outside it (no /srv/gitlab-agw, no ~/.cache).
	Home string
}

// Resolve reads DUOBOX_HOME, then the XDG variables, then falls back to the
// XDG defaults under $HOME.
func Resolve() (Dirs, error) {
	if home := os.Getenv(EnvHome); home != "" {
		abs, err := filepath.Abs(home)
		if err != nil {
			return Dirs{}, err
		}
		if err := checkHome(abs); err != nil {
			return Dirs{}, err
		}
		return Dirs{
			Config: filepath.Join(abs, "config"),
			Data:   filepath.Join(abs, "data"),
			State:  filepath.Join(abs, "state"),
			Cache:  filepath.Join(abs, "cache"),
			Home:   abs,
		}, nil
	}
	userHome, err := os.UserHomeDir()
	if err != nil {
		return Dirs{}, errors.New("cannot find the home directory: set HOME or " + EnvHome)
	}
	xdg := func(env, fallback string) string {
		if v := os.Getenv(env); v != "" && filepath.IsAbs(v) {
			return filepath.Join(v, "duobox")
		}
		return filepath.Join(userHome, fallback, "duobox")
	}
	return Dirs{
		Config: xdg("XDG_CONFIG_HOME", ".config"),
		Data:   xdg("XDG_DATA_HOME", ".local/share"),
		State:  xdg("XDG_STATE_HOME", ".local/state"),
		Cache:  xdg("XDG_CACHE_HOME", ".cache"),
	}, nil
}

// Ensure creates the folders (0700: they hold secrets and state).
func (d Dirs) Ensure() error {
	for _, dir := range []string{d.Config, d.Data, d.State, d.Cache, d.Secrets()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return app.Environment(err, "set "+EnvHome+" (or XDG_CONFIG_HOME, XDG_DATA_HOME, XDG_STATE_HOME) to a folder you can write, or free space on its disk",
				"cannot create DuoBox's folder %s: %v", dir, err)
		}
	}
	return nil
}

// ConfigFile is the default deployment config.
func (d Dirs) ConfigFile() string { return filepath.Join(d.Config, "deployment.yaml") }

// CatalogOverlay is the user's file that adds or overrides catalog entries.
func (d Dirs) CatalogOverlay() string { return filepath.Join(d.Config, "catalog.yaml") }

// Secrets is the folder of 0600 secret files (HF token, JWT keys, GitLab token).
func (d Dirs) Secrets() string { return filepath.Join(d.Config, "secrets") }

// Database is the SQLite state file.
func (d Dirs) Database() string { return filepath.Join(d.State, "duobox.db") }

// checkHome refuses a DUOBOX_HOME that cannot hold DuoBox's folders: a file,
// or a place in a kernel file system (/proc, /sys, /dev).
func checkHome(abs string) error {
	for _, fs := range []string{"/proc", "/sys", "/dev"} {
		if abs == fs || strings.HasPrefix(abs, fs+"/") {
			return app.Environment(nil, "set "+EnvHome+" to a folder on a disk you can write, for example ~/duobox",
				"%s=%s is inside %s, a kernel file system that cannot hold DuoBox's files", EnvHome, abs, fs)
		}
	}
	if st, err := os.Stat(abs); err == nil && !st.IsDir() {
		return app.Environment(nil, "set "+EnvHome+" to a folder (it is created when missing), not a file",
			"%s=%s is a file, not a folder", EnvHome, abs)
	}
	return nil
}
