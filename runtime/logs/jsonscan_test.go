package logs

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzScanObject_AgreesWithEncodingJSON: wherever encoding/json decodes a
// line into an object, the fast scanner must accept it and read the same
// scalar fields (the last of duplicated keys, as encoding/json does).
func FuzzScanObject_AgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{"level": "info", "message": "a \"quoted\" \u00e9 word", "status_code": 200, "duration_s": 0.25}`,
		`{"message": {"nested": ["x", {"y": "}"}]}, "logger": "api.access"}`,
		`{"level": null, "correlation_id": "01K6", "extra": [1, 2, {"a": "b"}]}`,
		`{}`, ` { "a" : 1 } `, `{"a":true,"a":false}`, `{"level":"error"`, `[1]`, `{"x": tru}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if !utf8.ValidString(line) {
			return // the pipeline sanitises lines before parsing them
		}
		var want map[string]any
		if json.Unmarshal([]byte(line), &want) != nil || want == nil {
			return
		}
		got := map[string]string{}
		if !scanObject(line, func(k, raw string) { got[k] = scalar(raw) }) {
			t.Fatalf("scanner rejected %q", line)
		}
		for k, v := range want {
			var w string
			switch x := v.(type) {
			case string:
				w = x
			case bool:
				w = map[bool]string{true: "true", false: "false"}[x]
			default:
				continue // numbers keep their spelling; objects, arrays and null read as ""
			}
			if got[k] != w {
				t.Fatalf("%q: key %q = %q, encoding/json says %q", line, k, got[k], w)
			}
		}
	})
}

// FuzzUnescapeShort_AgreesWithEncodingJSON: whatever the fast decoder accepts,
// encoding/json decodes to the same text.
func FuzzUnescapeShort_AgreesWithEncodingJSON(f *testing.F) {
	for _, s := range []string{`172.18.0.1:5000 - \"GET /x HTTP/1.1\" 200`, `a\\b\/c\n\t`, `bad \x escape`, `\u00e9`, `end\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if !utf8.ValidString(body) {
			return // the pipeline sanitises lines before parsing them
		}
		got, ok := unescapeShort(body)
		if !ok {
			return
		}
		var want string
		if err := json.Unmarshal([]byte(`"`+body+`"`), &want); err != nil {
			t.Fatalf("fast decoder accepted %q, encoding/json refuses it: %v", body, err)
		}
		if got != want {
			t.Fatalf("%q: fast %q, encoding/json %q", body, got, want)
		}
	})
}
