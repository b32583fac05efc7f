// Command duobox turns one GPU workstation into a GitLab Duo Self-Hosted back
// end. With no arguments it opens the desktop app; with a subcommand it runs
// headless on the same services. This package only wires and maps errors to
// messages and exit codes; the logic lives in app/ and runtime/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	_ "github.com/duobox/duobox/cmd/duobox/internal/fyneenv" // before Fyne reads its environment
)

const exitStatusHelp = `
EXIT STATUS
  0  success
  1  internal error (a bug, or an unexpected failure; the message says what)
  2  bad input: a flag, file or value is wrong (the message names it and the fix)
  3  environment: something on this machine is missing or refused (Docker engine,
     GPU driver, permission, disk space, a port in use)
  4  not ready: a container started but did not become healthy in time
  5  conflict: another DuoBox operation is running, or the state changed underneath
`

func main() {
	stopProfile := startCPUProfile(os.Getenv("DUOBOX_CPUPROFILE"), os.Stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	stopProfile()
	os.Exit(code)
}

// startCPUProfile writes a pprof CPU profile of this process to path until
// the returned function is called (README "Diagnostics"); no path, no profile.
func startCPUProfile(path string, stderr io.Writer) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "duobox: DUOBOX_CPUPROFILE: %v (no profile written)\n", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// run executes one invocation and returns its exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stderr: stderr}
	root := newRootCommand(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(stderr, "duobox: %v\nRun '%s --help' for usage.\n", usage.err, usage.cmd)
		return app.KindBadInput.ExitCode()
	}
	err = app.AsDiskFull(err) // ENOSPC from any write names the full disk
	fmt.Fprintf(stderr, "duobox: %v\n", err)
	return app.KindOf(err).ExitCode()
}

// usageError marks flag and argument errors from cobra.
type usageError struct {
	cmd string
	err error
}

func (u *usageError) Error() string { return u.err.Error() }

func newRootCommand(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "duobox",
		Short: "Run GitLab Duo Self-Hosted on this workstation: model server, AI Gateway, GitLab config",
		Long: `DuoBox detects this machine's GPUs and Docker engine, recommends a GitLab-approved
model that fits, runs the model server (vLLM) and the GitLab AI Gateway as containers,
and prints the GitLab-side configuration.

With no command, DuoBox opens its desktop window.
` + exitStatusHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGUI(cmd.Context(), g)
		},
	}
	root.Version = duoboxVersion()
	root.SetVersionTemplate("duobox {{.Version}}\n")
	root.PersistentFlags().StringVar(&g.configPath, "config", "", "deployment config file (default: $DUOBOX_HOME/config/deployment.yaml or the XDG config dir)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c.CommandPath(), err: err}
	})
	for _, add := range commands {
		root.AddCommand(add(g))
	}
	markArgErrorsAsUsage(root)
	return root
}

// markArgErrorsAsUsage wraps every command's argument check so that wrong
// arguments exit with the bad-input status and a pointer to --help.
func markArgErrorsAsUsage(c *cobra.Command) {
	if rule := c.Args; rule != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := rule(cmd, args); err != nil {
				return &usageError{cmd: cmd.CommandPath(), err: err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markArgErrorsAsUsage(sub)
	}
}

// commands lists the subcommand constructors; each cmd_<verb>.go file adds
// its own in an init function, so commands can be added without touching main.
var commands []func(*globals) *cobra.Command

func register(newCommand func(*globals) *cobra.Command) { commands = append(commands, newCommand) }
