// Package fake holds what the test-bed stand-in images share: the
// DUOBOX_FAKE_* switches, the health-check client, JSON replies and an access
// logging wrapper. Test-only; it never ships.
package fake

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// Switches are the behaviours a test can turn on through the environment.
type Switches struct {
	CrashCode    int           // DUOBOX_FAKE_CRASH_AT_START: exit at once with this code
	Hang         bool          // DUOBOX_FAKE_HANG: never listen
	NeverHealthy bool          // DUOBOX_FAKE_NEVER_HEALTHY: health answers 503
	StartupDelay time.Duration // DUOBOX_FAKE_STARTUP_DELAY
	LogFast      int           // DUOBOX_FAKE_LOG_FAST: lines per second
	ExitAfter    time.Duration // DUOBOX_FAKE_EXIT_AFTER=DURATION:CODE
	ExitCode     int
	// DUOBOX_FAKE_EXIT_ONCE=DURATION:CODE exits like EXIT_AFTER only in the
	// container's first run (a marker in its writable layer survives the
	// engine's restart): an OOM kill that the restart policy recovers from.
	ExitOnce     time.Duration
	ExitOnceCode int
}

// ReadSwitches reads the DUOBOX_FAKE_* variables.
func ReadSwitches() Switches {
	var s Switches
	s.CrashCode, _ = strconv.Atoi(os.Getenv("DUOBOX_FAKE_CRASH_AT_START"))
	s.Hang = os.Getenv("DUOBOX_FAKE_HANG") != ""
	s.NeverHealthy = os.Getenv("DUOBOX_FAKE_NEVER_HEALTHY") != ""
	s.StartupDelay, _ = time.ParseDuration(os.Getenv("DUOBOX_FAKE_STARTUP_DELAY"))
	s.LogFast, _ = strconv.Atoi(os.Getenv("DUOBOX_FAKE_LOG_FAST"))
	if d, code, ok := strings.Cut(os.Getenv("DUOBOX_FAKE_EXIT_AFTER"), ":"); ok {
		s.ExitAfter, _ = time.ParseDuration(d)
		s.ExitCode, _ = strconv.Atoi(code)
	}
	if d, code, ok := strings.Cut(os.Getenv("DUOBOX_FAKE_EXIT_ONCE"), ":"); ok {
		s.ExitOnce, _ = time.ParseDuration(d)
		s.ExitOnceCode, _ = strconv.Atoi(code)
	}
	return s
}

// Background starts the fast logger when asked; line prints line i.
func (s Switches) Background(line func(i int)) {
	if s.LogFast <= 0 {
		return
	}
	go func() {
		t := time.NewTicker(time.Second / time.Duration(s.LogFast))
		for i := 0; ; i++ {
			<-t.C
			line(i)
		}
	}()
}

// ExitLater arms DUOBOX_FAKE_EXIT_AFTER.
func (s Switches) ExitLater() {
	const marker = "/.duobox-fake-exited-once"
	if _, err := os.Stat(marker); s.ExitOnce > 0 && err != nil {
		go func() {
			time.Sleep(s.ExitOnce)
			os.WriteFile(marker, nil, 0o644)
			os.Exit(s.ExitOnceCode)
		}()
	}
	if s.ExitAfter <= 0 {
		return
	}
	go func() {
		time.Sleep(s.ExitAfter)
		os.Exit(s.ExitCode)
	}()
}

// HealthCheck GETs url and returns 0 on 200, 1 otherwise (a HEALTHCHECK command).
func HealthCheck(url string) int {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

// WriteJSON writes v as a JSON reply with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// AccessLog wraps h and reports each request after it is served.
func AccessLog(h http.Handler, log func(r *http.Request, status int, d time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		start := time.Now()
		h.ServeHTTP(rec, r)
		log(r, rec.status, time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Forever blocks without end (select{} alone would be reported as a deadlock
// when no other goroutine runs).
func Forever() {
	for {
		time.Sleep(time.Hour)
	}
}
