// Package posixlocale maps the POSIX "C" locale to en_US before Fyne reads
// it. Fyne's lang package parses LANG during package initialisation and logs
// "Error parsing user locale C" for C/C.UTF-8/POSIX, which would pollute every
// CLI command's output. Go initialises packages in lexical import-path order
// among those ready, so this package (github.com/duobox/…) runs before
// Fyne's locale dependency (github.com/jeandeaual/go-locale) and thus
// before fyne.io/fyne/v2/lang. Import it for its side effect from main.
package posixlocale

import (
	"os"
	"strings"
)

func init() {
	for _, env := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		if v == "C" || v == "POSIX" || strings.HasPrefix(v, "C.") {
			os.Setenv(env, "en_US.UTF-8")
		}
		return
	}
}
