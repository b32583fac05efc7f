package paths

import (
	"path/filepath"
	"testing"
)

func TestDuoboxHomeWins(t *testing.T) {
	home := t.TempDir()
	t.Setenv(EnvHome, home)
	t.Setenv("XDG_CONFIG_HOME", "/elsewhere")
	d, err := Resolve()
	if err != nil {
		t.Fatal(err)
	}
	if d.ConfigFile() != filepath.Join(home, "config", "deployment.yaml") || d.Database() != filepath.Join(home, "state", "duobox.db") {
		t.Fatalf("dirs %+v", d)
	}
	if err := d.Ensure(); err != nil {
		t.Fatal(err)
	}
}

func TestXDGDirs(t *testing.T) {
	t.Setenv(EnvHome, "")
	t.Setenv("HOME", "/home/u")
	t.Setenv("XDG_CONFIG_HOME", "/xdg/config")
	t.Setenv("XDG_DATA_HOME", "relative/ignored")
	t.Setenv("XDG_STATE_HOME", "")
	d, err := Resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := Dirs{Config: "/xdg/config/duobox", Data: "/home/u/.local/share/duobox", State: "/home/u/.local/state/duobox", Cache: d.Cache}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}
