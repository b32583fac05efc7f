// Package fyneenv sets the environment Fyne reads during package
// initialisation, before Fyne reads it. Go initialises packages in
// import-path order among those whose dependencies are ready, and this
// package depends only on os and strings, so it (github.com/duobox/…) runs
// before Fyne's locale dependency (github.com/jeandeaual/go-locale), its
// lang package and its internal cache (checked with GODEBUG=inittrace=1).
// Import it for its side effects from main.
package fyneenv

import (
	"os"
	"strings"
)

// RenderCacheValidity is how long Fyne keeps the renderers and text
// textures of objects no longer shown (Fyne's default: one minute). The Logs
// screen following a busy container shows thousands of new lines a second,
// and each one's texture would otherwise stay for a minute: the window's
// memory grew 1.6× between 10 s and 60 s of following 5,000 lines/s, and
// stays flat with 10 s (make bench, gui-logs-follow). A user's own
// FYNE_CACHE wins.
const RenderCacheValidity = "10s"

func init() {
	mapPOSIXLocale()
	if os.Getenv("FYNE_CACHE") == "" {
		os.Setenv("FYNE_CACHE", RenderCacheValidity)
	}
}

// mapPOSIXLocale maps the POSIX "C" locale to en_US: Fyne's lang package
// parses LANG during its initialisation and logs "Error parsing user locale
// C" for C/C.UTF-8/POSIX, which would pollute every CLI command's output.
func mapPOSIXLocale() {
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
