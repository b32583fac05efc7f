package logs

import (
	"bytes"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fullDisk takes room bytes, then fails as a full disk does: a short write
// and ENOSPC.
type fullDisk struct {
	bytes.Buffer
	room int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) <= d.room {
		d.room -= len(p)
		return d.Buffer.Write(p)
	}
	n := d.room
	d.room = 0
	d.Buffer.Write(p[:n])
	return n, syscall.ENOSPC
}

// TestRotatedCopyCutByAFullDiskSaysWhere (issue 16): 'logs -f' kept writing
// its saved copy into a full disk, which cut it mid-line unsaid. The first
// failed write ends the copy and says at which line; following goes on.
func TestRotatedCopyCutByAFullDiskSaysWhere(t *testing.T) {
	cp, err := NewRotatedCopy(t.TempDir(), "model", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	disk := &fullDisk{room: 100}
	cp.w = disk
	var notices []string
	cp.OnCut = func(file string, line int, err error) { notices = append(notices, CutNotice(file, line, err)) }
	p := NewPipeline(Options{})
	p.OnRecord(cp.Write)
	for i := 0; i < 10; i++ {
		p.Frame(Stdout, stamp(t0, "INFO Avg prompt throughput: 0.0 tokens/s\n"))
	}
	if got := len(p.Ring().Search(Query{})); got != 10 {
		t.Fatalf("following stopped: %d of 10 lines", got)
	}
	whole := strings.Count(disk.String(), "\n")
	if len(notices) != 1 || !strings.Contains(notices[0], "was cut at line "+strconv.Itoa(whole+1)+" (the disk holding ") ||
		!strings.Contains(notices[0], "is full)") || !strings.Contains(notices[0], cp.File()) {
		t.Fatalf("want one notice naming line %d and the full disk, got %q", whole+1, notices)
	}
	if disk.Len() != 100 {
		t.Errorf("wrote %d bytes after the disk filled", disk.Len()-100)
	}
}
