package app

import (
	"regexp"
	"strings"
)

// windowCommand is what the window offers instead of a CLI command.
var windowCommand = map[string]string{
	"up":             "press Deploy",
	"init":           "fill in Configure and press Save config",
	"gitlab connect": "paste a GitLab token on the GitLab screen and press Connect",
	"gitlab apply":   "press Apply in GitLab on the GitLab screen",
	"gitlab check":   "look at the GitLab screen",
	"gitlab":         "use the GitLab screen",
	"env":            "look at the GitLab screen",
	"export":         "press Export on the GitLab screen",
	"detect":         "press Detect again on This machine",
	"recommend":      "look at Choose model",
	"logs":           "open the Logs screen",
	"health":         "look at the Dashboard",
	"status":         "look at the Dashboard",
	"test":           "press Test on the Dashboard",
	"restart":        "press Restart on the Dashboard",
	"down":           "press Stop on the Dashboard",
	"upgrade":        "use the Upgrade screen",
	"rollback":       "press Roll back on the Upgrade screen",
	"history":        "read the history on the Upgrade screen",
	"docs-index":     "press Build index on the Settings screen",
	"docs-search":    "search the index on the Settings screen",
	"weights":        "press Deploy (it downloads and checks the weights)",
	"bundle":         "bring an offline bundle (see the README)",
}

var (
	// a quoted command with its verb in front: run 'duobox up --timeout 30m'
	quotedCommand = LazyRegexp(`(?:(?:run|use|with|see|read|check|try|then|via|pass)\s+)?(?:its log:\s+)?'duobox ([a-z-]+)(?: ([a-z][a-z-]*))?[^']*'`)
	// the same without quotes
	bareCommand = LazyRegexp(`(?:(?:run|use|with|see|read|check|try|then|via)\s+)?\bduobox ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?(?: --?[a-z][a-z-]*(?:[ =][^\s,;)']+)?)*`)
)

// InWindowWords renders a text written for the CLI in the window's words:
// each "run 'duobox up'" becomes "press Deploy", and so on for every
// command, so that the window never sends anyone to a terminal.
func InWindowWords(s string) string {
	if !strings.Contains(s, "duobox ") {
		return s
	}
	replace := func(re *regexp.Regexp) {
		s = re.ReplaceAllStringFunc(s, func(m string) string {
			sub := re.FindStringSubmatch(m)
			if w, ok := windowCommand[sub[1]+" "+sub[2]]; ok && sub[2] != "" {
				return w
			}
			if w, ok := windowCommand[sub[1]]; ok {
				return w
			}
			return m
		})
	}
	replace(quotedCommand())
	replace(bareCommand())
	return s
}
