package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/paths"
	"github.com/duobox/duobox/app/stack"
)

// logs -f keeps its copy in the gateway's log folder only when there is one
// (configured, or the gateway logs to a file); otherwise in the data folder,
// never creating /srv/gitlab-agw for it (issue 13: files go where the README
// says). Under DUOBOX_HOME, always inside it.
func TestLogsCopyDirIsTheLogFolderOnlyWhenThereIsOne(t *testing.T) {
	t.Setenv(paths.EnvHome, "")
	data := t.TempDir()
	dirs := paths.Dirs{Data: data}
	_, srvBefore := os.Stat(stack.DefaultSystemLogDir)
	d := badInputConfig()
	for _, cfg := range []*config.Deployment{nil, &d} {
		if got, err := copyDir(cfg, dirs); err != nil || got != filepath.Join(data, "gitlab-agw") {
			t.Errorf("no file logging (config %v): %q, %v", cfg != nil, got, err)
		}
	}
	if _, err := os.Stat(stack.DefaultSystemLogDir); os.IsNotExist(srvBefore) && !os.IsNotExist(err) {
		t.Errorf("%s created for the copy alone", stack.DefaultSystemLogDir)
	}
	mine := d
	mine.LogDir = filepath.Join(t.TempDir(), "agw")
	if got, err := copyDir(&mine, dirs); err != nil || got != mine.LogDir {
		t.Errorf("configured log folder: %q, %v", got, err)
	}
	home := t.TempDir()
	toFile := d
	toFile.Gateway.Image.Env = map[string]string{"AIGW_LOGGING__TO_FILE": "/var/log/aigateway/aigateway.log"}
	if got, err := copyDir(&toFile, paths.Dirs{Data: filepath.Join(home, "data"), Home: home}); err != nil || got != filepath.Join(home, "data", "gitlab-agw") {
		t.Errorf("file logging under DUOBOX_HOME: %q, %v", got, err)
	}
}
