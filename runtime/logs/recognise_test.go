package logs

import (
	"strings"
	"testing"
)

// TestRecognisers_DataFileExamples runs every example and counter-example
// written next to the patterns in recognisers.yaml.
func TestRecognisers_DataFileExamples(t *testing.T) {
	rs := Builtin()
	if len(rs.Rules()) < 15 {
		t.Fatalf("only %d rules loaded", len(rs.Rules()))
	}
	for _, rule := range rs.Rules() {
		if len(rule.Examples) == 0 {
			t.Errorf("rule %s has no example", rule.Kind)
		}
		for _, ex := range rule.Examples {
			t.Run(rule.Kind, func(t *testing.T) {
				ev := rs.Recognise(ex.Text)
				if ev == nil || ev.Kind != rule.Kind {
					t.Fatalf("%q: got %+v, want kind %s", ex.Text, ev, rule.Kind)
				}
				for k, want := range ex.Values {
					if got := ev.Values[k]; got != want {
						t.Errorf("value %s = %q, want %q", k, got, want)
					}
				}
				if strings.Contains(ev.Summary, "<no value>") || strings.Contains(ev.Fix, "<no value>") {
					t.Errorf("template left a hole: %q / %q", ev.Summary, ev.Fix)
				}
				if ev.Severity >= LevelWarning && ev.Fix == "" {
					t.Errorf("a %s event needs a fix", ev.Severity)
				}
			})
		}
		for _, text := range rule.Not {
			if ev := rs.Recognise(text); ev != nil && ev.Kind == rule.Kind {
				t.Errorf("%s fired on %q", rule.Kind, text)
			}
		}
	}
}

// TestRecognisers_ExactFactTexts pins the texts quoted in the facts files
// (models.md §3.5, gitlab-ai-gateway.md §8 and §13) independently of the data file.
func TestRecognisers_ExactFactTexts(t *testing.T) {
	rs := Builtin()
	cases := []struct {
		name, line, kind, fixHas string
	}{
		{"v1 kv cache", "ValueError: To serve at least one request with the model's max seq len (32768), (4.00 GiB KV cache is needed, which is larger than the available KV cache memory (2.10 GiB). Based on the available memory, the estimated maximum model length is 17200. Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", "vllm_kv_cache_too_small", "max_model_len to 17200"},
		{"v1 kv cache old spelling", "ValueError: To serve at least one request with the models's max seq len (32768), (4.00 GiB KV cache is needed, which is larger than the available KV cache memory (2.10 GiB). Based on the available memory, the estimated maximum model length is 17200.", "vllm_kv_cache_too_small", "quantized"},
		{"v0 kv cache", "ValueError: The model's max seq len (32768) is larger than the maximum number of tokens that can be stored in KV cache (20176). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine.", "vllm_kv_cache_too_small", "20176"},
		{"no cache blocks", "ValueError: No available memory for the cache blocks. Try increasing `gpu_memory_utilization` when initializing the engine.", "vllm_no_cache_memory", "gpu_memory_utilization"},
		{"free memory", "Free memory on device cuda:0 (20.5/79.19 GiB) on startup is less than desired GPU memory utilization (0.92, 72.86 GiB). Decrease GPU memory utilization or reduce GPU memory used by other processes.", "vllm_gpu_memory_taken", "nvidia-smi"},
		{"cuda oom", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB.", "cuda_out_of_memory", "quantized"},
		{"cuda oom old", "torch.cuda.OutOfMemoryError: CUDA out of memory.", "cuda_out_of_memory", "enforce-eager"},
		{"kv memory", "Available KV cache memory: 5.62 GiB", "vllm_kv_cache_memory", ""},
		{"kv tokens", "GPU KV cache size: 46,032 tokens", "vllm_kv_cache_tokens", ""},
		{"concurrency", "Maximum concurrency for 32,768 tokens per request: 1.40x", "vllm_max_concurrency", ""},
		{"tp", "Total number of attention heads (40) must be divisible by tensor parallel size (3).", "vllm_tensor_parallel_mismatch", "divides 40"},
		{"engine core", "RuntimeError: Engine core initialization failed. See root cause above.", "vllm_engine_init_failed", "first error above"},
		{"gated 401", "Access to model meta-llama/Llama-3.1-8B-Instruct is restricted. You must have access to it and be authenticated to access it. Please log in.", "hf_gated_no_token", "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct"},
		{"gated 403", "Access to model meta-llama/Llama-3.1-8B-Instruct is restricted and you are not in the authorized list. Visit https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct to ask for access.", "hf_gated_terms_not_accepted", "https://huggingface.co/meta-llama/Llama-3.1-8B-Instruct"},
		{"gated error class", "huggingface_hub.errors.GatedRepoError: 403 Client Error.", "hf_gated_repo", "token"},
		{"jwt signature", "jose.exceptions.JWTError: Signature verification failed", "gateway_jwt_signature", "restart the gateway"},
		{"jwks empty", "gitlab_cloud_connector.providers.CompositeProvider.CriticalAuthError: No keys founds in JWKS; are OIDC providers up?", "gateway_jwks_empty", "restart the gateway"},
		{"a1003", "Error code: A1003", "gateway_streaming_a1003", "AIGW_CUSTOM_MODELS__DISABLE_STREAMING=true"},
		{"platform", "The requested image's platform (linux/amd64) does not match the detected host platform (linux/arm64/v8) and no specific platform was requested", "image_platform_mismatch", "--platform linux/amd64"},
		{"docs db", "SqliteSearch: No database found for documentation searches.", "gateway_docs_index_missing", "docs.db"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := rs.Recognise(c.line)
			if ev == nil || ev.Kind != c.kind {
				t.Fatalf("got %+v, want %s", ev, c.kind)
			}
			if !strings.Contains(ev.Fix, c.fixHas) {
				t.Errorf("fix %q lacks %q", ev.Fix, c.fixHas)
			}
		})
	}
	for _, quiet := range []string{
		"INFO 11-27 03:14:49 [api_server.py:1024] Starting vLLM API server 0 on http://0.0.0.0:8000",
		`{"logger": "api.access", "level": "info", "message": "172.18.0.1:5000 - \"GET /monitoring/healthz HTTP/1.1\" 200", "status_code": 200}`,
		"",
	} {
		if ev := rs.Recognise(quiet); ev != nil {
			t.Errorf("%q fired %s", quiet, ev.Kind)
		}
	}
}

