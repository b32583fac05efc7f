package logs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)

func stamp(ts time.Time, s string) []byte {
	return []byte(ts.Format("2006-01-02T15:04:05.000000000Z07:00") + " " + s)
}

func texts(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Text
	}
	return out
}

func TestParse_LevelsAndFields(t *testing.T) {
	cases := []struct {
		name, line string
		level      Level
		json       bool
		msg        string
	}{
		{"vllm info", "INFO 11-27 03:14:49 [api_server.py:1024] Starting vLLM API server", LevelInfo, false, ""},
		{"vllm v1 prefix", "(APIServer pid=1) WARNING 11-27 03:14:49 [config.py:1] Casting torch.bfloat16 to torch.float16.", LevelWarning, false, ""},
		{"vllm error", "(EngineCore_0 pid=211) ERROR 11-27 03:14:49 [core.py:708] EngineCore failed to start.", LevelError, false, ""},
		{"uvicorn", "INFO:     Started server process [1]", LevelInfo, false, ""},
		{"structlog console", "2026-11-27T03:14:49.1Z [warning  ] Retrying the JWKS request", LevelWarning, false, ""},
		{"logfmt", "time=x level=error msg=boom", LevelError, false, ""},
		{"traceback", "Traceback (most recent call last):", LevelError, false, ""},
		{"exception", "torch.OutOfMemoryError: CUDA out of memory.", LevelError, false, ""},
		{"plain", "Loading safetensors checkpoint shards: 100% Completed | 4/4", LevelUnknown, false, ""},
		{"gateway json", `{"status_code": 200, "correlation_id": "01K6", "logger": "api.access", "level": "info", "message": "GET /monitoring/healthz 200", "duration_s": 0.0012}`, LevelInfo, true, "GET /monitoring/healthz 200"},
		{"json missing fields", `{"message": "hello"}`, LevelUnknown, true, "hello"},
		{"json wrong types", `{"level": 3, "message": {"nested": true}, "status_code": "500", "logger": ["x"]}`, LevelUnknown, true, `{"level": 3, "message": {"nested": true}, "status_code": "500", "logger": ["x"]}`},
		{"json exception without level", `{"exception_class": "TypeError", "message": "boom"}`, LevelError, true, "boom"},
		{"json 503", `{"status_code": 503, "message": "x"}`, LevelError, true, "x"},
		{"broken json", `{"level": "error", "message": "cut`, LevelError, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewPipeline(Options{})
			p.Frame(Stdout, stamp(t0, c.line+"\n"))
			recs := p.Ring().Search(Query{})
			if len(recs) != 1 {
				t.Fatalf("got %d records", len(recs))
			}
			r := recs[0]
			if r.Level != c.level {
				t.Errorf("level %s, want %s", r.Level, c.level)
			}
			if (r.Flags&FlagJSON != 0) != c.json {
				t.Errorf("json flag %v", r.Flags&FlagJSON != 0)
			}
			if c.msg != "" && r.Message() != c.msg {
				t.Errorf("message %q, want %q", r.Message(), c.msg)
			}
			if !r.Time.Equal(t0) {
				t.Errorf("time %v", r.Time)
			}
		})
	}
}

func TestParse_GatewayFields(t *testing.T) {
	p := NewPipeline(Options{})
	p.Frame(Stderr, stamp(t0, `{"status_code": 401, "correlation_id": "01K6B8", "logger": "api.access", "level": "warning", "message": "POST /v1/prompts 401", "duration_s": 0.25}`+"\n"))
	r := p.Ring().Search(Query{})[0]
	f := r.Fields
	if f == nil || f.Logger != "api.access" || f.CorrelationID != "01K6B8" || f.StatusCode != 401 || f.DurationS != 0.25 || r.Stream != Stderr {
		t.Fatalf("fields %+v stream %v", f, r.Stream)
	}
}

