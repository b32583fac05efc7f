package engine

import (
	"fmt"
	"time"
)

// CrashLoopWindow and CrashLoopRestarts decide when a container is
// crash-looping: restarted by the engine at least CrashLoopRestarts times
// and its last exit no longer ago than CrashLoopWindow (a model killed every
// ~9 s and brought back by the restart policy is running most of the time,
// so "running" alone says nothing). One restart long ago is history.
const (
	CrashLoopWindow   = 5 * time.Minute
	CrashLoopRestarts = 2
)

// CrashLooping reports whether a container that the engine restarted
// restarts times, last exiting at finished, is crash-looping at now.
func CrashLooping(restarting bool, restarts int, finished, now time.Time) bool {
	if restarts < CrashLoopRestarts || finished.IsZero() {
		return false
	}
	return restarting || now.Sub(finished) <= CrashLoopWindow
}

// CrashLoopSummary says it in one phrase: "crash-looping: restarted 5 times,
// last exit code 137 (killed: out of memory) 8s ago".
func CrashLoopSummary(restarts, exitCode int, oomKilled bool, finished, now time.Time) string {
	oom := ""
	if oomKilled {
		oom = " (killed: out of memory)"
	}
	return fmt.Sprintf("crash-looping: restarted %d times, last exit code %d%s %s ago", restarts, exitCode, oom, now.Sub(finished).Round(time.Second))
}
