package app

import (
	"regexp"
	"sync"
)

// LazyRegexp compiles expr the first time the returned function is called
// (panicking on a bad expression, as regexp.MustCompile). A package-level
// regexp.MustCompile runs at every start of the binary, the CLI's included;
// a lazy one costs only the commands that use it.
func LazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
