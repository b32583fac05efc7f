package oneinstance

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestClaim_SecondLaunchBringsTheFirstForward(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ln, forwarded, err := Claim(dir)
	if err != nil || ln == nil || forwarded {
		t.Fatalf("first launch: listener %v, forwarded %v, %v", ln, forwarded, err)
	}
	shown := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { Serve(ln, func() { shown <- struct{}{} }); close(done) }()

	ln2, forwarded, err := Claim(dir)
	if err != nil || ln2 != nil || !forwarded {
		t.Fatalf("second launch: listener %v, forwarded %v, %v", ln2, forwarded, err)
	}
	select {
	case <-shown:
	case <-time.After(5 * time.Second):
		t.Fatal("the first window was not asked to come forward")
	}
	ln.Close()
	<-done

	// The first window has gone: the next launch becomes the window.
	ln3, forwarded, err := Claim(dir)
	if err != nil || ln3 == nil || forwarded {
		t.Fatalf("launch after the window closed: listener %v, forwarded %v, %v", ln3, forwarded, err)
	}
	ln3.Close()
}

func TestClaim_StaleSocketFromACrashIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SocketName), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ln, forwarded, err := Claim(dir)
	if err != nil || ln == nil || forwarded {
		t.Fatalf("stale socket: listener %v, forwarded %v, %v", ln, forwarded, err)
	}
	ln.Close()
}
