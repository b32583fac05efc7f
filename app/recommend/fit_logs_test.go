package recommend

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/runtime/logs"
)

// fixtureLog is one published vLLM start (testdata/vllm-logs/README.md).
type fixtureLog struct {
	name     string
	header   map[string]string
	lines    []string
	model    catalog.Model
	variant  *catalog.Variant
	settings Settings
	total    uint64
}

func loadFixtureLogs(t *testing.T) []fixtureLog {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "vllm-logs", "*.log"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture logs: %v", err)
	}
	sort.Strings(files)
	c := cat(t)
	var out []fixtureLog
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fx := fixtureLog{name: filepath.Base(path), header: map[string]string{}}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		inHeader := true
		for sc.Scan() {
			line := sc.Text()
			if inHeader && strings.HasPrefix(line, "# ") {
				if k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), ": "); ok {
					fx.header[k] = strings.TrimSpace(v)
				}
				continue
			}
			inHeader = false
			if strings.TrimSpace(line) != "" {
				fx.lines = append(fx.lines, line)
			}
		}
		f.Close()
		h := fx.header
		for _, k := range []string{"source", "vllm", "model", "gpu_total_gib", "utilization", "tensor_parallel", "max_model_len", "outcome", "lines"} {
			if h[k] == "" {
				t.Fatalf("%s: header %q missing", fx.name, k)
			}
		}
		if !strings.HasPrefix(h["source"], "https://github.com/") {
			t.Fatalf("%s: source %q is not a GitHub address", fx.name, h["source"])
		}
		if h["model"] == "custom" {
			var a catalog.Architecture
			if err := yaml.Unmarshal([]byte(h["arch"]), &a); err != nil {
				t.Fatalf("%s: arch: %v", fx.name, err)
			}
			w, err := strconv.ParseUint(h["weight_bytes"], 10, 64)
			if err != nil {
				t.Fatalf("%s: weight_bytes: %v", fx.name, err)
			}
			fx.model = catalog.Model{ID: "custom", Architecture: a, WeightBytes: w}
		} else {
			m, ok := c.Find(h["model"])
			if !ok {
				t.Fatalf("%s: model %q not in the catalog", fx.name, h["model"])
			}
			fx.model = m
		}
		if repo := h["variant"]; repo != "" {
			for i := range fx.model.Quantized {
				if fx.model.Quantized[i].Repo == repo {
					fx.variant = &fx.model.Quantized[i]
				}
			}
			if fx.variant == nil {
				t.Fatalf("%s: variant %s not in the catalog", fx.name, repo)
			}
		}
		num := func(k string) float64 {
			if h[k] == "" {
				return 0
			}
			v, err := strconv.ParseFloat(h[k], 64)
			if err != nil {
				t.Fatalf("%s: %s: %v", fx.name, k, err)
			}
			return v
		}
		fx.total = uint64(num("gpu_total_gib") * GiB)
		fx.settings = Settings{Engine: h["vllm"], Utilization: num("utilization"), TensorParallel: int(num("tensor_parallel")),
			MaxModelLen: int(num("max_model_len")), MaxBatchedTokens: int(num("max_num_batched_tokens")), BlockSize: int(num("block_size"))}
		out = append(out, fx)
	}
	return out
}

func (fx fixtureLog) measured() Measured {
	rs := logs.Builtin()
	m := NewMeasured()
	for _, line := range fx.lines {
		if ev := rs.Recognise(line); ev != nil {
			m.Observe(ev.Kind, ev.Values)
		}
	}
	return m
}

// sameEngine says whether a fixture ran the vLLM version DuoBox runs (same minor release).
func sameEngine(v string) bool {
	a, err1 := ParseEngine(v)
	b, err2 := ParseEngine(DefaultEngine)
	return err1 == nil && err2 == nil && a.Major == b.Major && a.Minor == b.Minor
}

