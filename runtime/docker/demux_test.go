package docker

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/duobox/duobox/runtime/logs"
)

// recordingOutput keeps every frame pump hands on, in order.
type recordingOutput struct{ frames []string }

func (o *recordingOutput) Frame(s logs.Stream, msg []byte) error {
	o.frames = append(o.frames, string(rune('0'+int(s)))+":"+string(msg))
	return nil
}
func (o *recordingOutput) Raw(chunk []byte) error {
	o.frames = append(o.frames, "raw:"+string(chunk))
	return nil
}
func (o *recordingOutput) End() {}

func frame(stream byte, payload string) []byte {
	h := make([]byte, frameHeaderLen, frameHeaderLen+len(payload))
	h[0] = stream
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	return append(h, payload...)
}

func TestDemux_SplitsFramesByStreamLikeStdcopy(t *testing.T) {
	var in bytes.Buffer
	in.Write(frame(streamStdout, "one\n"))
	in.Write(frame(streamStderr, "two\n"))
	in.Write(frame(streamStdin, "three\n")) // stdcopy treats stdin as stdout
	in.Write(frame(streamStdout, ""))
	big := strings.Repeat("x", 3*batchBytes) // larger than a batch buffer
	in.Write(frame(streamStdout, big))
	var out recordingOutput
	if err := pump(io.NopCloser(&in), false, &out); err != nil {
		t.Fatal(err)
	}
	want := []string{"1:one\n", "2:two\n", "1:three\n", "1:", "1:" + big}
	if len(out.frames) != len(want) {
		t.Fatalf("got %d frames, want %d", len(out.frames), len(want))
	}
	for i := range want {
		if out.frames[i] != want[i] {
			t.Errorf("frame %d = %.40q, want %.40q", i, out.frames[i], want[i])
		}
	}
}

func TestDemux_StreamCutMidFrameEndsWithoutError(t *testing.T) {
	whole := frame(streamStdout, "kept\n")
	cut := frame(streamStderr, "lost line\n")
	for _, n := range []int{3, frameHeaderLen + 4} { // inside the header, inside the payload
		var out recordingOutput
		in := append(append([]byte{}, whole...), cut[:n]...)
		if err := pump(io.NopCloser(bytes.NewReader(in)), false, &out); err != nil {
			t.Fatalf("cut at %d: %v", n, err)
		}
		if len(out.frames) != 1 || out.frames[0] != "1:kept\n" {
			t.Fatalf("cut at %d: frames %q", n, out.frames)
		}
	}
}

func TestDemux_DaemonErrorAndUnknownStreamAreErrors(t *testing.T) {
	var out recordingOutput
	in := append(frame(streamStdout, "before\n"), frame(streamSystemError, "boom")...)
	err := pump(io.NopCloser(bytes.NewReader(in)), false, &out)
	if err == nil || !strings.Contains(err.Error(), "error from daemon in stream: boom") {
		t.Fatalf("daemon error frame: err = %v", err)
	}
	if len(out.frames) != 1 {
		t.Fatalf("frames before the error = %q", out.frames)
	}
	err = pump(io.NopCloser(bytes.NewReader(frame(9, "x"))), false, &recordingOutput{})
	if err == nil || !strings.Contains(err.Error(), "stream id 9") {
		t.Fatalf("unknown stream: err = %v", err)
	}
}

// gatedOutput blocks its first Frame until release is closed (a busy
// pipeline) and counts frames.
type gatedOutput struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (o *gatedOutput) Frame(logs.Stream, []byte) error {
	<-o.release
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
	return nil
}
func (o *gatedOutput) Raw([]byte) error { return nil }
func (o *gatedOutput) End()             {}

// A backlog read while the pipeline is busy reaches the pipeline without
// waiting for the container's next line: the window's Logs pane showed 17
// of 40 lines (one taken, batchQueue queued) until the container logged again.
func TestPump_backlogReachesAFollowerWithoutTheNextLine(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	const lines = 40
	go func() {
		var b bytes.Buffer
		for i := 0; i < lines; i++ {
			b.Write(frame(streamStdout, "line\n"))
		}
		w.Write(b.Bytes()) // then the container is quiet: the pipe stays open
	}()
	out := &gatedOutput{release: make(chan struct{})}
	go pump(r, false, out)
	time.Sleep(100 * time.Millisecond) // the reader is done with what there is
	close(out.release)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		out.mu.Lock()
		n := out.n
		out.mu.Unlock()
		if n == lines {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	out.mu.Lock()
	defer out.mu.Unlock()
	t.Fatalf("%d of %d lines reached the pipeline", out.n, lines)
}
