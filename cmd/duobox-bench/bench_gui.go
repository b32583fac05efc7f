package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

func init() {
	registerBench("gui-first-frame", benchGUIFirstFrame)
	registerBench("gui-idle-rss", benchGUIIdleRSS)
}

// Both GUI benchmarks compare DuoBox's window with cmd/duobox-bench/minimalwindow
// (one Fyne window with a label and a button, same Fyne version, build tags and
// window size), built in the same run, under the same Xvfb server.
//
// gui-first-frame: wall time from starting the process until the X root window
// shows more than one colour, i.e. the app's first frame has been painted
// (Xvfb's root is uniformly black and there is no window manager). The root
// is polled with ImageMagick's `import -window root -format %k info:` (unique
// colours); the poll itself costs a few tens of milliseconds, the same for
// both programs. Median of 5 alternating runs each; DuoBox starts with an
// empty DUOBOX_HOME (the first-run screen, detection running).
//
// gui-idle-rss: resident memory (VmRSS) after 60 s idle, DuoBox running against
// a test-bed stack (scripts/testbedstack: the stand-in model server and gateway
// from runtime/testbed, brought up with 'duobox up') with the Logs screen
// following both containers and then the Dashboard shown (re-checking every
// 10 s), against the minimal window idle for the same 60 s in the same X server.

const guiBuildCFlags = "-O2 -Wno-deprecated-declarations" // the Makefile's, so the cgo build cache is reused

var minimalOnce struct {
	sync.Once
	path string
	err  error
}

// minimalWindow builds the reference program once per run.
func minimalWindow(ctx context.Context, env *benchEnv) (string, error) {
	minimalOnce.Do(func() {
		out := filepath.Join(env.tmp, "minimalwindow")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "migrated_fynedo", "-o", out, "./cmd/duobox-bench/minimalwindow")
		cmd.Env = os.Environ()
		if os.Getenv("CGO_CFLAGS") == "" {
			cmd.Env = append(cmd.Env, "CGO_CFLAGS="+guiBuildCFlags)
		}
		if b, err := cmd.CombinedOutput(); err != nil {
			minimalOnce.err = fmt.Errorf("build the minimal window: %v: %s", err, b)
			return
		}
		minimalOnce.path = out
	})
	return minimalOnce.path, minimalOnce.err
}

// xvfb is one virtual X server.
type xvfb struct {
	display string
	cmd     *exec.Cmd
}

func startXvfb(ctx context.Context) (*xvfb, error) {
	for n := 80 + os.Getpid()%10; n < 120; n++ {
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/tmp/.X%d-lock", n)); err == nil {
			continue
		}
		cmd := exec.CommandContext(ctx, "Xvfb", fmt.Sprintf(":%d", n), "-screen", "0", "1280x800x24", "-nolisten", "tcp")
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start Xvfb (apt-get install xvfb): %w", err)
		}
		x := &xvfb{display: fmt.Sprintf(":%d", n), cmd: cmd}
		for range 100 {
			if _, err := os.Stat(fmt.Sprintf("/tmp/.X11-unix/X%d", n)); err == nil {
				return x, nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		x.stop()
		return nil, fmt.Errorf("Xvfb %s did not start", x.display)
	}
	return nil, errors.New("no free X display number")
}

func (x *xvfb) stop() {
	_ = x.cmd.Process.Signal(syscall.SIGTERM)
	_ = x.cmd.Wait()
}

