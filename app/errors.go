// Package app holds what every DuoBox use-case shares: the error type that
// carries a person-readable problem and its fix, and the exit-code classes the
// CLI maps those problems to. Domain concepts live in the subpackages
// (hardware, catalog, recommend, stack, gitlab, deploy, store, config).
package app

import (
	"errors"
	"fmt"
)

// Kind classifies a Problem; the CLI turns each kind into a documented exit code.
type Kind int

// Problem kinds, in the order of their exit codes.
const (
	KindInternal    Kind = 1 // a bug or an unexpected failure
	KindBadInput    Kind = 2 // a flag, file or value the user gave is wrong
	KindEnvironment Kind = 3 // the machine lacks something: engine, driver, permission, disk, port
	KindNotReady    Kind = 4 // something started but did not become healthy in time
	KindConflict    Kind = 5 // another operation holds the lock, or the state changed underneath
)

// ExitCode is the process exit status the CLI uses for a kind.
func (k Kind) ExitCode() int { return int(k) }

// Problem is an error meant for a person: What went wrong (one sentence, no
// trailing period needed) and Fix, what to do about it. Err keeps the cause
// for errors.Is/As and for --verbose output.
type Problem struct {
	Kind Kind
	What string
	Fix  string
	Err  error
	// Remedy names a fix both faces offer, each in its own words (the CLI
	// names a command, the window a control). When set it is the fix the
	// window shows, and the CLI's when Fix is empty.
	Remedy Remedy
	// Severity says how bad it is (zero: SeverityError).
	Severity Severity
}

func (p *Problem) Error() string {
	msg := p.What
	if p.Err != nil && p.What == "" {
		msg = p.Err.Error()
	}
	if fix := p.FixFor(FaceCLI); fix != "" {
		msg += " — " + fix
	}
	return msg
}

// FixFor is the fix in face's words.
func (p *Problem) FixFor(face Face) string {
	if p.Remedy != "" && (face == FaceWindow || p.Fix == "") {
		return p.Remedy.In(face)
	}
	return p.Fix
}

func (p *Problem) Unwrap() error { return p.Err }

// BadInput reports a wrong value given by the user.
func BadInput(fix, format string, args ...any) error {
	return &Problem{Kind: KindBadInput, What: fmt.Sprintf(format, args...), Fix: fix}
}

// Environment reports something missing or broken on the machine.
func Environment(err error, fix, format string, args ...any) error {
	return &Problem{Kind: KindEnvironment, What: fmt.Sprintf(format, args...), Fix: fix, Err: err}
}

// NotReady reports a component that did not become healthy.
func NotReady(err error, fix, format string, args ...any) error {
	return &Problem{Kind: KindNotReady, What: fmt.Sprintf(format, args...), Fix: fix, Err: err}
}

// Conflict reports an operation refused because of concurrent or changed state.
func Conflict(err error, fix, format string, args ...any) error {
	return &Problem{Kind: KindConflict, What: fmt.Sprintf(format, args...), Fix: fix, Err: err}
}

// KindOf returns the kind of the first Problem in err's chain, KindInternal otherwise.
func KindOf(err error) Kind {
	var p *Problem
	if errors.As(err, &p) {
		return p.Kind
	}
	return KindInternal
}

// Sentinel errors shared across packages; check them with errors.Is.
var (
	ErrNotFound          = errors.New("not found")
	ErrEngineUnreachable = errors.New("docker engine unreachable")
	ErrNotManaged        = errors.New("object is not managed by DuoBox")
)