func TestParse_TracebackContinuationInheritsLevel(t *testing.T) {
	p := NewPipeline(Options{})
	for _, l := range []string{"Traceback (most recent call last):", `  File "/x.py", line 1, in <module>`, "ValueError: No available memory for the cache blocks.", "next"} {
		p.Frame(Stderr, stamp(t0, l+"\n"))
	}
	recs := p.Ring().Search(Query{})
	want := []Level{LevelError, LevelError, LevelError, LevelUnknown}
	for i, r := range recs {
		if r.Level != want[i] {
			t.Errorf("line %d %q: %s, want %s", i, r.Text, r.Level, want[i])
		}
	}
	if recs[2].Event == nil || recs[2].Event.Kind != "vllm_no_cache_memory" {
		t.Errorf("event %+v", recs[2].Event)
	}
}

func TestPipeline_InvalidUTF8BinaryAndColour(t *testing.T) {
	p := NewPipeline(Options{})
	p.Frame(Stdout, stamp(t0, "bad \xff\xfe bytes\n"))
	p.Frame(Stdout, stamp(t0, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\xff\n"))
	p.Frame(Stdout, stamp(t0, "\x1b[32mINFO\x1b[0m coloured\r\n"))
	recs := p.Ring().Search(Query{})
	if recs[0].Text != "bad \uFFFD\uFFFD bytes" || recs[0].Flags&FlagInvalidUTF8 == 0 || recs[0].Flags&FlagBinary != 0 {
		t.Errorf("invalid utf8: %q %b", recs[0].Text, recs[0].Flags)
	}
	if recs[1].Flags&FlagBinary == 0 {
		t.Errorf("binary not flagged: %b", recs[1].Flags)
	}
	if recs[2].Text != "INFO coloured" || recs[2].Level != LevelInfo {
		t.Errorf("colour: %q %s", recs[2].Text, recs[2].Level)
	}
}

// TestPipeline_LongLineInEnginePieces feeds a 1 MiB line the way the engine
// sends it: 16 KiB messages, each with its own timestamp, only the last one
// ending in a newline.
func TestPipeline_LongLineInEnginePieces(t *testing.T) {
	p := NewPipeline(Options{MaxLineBytes: 1000})
	line := strings.Repeat("é", 512<<10) // 1 MiB, two-byte runes: the cap cuts one in half
	for i := 0; i < len(line); i += 16 << 10 {
		piece := line[i:min(i+16<<10, len(line))]
		if i+16<<10 >= len(line) {
			piece += "\n"
		}
		p.Frame(Stdout, stamp(t0.Add(time.Duration(i)), piece))
	}
	p.Frame(Stdout, stamp(t0.Add(time.Hour), "after\n"))
	recs := p.Ring().Search(Query{})
	if len(recs) != 2 {
		t.Fatalf("%d records: %q", len(recs), texts(recs))
	}
	r := recs[0]
	if r.Flags&FlagTruncated == 0 || r.Omitted != len(line)-1000 || len(r.Text) != 1000 || r.Flags&FlagInvalidUTF8 != 0 {
		t.Errorf("flags %b omitted %d len %d", r.Flags, r.Omitted, len(r.Text))
	}
	if !r.Time.Equal(t0) || recs[1].Text != "after" {
		t.Errorf("time %v next %q", r.Time, recs[1].Text)
	}
	if !strings.Contains(string(r.AppendText(nil)), "…[cut: ") {
		t.Error("text form does not mark the cut")
	}
}

// TestPipeline_ResumeSkipsWhatWasTaken re-attaches with the engine's
// inclusive `since`, including several messages sharing one timestamp.
func TestPipeline_ResumeSkipsWhatWasTaken(t *testing.T) {
	p := NewPipeline(Options{})
	all := []struct {
		ts   time.Time
		text string
	}{{t0, "a"}, {t0.Add(1), "b"}, {t0.Add(2), "c1"}, {t0.Add(2), "c2"}, {t0.Add(2), "c3"}, {t0.Add(3), "d"}}
	for _, m := range all[:4] { // the stream breaks after c2
		p.Frame(Stdout, stamp(m.ts, m.text+"\n"))
	}
	since := p.Resume()
	if !since.Equal(t0.Add(2)) {
		t.Fatalf("resume at %v", since)
	}
	for _, m := range all { // the engine replays from since (and a careless engine from the start)
		p.Frame(Stdout, stamp(m.ts, m.text+"\n"))
	}
	got := strings.Join(texts(p.Ring().Search(Query{})), ",")
	if got != "a,b,c1,c2,c3,d" {
		t.Fatalf("got %s", got)
	}
	if p.Stats().Duplicates != 4 {
		t.Errorf("duplicates %d", p.Stats().Duplicates)
	}
}

func TestPipeline_RawTTYAndEnd(t *testing.T) {
	p := NewPipeline(Options{})
	stream := string(stamp(t0, "one\r\n")) + string(stamp(t0.Add(1), "two\r\n")) + string(stamp(t0.Add(2), "par"))
	for i := 0; i < len(stream); i += 7 { // arbitrary chunking
		p.Raw([]byte(stream[i:min(i+7, len(stream))]))
	}
	p.End()
	recs := p.Ring().Search(Query{})
	if got := strings.Join(texts(recs), ","); got != "one,two,par" {
		t.Fatalf("got %q", got)
	}
	if recs[2].Flags&FlagPartial == 0 || !recs[1].Time.Equal(t0.Add(1)) {
		t.Errorf("flags %b time %v", recs[2].Flags, recs[1].Time)
	}
}

func TestRing_BoundsAndSearch(t *testing.T) {
	for _, prealloc := range []bool{false, true} {
		t.Run(fmt.Sprintf("preallocate=%v", prealloc), func(t *testing.T) { ringBoundsAndSearch(t, prealloc) })
	}
}

func ringBoundsAndSearch(t *testing.T, prealloc bool) {
	p := NewPipeline(Options{Ring: RingOptions{MaxLines: 1000, Preallocate: prealloc}})
	for i := 0; i < 5000; i++ {
		lvl := "INFO"
		if i%10 == 0 {
			lvl = "ERROR"
		}
		s := Stdout
		if i%2 == 1 {
			s = Stderr
		}
		p.Frame(s, stamp(t0.Add(time.Duration(i)*time.Second), fmt.Sprintf("%s line %d\n", lvl, i)))
	}
	g := p.Ring()
	if g.Len() != 1000 || g.Evicted() != 4000 || g.LastSeq() != 5000 {
		t.Fatalf("len %d evicted %d last %d", g.Len(), g.Evicted(), g.LastSeq())
	}
	for seq, want := range map[uint64]string{4000: "", 4001: "ERROR line 4000", 5000: "INFO line 4999", 5001: ""} {
		r, ok := g.BySeq(seq)
		if ok != (want != "") || r.Text != want {
			t.Errorf("BySeq(%d) = %q, %v; want %q", seq, r.Text, ok, want)
		}
	}
	q, err := CompileQuery(`line 4\d{2}0$`, "error", "stdout")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(g.Search(q)); got != 100 { // 4000..4990 step 10
		t.Errorf("regexp+level+stream: %d", got)
	}
	if got := texts(g.Search(Query{Contains: "LINE 4999", IgnoreCase: true})); len(got) != 1 {
		t.Errorf("substring: %q", got)
	}
	if got := texts(g.Search(Query{Tail: 2, Stream: Stderr})); strings.Join(got, ",") != "INFO line 4997,INFO line 4999" {
		t.Errorf("tail: %q", got)
	}
	if got := len(g.Search(Query{Since: t0.Add(4990 * time.Second)})); got != 10 {
		t.Errorf("since: %d", got)
	}
	for _, bad := range [][3]string{{"(", "", ""}, {"", "loud", ""}, {"", "", "stdin"}} {
		if _, err := CompileQuery(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRing_ByteBudget(t *testing.T) {
	p := NewPipeline(Options{Ring: RingOptions{MaxLines: 1 << 20, MaxBytes: 1 << 20}})
	line := strings.Repeat("x", 10_000)
	for i := 0; i < 1000; i++ {
		p.Frame(Stdout, stamp(t0, line+"\n"))
	}
	if b := p.Ring().Bytes(); b > 1<<20 || p.Ring().Len() > 105 {
		t.Fatalf("bytes %d len %d", b, p.Ring().Len())
	}
}

func TestView_PauseFollow(t *testing.T) {
	p := NewPipeline(Options{Ring: RingOptions{MaxLines: 1000}})
	add := func(from, to int) {
		for i := from; i < to; i++ {
			p.Frame(Stdout, stamp(t0, fmt.Sprintf("WARNING %d\n", i)))
		}
	}
	add(0, 10)
	v := NewView(p.Ring(), Query{}, false)
	add(10, 15)
	if got, _ := v.Poll(0); len(got) != 5 || got[0].Text != "WARNING 10" {
		t.Fatalf("poll: %q", texts(got))
	}
	v.Pause()
	add(15, 20)
	if got, _ := v.Poll(0); got != nil {
		t.Fatalf("paused view returned %q", texts(got))
	}
	v.Resume()
	if got, _ := v.Poll(3); strings.Join(texts(got), ",") != "WARNING 15,WARNING 16,WARNING 17" {
		t.Fatalf("batched resume: %q", texts(got))
	}
	v.Pause()
	add(20, 2000) // overflows the ring while paused
	v.Resume()
	got, missed := v.Poll(0)
	if missed == 0 {
		t.Fatal("lines evicted while paused were not reported as missed")
	}
	if uint64(len(got))+missed != 2000-18 {
		t.Fatalf("got %d + missed %d", len(got), missed)
	}
}

func TestExportAndRotatedCopy_ReadBack(t *testing.T) {
	dir := t.TempDir()
	p := NewPipeline(Options{})
	cp, err := NewRotatedCopy(dir, "model", 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	p.OnRecord(cp.Write)
	p.Frame(Stdout, stamp(t0, "INFO 11-27 03:14:49 [gpu_worker.py:298] Available KV cache memory: 5.62 GiB\n"))
	p.Frame(Stderr, stamp(t0.Add(1), "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"))
	cp.Close()

	back := NewPipeline(Options{})
	f, err := os.Open(filepath.Join(dir, "model.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := back.Feed(f); err != nil {
		t.Fatal(err)
	}
	a, b := p.Ring().Search(Query{}), back.Ring().Search(Query{})
	if len(b) != 2 || a[1].Text != b[1].Text || !b[1].Time.Equal(a[1].Time) || b[1].Event == nil || b[1].Event.Kind != "cuda_out_of_memory" {
		t.Fatalf("read back %+v", b)
	}

	var out bytes.Buffer
	if err := Export(&out, a, true); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`"level":"error","message":"torch.OutOfMemoryError[^"]*","event":\{"kind":"cuda_out_of_memory"`).Match(out.Bytes()) {
		t.Errorf("json export: %s", out.String())
	}
	path := filepath.Join(dir, "export.txt")
	if err := ExportFile(path, a, false); err != nil {
		t.Fatal(err)
	}
	body, _ := os.ReadFile(path)
	if !strings.Contains(string(body), "fix: Choose a quantized variant") {
		t.Errorf("text export: %s", body)
	}
}

func FuzzPipelineFrame(f *testing.F) {
	f.Add([]byte("2026-11-27T03:00:00.000000000Z hello\n"), true)
	f.Add([]byte("\xff\x00{\"level\":"), false)
	f.Add([]byte("2026-11-27T03:00:00Z {\"message\": 1}\n\n\n"), true)
	f.Fuzz(func(t *testing.T, b []byte, framed bool) {
		p := NewPipeline(Options{MaxLineBytes: 64})
		if framed {
			p.Frame(Stderr, b)
		} else {
			p.Raw(b)
		}
		p.End()
		for _, r := range p.Ring().Search(Query{}) {
			if len(r.Text) > 64*3+3 {
				t.Fatalf("line longer than the cap: %d", len(r.Text))
			}
		}
	})
}
