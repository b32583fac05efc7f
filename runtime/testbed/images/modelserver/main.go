// Command modelserver is DuoBox's test stand-in for vllm/vllm-openai: a
// static program, run in a scratch image, that speaks the OpenAI-compatible
// surface vLLM serves (/health, /v1/models, /v1/completions,
// /v1/chat/completions) and prints vLLM-like log lines. It exists for tests
// only and never ships.
//
// It takes vLLM's flags (--model, --served-model-name, --port, --max-model-len,
// --gpu-memory-utilization, …) and ignores those it does not know. Switches,
// as environment variables:
//
//	DUOBOX_FAKE_CRASH_AT_START=CODE   print an engine error and exit with CODE at once
//	DUOBOX_FAKE_HANG=1                never listen (start-up hangs)
//	DUOBOX_FAKE_NEVER_HEALTHY=1       /health answers 503 forever
//	DUOBOX_FAKE_STARTUP_DELAY=2s      wait before listening
//	DUOBOX_FAKE_LOG_FAST=N            print N log lines per second
//	DUOBOX_FAKE_EXIT_AFTER=5s:CODE    exit with CODE after the delay
//	DUOBOX_FAKE_DEVICE=cuda           play vllm/vllm-openai (needs a GPU); default: vLLM's CPU image
//
// Like the real server it refuses argument combinations vLLM refuses (tool
// choice without a parser, unknown parser, mistral load/config format without
// the files, wrong device) and tool calls a server without auto tool choice
// cannot take; see rules.go.
//
// "modelserver healthcheck [port]" is the image's health command: it exits 0
// when /health answers 200.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/duobox/duobox/runtime/testbed/images/fake"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		port := "8000"
		if len(os.Args) > 2 {
			port = os.Args[2]
		}
		os.Exit(fake.HealthCheck("http://127.0.0.1:" + port + "/health"))
	}
	flags := parseFlags(os.Args[1:])
	model := flags["model"]
	if model == "" && len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		model = os.Args[1] // "vllm serve MODEL" style
	}
	served := flags["served-model-name"]
	if served == "" {
		served = model
	}
	port := flags["port"]
	if port == "" {
		port = "8000"
	}
	maxLen, _ := strconv.Atoi(flags["max-model-len"])
	if maxLen == 0 {
		maxLen = 4096
	}
	if msg := startRefusal(flags, model, os.Getenv); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
	tools := toolSupportOf(flags, model)
	sw := fake.ReadSwitches()
	logf := func(level, format string, args ...any) {
		fmt.Printf("%s %s [api_server.py:1000] %s\n", level, time.Now().Format("01-02 15:04:05"), fmt.Sprintf(format, args...))
	}
	logf("INFO", "vLLM API server version 0.18.1 (DuoBox test stand-in %s)", os.Getenv("DUOBOX_FAKE_VERSION"))
	logf("INFO", "args: model=%s served_model_name=%s max_model_len=%d gpu_memory_utilization=%s", model, served, maxLen, flags["gpu-memory-utilization"])
	if sw.CrashCode != 0 {
		fmt.Fprintf(os.Stderr, "ValueError: To serve at least one request with the model's max seq len (%d), (4.00 GiB KV cache is needed, which is larger than the available KV cache memory (2.10 GiB). Based on the available memory, the estimated maximum model length is 17200. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.\n", maxLen)
		fmt.Fprintln(os.Stderr, "RuntimeError: Engine core initialization failed. See root cause above.")
		os.Exit(sw.CrashCode)
	}
	sw.Background(func(i int) { logf("INFO", "Avg prompt throughput: 0.0 tokens/s, line %d", i) })
	if sw.Hang {
		logf("INFO", "Loading model weights took forever…")
		fake.Forever()
	}
	time.Sleep(sw.StartupDelay)
	logf("INFO", "Available KV cache memory: 5.62 GiB")
	logf("INFO", "GPU KV cache size: 46,032 tokens")
	logf("INFO", "Maximum concurrency for %d tokens per request: 1.40x", maxLen)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if sw.NeverHealthy {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		fake.WriteJSON(w, 200, map[string]any{"object": "list", "data": []any{map[string]any{
			"id": served, "object": "model", "owned_by": "vllm", "root": model, "max_model_len": maxLen}}})
	})
	checkModel := func(w http.ResponseWriter, got string) bool {
		if got != served {
			fake.WriteJSON(w, 404, map[string]any{"object": "error", "type": "NotFoundError", "code": 404,
				"message": fmt.Sprintf("The model `%s` does not exist.", got)})
			return false
		}
		return true
	}
	mux.HandleFunc("POST /v1/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model  string `json:"model"`
			Prompt any    `json:"prompt"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fake.WriteJSON(w, 400, map[string]any{"object": "error", "message": err.Error()})
			return
		}
		if !checkModel(w, req.Model) {
			return
		}
		logf("INFO", "Received request cmpl-1: prompt: %q", fmt.Sprint(req.Prompt))
		fake.WriteJSON(w, 200, map[string]any{"id": "cmpl-1", "object": "text_completion", "created": time.Now().Unix(), "model": served,
			"choices": []any{map[string]any{"index": 0, "text": " return 42", "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model    string `json:"model"`
			Messages []struct {
				Role    string `json:"role"`
				Content any    `json:"content"`
			} `json:"messages"`
			Tools      []any `json:"tools"`
			ToolChoice any   `json:"tool_choice"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			fake.WriteJSON(w, 400, map[string]any{"object": "error", "message": err.Error()})
			return
		}
		if !checkModel(w, req.Model) {
			return
		}
		if msg := toolChoiceRefusal(tools, req.Tools, req.ToolChoice); msg != "" {
			fake.WriteJSON(w, http.StatusBadRequest, errorBody(msg, http.StatusBadRequest))
			return
		}
		logf("INFO", "Received request chatcmpl-1: %d messages", len(req.Messages))
		fake.WriteJSON(w, 200, map[string]any{"id": "chatcmpl-1", "object": "chat.completion", "created": time.Now().Unix(), "model": served,
			"choices": []any{map[string]any{"index": 0, "message": map[string]string{"role": "assistant", "content": "Hello from " + served},
				"finish_reason": "stop"}},
			"usage": map[string]int{"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
	})
	logf("INFO", "Starting vLLM API server 0 on http://0.0.0.0:%s", port)
	sw.ExitLater()
	var lameDuck atomic.Bool
	logged := fake.AccessLog(mux, func(r *http.Request, status int, d time.Duration) {
		logf("INFO", "%s - \"%s %s HTTP/1.1\" %d OK", r.RemoteAddr, r.Method, r.URL.Path, status)
	})
	srv := &http.Server{Addr: ":" + port, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lameDuck.Load() {
			w.Header().Set("Connection", "close") // the client opens its next connection elsewhere
		}
		logged.ServeHTTP(w, r)
	})}
	// SIGTERM (docker stop) shuts down gracefully: first a lame-duck second
	// in which every answer closes its keep-alive connection (a client
	// reusing one learns it from the answer instead of racing the close),
	// then no new connections, idle ones closed, requests in flight
	// answered, exit. (vLLM's uvicorn server skips the lame-duck second: it
	// closes idle keep-alive connections at once; see the note in
	// app/upgrade/beside.go.)
	stopped := make(chan struct{})
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		logf("INFO", "Shutting down")
		lameDuck.Store(true)
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		logf("INFO", "Finished server process")
		close(stopped)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "ERROR", err)
		os.Exit(1)
	}
	<-stopped
}

// parseFlags reads --name value and --name=value pairs (also --name_with_underscores).
func parseFlags(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		name = strings.ReplaceAll(name, "_", "-")
		if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			val = args[i+1]
			i++
		}
		out[name] = val
	}
	return out
}
