package docker

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"

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
