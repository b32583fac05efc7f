// Command loggen writes container logs in the shapes DuoBox must survive.
// It is built into a scratch image by package loggen, for tests and
// benchmarks only. Usage: loggen MODE [ARGS]
//
//	lines N          N lines: vLLM-style plain lines, gateway JSON lines, warnings
//	rate R SECONDS   the same lines at R lines/s for SECONDS, then "done N" (R*SECONDS+1 lines in all)
//	long SIZE COUNT  COUNT lines of SIZE bytes, then "after-long"
//	garbage          binary bytes, invalid UTF-8, JSON with missing fields, known failures
//	count N PERIOD CODE  "run=R seq=I" lines every PERIOD, then exit with CODE
//	oom              allocate memory until the kernel kills the process
//	sleep            do nothing, forever
package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loggen lines|long|garbage|count|oom|sleep ...")
		os.Exit(2)
	}
	arg := func(i int, def int) int {
		if len(os.Args) > i {
			if n, err := strconv.Atoi(os.Args[i]); err == nil {
				return n
			}
		}
		return def
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	switch os.Args[1] {
	case "lines":
		n := arg(2, 1000)
		for i := 1; i <= n; i++ {
			line(w, i)
		}
		fmt.Fprintf(w, "done %d\n", n)
	case "rate":
		rate, seconds := arg(2, 5000), arg(3, 60)
		n, start := rate*seconds, time.Now()
		for i := 1; i <= n; {
			due := min(n, int(time.Since(start).Seconds()*float64(rate)))
			for ; i <= due; i++ {
				line(w, i)
			}
			w.Flush()
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Fprintf(w, "done %d\n", n)
	case "long":
		size, count := arg(2, 10<<20), arg(3, 1)
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; i < count; i++ {
			fmt.Fprintf(w, "long %d ", i)
			for left := size; left > 0; left -= len(chunk) {
				w.WriteString(chunk[:min(left, len(chunk))])
			}
			w.WriteString("\n")
		}
		w.WriteString("after-long\n")
	case "garbage":
		w.Write([]byte("binary: \x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\xff\xfe\n"))
		w.Write([]byte("invalid utf8: caf\xe9 \xc3\x28 ok\n"))
		w.WriteString(`{"message": "json without level"}` + "\n")
		w.WriteString(`{"level": "error"}` + "\n")
		w.WriteString(`{"level": "warning", "message": ` + "\n")
		w.WriteString("ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.\n")
		w.WriteString("jose.exceptions.JWTError: Signature verification failed\n")
		fmt.Fprint(os.Stderr, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
		w.WriteString("no newline at the end")
	case "count":
		n, code := arg(2, 100), arg(4, 0)
		period, _ := time.ParseDuration(os.Args[3])
		run := time.Now().UnixNano()
		for i := 1; i <= n; i++ {
			fmt.Fprintf(w, "run=%d seq=%d\n", run, i)
			w.Flush()
			time.Sleep(period)
		}
		w.Flush()
		os.Exit(code)
	case "oom":
		fmt.Fprintln(w, "allocating until killed")
		w.Flush()
		var keep [][]byte
		for {
			b := make([]byte, 4<<20)
			for i := range b {
				b[i] = byte(i)
			}
			keep = append(keep, b)
		}
	case "sleep":
		fmt.Fprintln(w, "sleeping")
		w.Flush()
		select {}
	default:
		fmt.Fprintf(os.Stderr, "loggen: unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}

// line writes line i of the mixed vLLM / gateway shapes.
func line(w *bufio.Writer, i int) {
	switch i % 4 {
	case 0:
		fmt.Fprintf(w, `{"status_code": 200, "correlation_id": "01K6B8V2NG%08d", "logger": "api.access", "level": "info", "type": "mlops", "stage": "main", "timestamp": "2026-11-27T03:00:00.000000Z", "message": "172.18.0.1:5000 - \"GET /monitoring/healthz HTTP/1.1\" 200", "duration_s": 0.0012}`+"\n", i)
	case 1:
		fmt.Fprintf(w, "INFO 11-27 03:14:49 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, Running: 0 reqs, line %d\n", i)
	case 2:
		fmt.Fprintf(w, "(APIServer pid=1) INFO 11-27 03:14:49 [api_server.py:1024] GET /v1/models 200 OK line %d\n", i)
	case 3:
		fmt.Fprintf(w, "WARNING 11-27 03:14:49 [config.py:1] slow request line %d\n", i)
	}
}
