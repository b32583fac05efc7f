package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestInWindowWords(t *testing.T) {
	for in, want := range map[string]string{
		"run 'duobox up'":                                                                    "press Deploy",
		"run 'duobox up' to create it":                                                       "press Deploy to create it",
		"read its log: 'duobox logs model --level warning'":                                  "open the Logs screen",
		"run 'duobox gitlab connect --url URL --token-stdin' first":                          "paste a GitLab token on the GitLab screen and press Connect first",
		"the model may still be loading; otherwise read 'duobox logs model --level warning'": "the model may still be loading; otherwise open the Logs screen",
		"no DuoBox containers exist":                                                         "no DuoBox containers exist",
	} {
		if got := InWindowWords(in); got != want {
			t.Errorf("InWindowWords(%q) = %q, want %q", in, got, want)
		}
	}
}

// Every message app/ and runtime/ write for a person reads, in the window,
// without naming a CLI command.
func TestInWindowWords_everyMessageOfTheCore(t *testing.T) {
	n := 0
	for _, root := range []string{".", "../runtime"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") ||
				strings.Contains(path, "testbed") || path == "words.go" {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(node ast.Node) bool {
				lit, ok := node.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err != nil || !strings.Contains(s, "'duobox ") || strings.TrimSpace(s) == "'duobox" {
					return true
				}
				n++
				if got := InWindowWords(s); strings.Contains(got, "duobox ") {
					t.Errorf("%s: in the window %q still names a command", path, got)
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 20 {
		t.Fatalf("only %d messages found: the walk is broken", n)
	}
}

// One remedy, one fix per face: the CLI keeps its command, the window names its control.
func TestProblem_fixPerFace(t *testing.T) {
	p := &Problem{Kind: KindEnvironment, What: "gated", Fix: "set HF_TOKEN", Remedy: RemedyHFToken}
	if p.FixFor(FaceCLI) != "set HF_TOKEN" || !strings.Contains(p.FixFor(FaceWindow), "Hugging Face token field") {
		t.Fatalf("cli %q window %q", p.FixFor(FaceCLI), p.FixFor(FaceWindow))
	}
	d := &Problem{Kind: KindNotReady, What: "nothing deployed", Remedy: RemedyDeploy}
	if d.Error() != "nothing deployed — run 'duobox up'" || d.FixFor(FaceWindow) != "press Deploy" {
		t.Fatalf("%q / %q", d.Error(), d.FixFor(FaceWindow))
	}
}
