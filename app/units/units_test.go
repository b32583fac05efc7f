package units

import "testing"

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1.0 kB", 1500: "1.5 kB", 45_000_000: "45.0 MB",
		120_300_000: "120.3 MB", 1_500_000_000: "1.5 GB", 2_000_000_000_000: "2.0 TB",
	} {
		if got := HumanBytes(n); got != want {
			t.Errorf("HumanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestGiB(t *testing.T) {
	if got := GiB(24 << 30); got != "24.0 GiB" {
		t.Errorf("GiB(24 GiB) = %q", got)
	}
	if got := GiB(1536 << 20); got != "1.5 GiB" {
		t.Errorf("GiB(1.5 GiB) = %q", got)
	}
}