// colours counts the root window's unique colours (1: nothing painted).
func (x *xvfb) colours(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "import", "-display", x.display, "-window", "root", "-format", "%k", "info:").Output()
	if err != nil {
		return 0, fmt.Errorf("import (apt-get install imagemagick): %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

// guiProcess starts a GUI program on x with its own config and cache
// folders under home (DuoBox puts Fyne's and mesa's there itself when
// DUOBOX_HOME is set; the reference gets the same, so neither starts with the
// other's warm caches) and extra environment variables (NAME=value).
func guiProcess(ctx context.Context, x *xvfb, bin, home string, extraEnv ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(os.Environ(), "DISPLAY="+x.display, "LANG=en_US.UTF-8", "DUOBOX_HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
	cmd.Env = append(cmd.Env, extraEnv...)
	return cmd, cmd.Start()
}

func stopProcess(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// firstFrame starts bin and returns the seconds until its first frame shows.
func firstFrame(ctx context.Context, x *xvfb, bin, home string) (float64, error) {
	if n, err := x.colours(ctx); err != nil || n != 1 {
		return 0, fmt.Errorf("the X screen is not blank before the run (%d colours, %v)", n, err)
	}
	start := time.Now()
	cmd, err := guiProcess(ctx, x, bin, home)
	if err != nil {
		return 0, err
	}
	defer stopProcess(cmd)
	for time.Since(start) < 60*time.Second {
		n, err := x.colours(ctx)
		if err != nil {
			return 0, err
		}
		if n > 1 {
			return time.Since(start).Seconds(), nil
		}
	}
	return 0, fmt.Errorf("%s showed no frame within 60 s", filepath.Base(bin))
}

func benchGUIFirstFrame(ctx context.Context, env *benchEnv) (result, error) {
	minimal, err := minimalWindow(ctx, env)
	if err != nil {
		return result{}, err
	}
	x, err := startXvfb(ctx)
	if err != nil {
		return result{}, err
	}
	defer x.stop()
	var duo, ref []float64
	for i := range 5 {
		for _, p := range []struct {
			bin string
			out *[]float64
		}{{env.duobox, &duo}, {minimal, &ref}} {
			home := filepath.Join(env.tmp, fmt.Sprintf("ff-%d-%s", i, filepath.Base(p.bin)))
			s, err := firstFrame(ctx, x, p.bin, home)
			if err != nil {
				return result{}, err
			}
			*p.out = append(*p.out, s)
			time.Sleep(300 * time.Millisecond) // let the screen clear
		}
	}
	return result{value: median(duo), reference: median(ref), unit: "s", goal: 1.5, lowerIsBetter: true,
		note: fmt.Sprintf("median of 5; duobox %v, minimal Fyne window %v", roundAll(duo), roundAll(ref))}, nil
}

// Sidebar positions of the window's tabs (Xvfb, no window manager: the window
// sits at 0,0; each tab is an icon over its name).
const (
	sidebarX     = 56
	sidebarTop   = 45
	sidebarPitch = 83
)

func tabIndex(name string) int {
	for i, n := range []string{"This machine", "Choose model", "Configure", "Deploy", "Dashboard", "Logs", "Upgrade", "GitLab", "Settings"} {
		if n == name {
			return i
		}
	}
	return 0
}

func clickTab(ctx context.Context, x *xvfb, name string) error {
	y := sidebarTop + tabIndex(name)*sidebarPitch
	cmd := exec.CommandContext(ctx, "xdotool", "mousemove", strconv.Itoa(sidebarX), strconv.Itoa(y), "click", "1")
	cmd.Env = append(os.Environ(), "DISPLAY="+x.display)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("xdotool (apt-get install xdotool): %v: %s", err, out)
	}
	return nil
}

// testbedStack runs scripts/testbedstack until stop is called.
func testbedStack(ctx context.Context, env *benchEnv, home string) (stop func(), err error) {
	bin := filepath.Join(env.tmp, "testbedstack")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./scripts/testbedstack").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build scripts/testbedstack: %v: %s", err, out)
	}
	cmd := exec.CommandContext(ctx, bin, "-home", home, "-duobox", env.duobox)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	stopStack := func() { stopProcess(cmd) }
	select {
	case ok := <-ready:
		if !ok {
			stopStack()
			return nil, fmt.Errorf("test-bed stack did not come up: %s", stderr.String())
		}
	case <-time.After(5 * time.Minute):
		stopStack()
		return nil, fmt.Errorf("test-bed stack not ready after 5 minutes: %s", stderr.String())
	}
	return stopStack, nil
}

// openOnTab makes the window that guiProcess starts with home open on tab
// (the last tab in DuoBox's window settings file under DUOBOX_HOME).
func openOnTab(home, tab string) error {
	settings := filepath.Join(home, "config", "window-settings.json") // ui.SettingsFile under DUOBOX_HOME
	if err := os.MkdirAll(filepath.Dir(settings), 0o700); err != nil {
		return err
	}
	return os.WriteFile(settings, []byte(`{"last-tab":"`+tab+`"}`), 0o600)
}

func vmRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			return kb / 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

func benchGUIIdleRSS(ctx context.Context, env *benchEnv) (result, error) {
	minimal, err := minimalWindow(ctx, env)
	if err != nil {
		return result{}, err
	}
	home := filepath.Join(env.tmp, "rss-duobox")
	stopStack, err := testbedStack(ctx, env, home)
	if err != nil {
		return result{}, err
	}
	defer stopStack()
	// Open on Logs (which starts following both containers), then show the Dashboard.
	if err := openOnTab(home, "Logs"); err != nil {
		return result{}, err
	}
	x, err := startXvfb(ctx)
	if err != nil {
		return result{}, err
	}
	defer x.stop()
	duo, err := guiProcess(ctx, x, env.duobox, home)
	if err != nil {
		return result{}, err
	}
	defer stopProcess(duo)
	ref, err := guiProcess(ctx, x, minimal, filepath.Join(env.tmp, "rss-minimal"))
	if err != nil {
		return result{}, err
	}
	defer stopProcess(ref)
	time.Sleep(5 * time.Second)
	if err := clickTab(ctx, x, "Dashboard"); err != nil {
		return result{}, err
	}
	select {
	case <-ctx.Done():
		return result{}, ctx.Err()
	case <-time.After(60 * time.Second):
	}
	d, err := vmRSS(duo.Process.Pid)
	if err != nil {
		return result{}, fmt.Errorf("duobox exited early: %w", err)
	}
	m, err := vmRSS(ref.Process.Pid)
	if err != nil {
		return result{}, fmt.Errorf("minimal window exited early: %w", err)
	}
	return result{value: d, reference: m, unit: "MiB", goal: 2, lowerIsBetter: true,
		note: "VmRSS after 60 s idle; duobox with Logs following both test-bed containers and the Dashboard shown"}, nil
}

func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(int(x*1000)) / 1000
	}
	return out
}
