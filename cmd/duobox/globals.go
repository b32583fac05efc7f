package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/paths"
)

// globals holds the flags every command shares and resolves DuoBox's folders.
type globals struct {
	configPath string
	stderr     io.Writer // warnings go here (the command's stderr)
	actions    *actions.Core
}

// core is the use-case layer every command runs, made once the flags are
// parsed (--config decides its config file).
func (g *globals) core() *actions.Core {
	if g.actions == nil {
		g.actions = &actions.Core{ConfigPath: g.configPath, Connect: connectEngine,
			Warn: func(msg string) { g.warnf("%s", msg) }}
	}
	return g.actions
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
func (g *globals) dirs() (paths.Dirs, error) { return g.core().Dirs() }

// configFile is --config, or the default deployment config path.
func (g *globals) configFile() (string, error) { return g.core().ConfigFile() }

// writeJSON prints v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