// TestPredictionMatchesPublishedStartups holds the memory model against
// published vLLM start-up logs: weights within ±3 % on every row, the KV pool
// within ±10 % on rows of the vLLM version DuoBox runs, and no verdict that
// the log contradicts. `go test -run PublishedStartups -v ./app/recommend`
// prints the table and the three figures.
func TestPredictionMatchesPublishedStartups(t *testing.T) {
	var weightsRows, weightsOK, kvRows, kvOK, kvOtherRows, kvOtherOK, verdictRows, verdictOK int
	var worstW, worstKV float64
	t.Logf("%-48s %-7s %22s %26s %s", "FIXTURE", "VLLM", "WEIGHTS pred/log GiB", "KV POOL pred/log GiB", "VERDICT pred/log")
	for _, fx := range loadFixtureLogs(t) {
		m := fx.measured()
		est := estimate(fx.model.Architecture, weightBytesOf(fx), fx.variant, fx.settings, fx.total)
		requested := uint64(fx.settings.Utilization * float64(fx.total))
		pool := est.KVPool(requested)
		fits := pool > 0 && uint64(pool) >= est.KVNeed
		predicted := map[bool]string{true: "started", false: "refused"}[fits]

		wCol, kvCol := "-", "-"
		if !math.IsNaN(m.Weights) {
			weightsRows++
			off := float64(est.Weights)/GiB/m.Weights - 1
			worstW = math.Max(worstW, math.Abs(off))
			wCol = fmt.Sprintf("%.2f/%.2f %+.1f%%", float64(est.Weights)/GiB, m.Weights, 100*off)
			if math.Abs(off) <= 0.03 {
				weightsOK++
			} else {
				t.Errorf("%s: weights %.2f GiB predicted, %.2f GiB loaded (%+.1f %%; bound ±3 %%)", fx.name, float64(est.Weights)/GiB, m.Weights, 100*off)
			}
		}
		if !math.IsNaN(m.KVPool) {
			off := (float64(pool)/GiB - m.KVPool) / math.Abs(m.KVPool)
			kvCol = fmt.Sprintf("%.2f/%.2f %+.1f%%", float64(pool)/GiB, m.KVPool, 100*off)
			if sameEngine(fx.header["vllm"]) {
				kvRows++
				worstKV = math.Max(worstKV, math.Abs(off))
				if math.Abs(off) <= 0.10 {
					kvOK++
				} else {
					t.Errorf("%s: KV pool %.2f GiB predicted, %.2f GiB printed (%+.1f %%; bound ±10 %%)", fx.name, float64(pool)/GiB, m.KVPool, 100*off)
				}
			} else if m.KVPool > 0 {
				kvOtherRows++
				if math.Abs(off) <= 0.10 {
					kvOtherOK++
				}
			}
		}
		verdictRows++
		if predicted == fx.header["outcome"] {
			verdictOK++
		} else {
			t.Errorf("%s: predicted %s, the log shows vLLM %s (pool %.2f GiB, one request needs %.2f GiB)", fx.name, predicted, fx.header["outcome"], float64(pool)/GiB, float64(est.KVNeed)/GiB)
		}
		if m.Refused != "" && fx.header["outcome"] != "refused" {
			t.Errorf("%s: the log has a refusal (%s) but the header says %s", fx.name, m.Refused, fx.header["outcome"])
		}
		t.Logf("%-48s %-7s %22s %26s %s/%s", fx.name, fx.header["vllm"], wCol, kvCol, predicted, fx.header["outcome"])
	}
	t.Logf("weights within ±3 %%: %d of %d rows (worst %.1f %%)", weightsOK, weightsRows, 100*worstW)
	t.Logf("KV pool within ±10 %% on vLLM %s rows: %d of %d (worst %.1f %%); on other versions' rows with a positive pool: %d of %d", DefaultEngine, kvOK, kvRows, 100*worstKV, kvOtherOK, kvOtherRows)
	t.Logf("verdicts the log agrees with: %d of %d", verdictOK, verdictRows)
	if weightsRows < 10 || verdictRows < 14 {
		t.Fatalf("too few fixture rows: %d with weights, %d in all", weightsRows, verdictRows)
	}
}

func weightBytesOf(fx fixtureLog) uint64 {
	if fx.variant != nil {
		return fx.variant.WeightBytes
	}
	return fx.model.WeightBytes
}
