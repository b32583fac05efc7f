package logs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
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

// TestRotatedCopyResumesWhenSpaceComesBack (issue 16): the copy cut by a full
// disk is tried again (every Retry); once a write succeeds it resumes with a
// line saying how many lines were lost, the cut line ended, and says so.
func TestRotatedCopyResumesWhenSpaceComesBack(t *testing.T) {
	cp, err := NewRotatedCopy(t.TempDir(), "model", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	disk := &fullDisk{room: 100}
	cp.w, cp.Retry = disk, time.Nanosecond // every record retries
	var notices []string
	cp.OnCut = func(file string, line int, err error) { notices = append(notices, CutNotice(file, line, err)) }
	cp.OnResume = func(file string, line, lost int) { notices = append(notices, ResumeNotice(file, line, lost)) }
	p := NewPipeline(Options{})
	p.OnRecord(cp.Write)
	for i := 0; i < 10; i++ {
		p.Frame(Stdout, stamp(t0, fmt.Sprintf("INFO full %d\n", i)))
	}
	whole := strings.Count(disk.String(), "\n")
	if disk.Len() != 100 || whole == 0 || whole >= 10 {
		t.Fatalf("the disk took %d bytes, %d whole lines", disk.Len(), whole)
	}
	disk.room = 1 << 20 // space is back
	for i := 0; i < 3; i++ {
		p.Frame(Stdout, stamp(t0, fmt.Sprintf("INFO back %d\n", i)))
	}
	got := strings.Split(strings.TrimSuffix(disk.String(), "\n"), "\n")
	lost := 10 - whole
	// whole lines, the cut line (ended), the lost-lines line, 3 lines.
	if len(got) != whole+1+1+3 {
		t.Fatalf("%d lines in the copy, want %d:\n%s", len(got), whole+5, disk.String())
	}
	if want := fmt.Sprintf("duobox: %d lines were not saved here (the copy could not be written)", lost); !strings.HasSuffix(got[whole+1], want) {
		t.Errorf("line %d %q, want it to end %q", whole+2, got[whole+1], want)
	}
	for i, l := range got[whole+2:] {
		if !strings.HasSuffix(l, fmt.Sprintf("INFO back %d", i)) {
			t.Errorf("resumed line %d: %q", i, l)
		}
	}
	if len(notices) != 2 || !strings.Contains(notices[0], "resumes when there is space again") ||
		notices[1] != ResumeNotice(cp.File(), whole+2, lost) {
		t.Errorf("notices %q", notices)
	}
	// The copy reads back: every line but the cut one parses as docker logs -t.
	if !strings.HasPrefix(got[whole+1], "20") {
		t.Errorf("the lost-lines line has no timestamp: %q", got[whole+1])
	}
}
