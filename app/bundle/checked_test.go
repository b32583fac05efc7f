package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The engine's load API reads an image archive from a checkedReader: a
// damaged archive must never reach its end there (the request is cut
// short instead), so that the engine cannot complete a load of it.
func TestCheckedReader_HoldsTheEndBackUntilTheChecksumMatches(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16+7) // a little over 3 MiB
	sum := sha256.Sum256(data)
	file := filepath.Join(t.TempDir(), "entries")
	prefix := []byte("header-bytes")
	if err := os.WriteFile(file, append(append([]byte(nil), prefix...), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e := entryAt{File: File{Name: "images/gateway.tar", Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, offset: int64(len(prefix))}

	got, err := io.ReadAll(newCheckedReader(f, e, io.Discard))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("an intact entry: %d of %d bytes, %v", len(got), len(data), err)
	}

	e.SHA256 = strings.Repeat("0", 64) // the manifest says other bytes
	got, err = io.ReadAll(newCheckedReader(f, e, io.Discard))
	if err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Fatalf("a damaged entry read to its end: %v", err)
	}
	if want := len(data) - holdBack; len(got) != want {
		t.Errorf("a damaged entry handed on %d bytes, want %d (all but the held-back end)", len(got), want)
	}
}
