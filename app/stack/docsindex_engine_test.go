package stack_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
	"github.com/duobox/duobox/runtime/testbed"
)

// Issue 12 item 7, on the real engine: the path DuoBox mounts a custom docs
// index at is the path the gateway image of that GitLab version opens. The
// test-bed gateway image of each version has that version's WORKDIR (from the
// GitLab version table, whose source is the gateway's Dockerfile history) and
// opens tmp/docs.db relative to it, as ai_gateway/searches/sqlite_search.py
// does; it logs the real gateway's "No database found" warning otherwise.
func TestDocsIndexMount_TestBedGateway_IsWhereTheGatewayOfThatVersionReadsIt(t *testing.T) {
	testbed.Engine(t)
	bed := testbed.Start(t)
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	docs := filepath.Join(t.TempDir(), "docs.db")
	if err := os.WriteFile(docs, []byte("SQLite format 3\x00 stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	opened := func(ref, target string) string {
		t.Helper()
		name := fmt.Sprintf("duobox-docs-%d-%d", os.Getpid(), time.Now().UnixNano())
		t.Cleanup(func() { docker("rm", "-f", name) })
		testbed.DockerCLI(t, "run", "-d", "--name", name, "--label", "io.duobox.testbed=true",
			"-v", docs+":"+target+":ro", "-e", "AIGW_AUTH__BYPASS_EXTERNAL=true", ref)
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			logs := docker("logs", name)
			if strings.Contains(logs, "SqliteSearch:") {
				return logs
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatalf("%s logged nothing about its docs index", ref)
		return ""
	}
	var previous string
	for _, v := range []string{"17.3", "17.5", "17.6", "18.10"} {
		t.Run(v, func(t *testing.T) {
			gv := version.MustParse(v)
			tag, err := release.OfflineTag(gv)
			if err != nil {
				t.Fatal(err)
			}
			ref := bed.Push(t, testbed.Gateway, tag)
			repo, _, _ := strings.Cut(ref, ":"+tag)
			d := config.Deployment{GitLab: config.GitLab{URL: "https://gitlab.example.com", Version: v}, Host: "gpu-box.example.com",
				DocsIndex: docs, Gateway: config.Gateway{Image: config.Image{Repository: repo, Tag: tag}}}.WithDefaults()
			s, err := stack.Build(d, stack.Options{Catalog: cat, SecretsDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			var target string
			for _, c := range s.Containers {
				for _, m := range c.Mounts {
					if c.Role == stack.RoleGateway && m.Source == docs {
						target = m.Target
					}
				}
			}
			if target == "" {
				t.Fatal("DuoBox mounts no docs index")
			}
			logs := opened(ref, target)
			if !strings.Contains(logs, "documentation database opened (DuoBox test stand-in)") || !strings.Contains(logs, `"db_path":"`+target+`"`) {
				t.Errorf("GitLab %s: DuoBox mounts %s, but the gateway did not open it:\n%s", v, target, logs)
			}
			// The other layout's path is not read: the check can fail.
			if previous != "" && previous != target {
				if logs := opened(ref, previous); strings.Contains(logs, "documentation database opened (DuoBox test stand-in)") {
					t.Errorf("GitLab %s: the gateway also read %s:\n%s", v, previous, logs)
				}
			}
			previous = target
		})
	}
}

// docker runs the docker CLI and returns its output, whatever the outcome.
func docker(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out)
}
