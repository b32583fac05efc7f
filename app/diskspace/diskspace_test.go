package diskspace

import (
	"path/filepath"
	"testing"
)

func TestFreeWalksUpToAnExistingParent(t *testing.T) {
	dir := t.TempDir()
	total, free, err := Usage(dir)
	if err != nil || total == 0 || free > total {
		t.Fatalf("Usage(%s) = %d, %d, %v", dir, total, free, err)
	}
	got, err := Free(filepath.Join(dir, "not", "yet"))
	if err != nil || got == 0 {
		t.Fatalf("Free of a missing folder under %s = %d, %v; want its parent's free space", dir, got, err)
	}
	if _, _, err := Usage(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("Usage of a missing path: want an error (it does not walk up)")
	}
}
