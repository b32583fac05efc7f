package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/duobox/duobox/app/paths"
)

// globals holds the flags every command shares and resolves DuoBox's folders.
type globals struct {
	configPath string
	stderr     io.Writer // warnings go here (the command's stderr)
}

// warnf prints a warning that does not stop the command.
func (g *globals) warnf(format string, args ...any) {
	w := g.stderr
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, "duobox: warning: "+format+"\n", args...)
}

// dirs resolves DuoBox's folders and creates them.
func (g *globals) dirs() (paths.Dirs, error) {
	d, err := paths.Resolve()
	if err != nil {
		return d, err
	}
	return d, d.Ensure()
}

// configFile is --config, or the default deployment config path.
func (g *globals) configFile() (string, error) {
	if g.configPath != "" {
		return g.configPath, nil
	}
	d, err := g.dirs()
	if err != nil {
		return "", err
	}
	return d.ConfigFile(), nil
}

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