func TestParseRules_RejectsBadRules(t *testing.T) {
	for name, y := range map[string]string{
		"no hint":      "- {kind: a, severity: error, pattern: x, summary: s}",
		"bad regexp":   "- {kind: a, severity: error, hint: x, pattern: '(', summary: s}",
		"bad level":    "- {kind: a, severity: loud, hint: x, pattern: x, summary: s}",
		"bad template": "- {kind: a, severity: error, hint: x, pattern: x, summary: '{{.x'}",
		"unknown key":  "- {kind: a, severity: error, hint: x, pattern: x, summary: s, colour: red}",
	} {
		if _, err := ParseRules([]byte(y)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzRecognise(f *testing.F) {
	rs := Builtin()
	for _, r := range rs.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex.Text)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		if ev := rs.Recognise(line); ev != nil && (ev.Kind == "" || ev.Summary == "") {
			t.Fatalf("empty event %+v", ev)
		}
	})
}

// The byte-set prefilter must never hide a hint: a line holding a hint is
// always searched, and lines missing one of a hint's bytes are the only ones
// it skips.
func FuzzByteSetNeverHidesAHint(f *testing.F) {
	rs := Builtin()
	for _, r := range rs.Rules() {
		for _, ex := range r.Examples {
			f.Add(ex.Text, 0)
		}
		f.Add(strings.Join(r.Hint, " "), 3)
	}
	f.Fuzz(func(t *testing.T, line string, cut int) {
		set := bytesOf(line)
		for i := range rs.rules {
			r := &rs.rules[i]
			if r.Hint.in(line) && !r.mayContainHint(&set) {
				t.Fatalf("rule %s: the byte set hides hint in %q", r.Kind, line)
			}
		}
		if cut >= 0 && cut < len(line) && line[cut] < 128 && strings.IndexByte(line, line[cut]|0x80) < 0 {
			// dropping every copy of an ASCII byte (and of the one byte
			// folding onto it) rules out hints holding it
			c := line[cut]
			without := strings.ReplaceAll(line, string([]byte{c}), "")
			ws := bytesOf(without)
			probe := bytesOf(string([]byte{c}))
			if ws.holds(&probe) {
				t.Fatalf("byte %q still in the set of %q", c, without)
			}
		}
	})
}

func TestByteSetSkipsLinesWithoutTheHintsBytes(t *testing.T) {
	rs := Builtin()
	line := "INFO 11-27 03:14:49 [loggers.py:123] Engine 000: Avg prompt throughput: 0.0 tokens/s, Running: 0 reqs"
	set := bytesOf(line)
	searched := 0
	for i := range rs.rules {
		if rs.rules[i].mayContainHint(&set) {
			searched++
		}
	}
	if searched > len(rs.rules)/4 {
		t.Errorf("an ordinary vLLM line still searches %d of %d rules' hints", searched, len(rs.rules))
	}
	if ev := rs.Recognise("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB"); ev == nil || ev.Kind == "" {
		t.Errorf("CUDA OOM line not recognised through the prefilter: %+v", ev)
	}
}
