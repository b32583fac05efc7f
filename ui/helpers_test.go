package ui

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/store"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

// bed is a window over real services: hardware detection with a GPU
// override, the bundled catalog and the real recommender, the deployment
// config in a temp file (saved, loaded and watched by app/config), the
// GitLab snippet builder, and a real SQLite state database in t.TempDir().
// Tests fill in only what needs a container engine, and say so in their names.
type bed struct {
	t       *testing.T
	app     fyne.App
	store   *store.Store
	cfgPath string
	cat     catalog.Catalog
	svc     Services
}

const testGatewayTag = "self-hosted-v18.2.1-ee"

func newBed(t *testing.T) *bed {
	t.Helper()
	a := test.NewTempApp(t)
	dir := t.TempDir()
	st, err := store.Open(t.Context(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cat, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	b := &bed{t: t, app: a, store: st, cfgPath: filepath.Join(dir, "deployment.yaml"), cat: cat}
	b.svc = Services{
		ConfigPath: b.cfgPath,
		ExportDir:  dir,
		Detect:     b.detect,
		Recommend:  b.recommend,
		RecommendWith: func(_ context.Context, m hardware.Machine, v string, o recommend.Options) (recommend.Result, error) {
			gv, err := b.version(v)
			if err != nil {
				return recommend.Result{}, err
			}
			o.GitLab = gv
			return recommend.Recommend(m, b.cat, o)
		},
		LoadConfig: func() (config.Deployment, error) { return config.Load(b.cfgPath) },
		SaveConfig: b.saveConfig,
		WatchConfig: func(ctx context.Context, on func(config.Deployment), onErr func(error)) error {
			return config.Watch(ctx, b.cfgPath, on, onErr)
		},
		Snippet: b.snippet,
	}
	return b
}

// detect runs the real detector with one L40S in place of the GPU probe and
// records the snapshot in the state database, as the GUI's wiring does.
func (b *bed) detect(ctx context.Context) (hardware.Machine, error) {
	d := hardware.Detector{
		Overrides: hardware.Overrides{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", Name: "NVIDIA L40S",
			MemoryTotal: 46068 << 20, MemoryUsed: 479 << 20, MemoryFree: 45589 << 20, Source: "override"}}, RAMBytes: 64 << 30},
		Engine: func(context.Context) hardware.Engine {
			return hardware.Engine{Error: "no engine in this test", Fix: "start Docker: sudo systemctl start docker"}
		},
	}
	m, err := d.Detect(ctx)
	if err != nil {
		return m, err
	}
	body, _ := json.Marshal(m)
	_, err = b.store.SaveSnapshot(ctx, "machine", time.Now(), body)
	return m, err
}

func (b *bed) version(s string) (version.GitLab, error) {
	if s == "" {
		if d, err := config.Load(b.cfgPath); err == nil {
			s = d.GitLab.Version
		} else {
			return recommend.DefaultGitLab(b.cat), nil
		}
	}
	return version.Parse(s)
}

func (b *bed) recommend(_ context.Context, m hardware.Machine, v string) (recommend.Result, error) {
	gv, err := b.version(v)
	if err != nil {
		return recommend.Result{}, err
	}
	return recommend.Recommend(m, b.cat, recommend.Options{GitLab: gv})
}

func (b *bed) saveConfig(ctx context.Context, in deploy.InitInput, _ string) (config.Deployment, []string, error) {
	if err := actions.CheckPublish(in); err != nil { // actions.Init's first check
		return config.Deployment{}, nil, err
	}
	m, err := b.detect(ctx)
	if err != nil {
		return config.Deployment{}, nil, err
	}
	if in.Recommended, err = b.svc.RecommendWith(ctx, m, in.GitLabVersion, in.VLLM); err != nil {
		return config.Deployment{}, nil, err
	}
	in.Catalog, in.GatewayTag = b.cat, testGatewayTag
	d, notes, err := deploy.NewDeployment(in)
	if err != nil {
		return d, nil, err
	}
	return d, notes, config.Save(b.cfgPath, d)
}

func (b *bed) snippet(_ context.Context, f gitlab.Format) (*gitlab.Snippet, []string, error) {
	d, err := config.Load(b.cfgPath)
	if err != nil {
		return nil, nil, err
	}
	in, notes, err := gitlab.Resolve(gitlab.Given{}, gitlab.Sources{Deployment: &d, Catalog: b.cat})
	if err != nil {
		return nil, nil, err
	}
	s, err := gitlab.Build(in, f)
	return s, notes, err
}

// writeConfig saves a valid deployment config as the CLI would.
func (b *bed) writeConfig(host string) config.Deployment {
	b.t.Helper()
	d, _, err := b.saveConfig(b.t.Context(), deploy.InitInput{GitLabURL: "https://gitlab.example.com", GitLabVersion: "18.2",
		Host: host, PublishAll: true, Mode: config.ModeCPU}, "")
	if err != nil {
		b.t.Fatal(err)
	}
	return d
}

// open builds the window and starts it, waiting for the first detection.
func (b *bed) open() *UI {
	b.t.Helper()
	w := test.NewTempWindow(b.t, widget.NewLabel(""))
	w.Resize(fyne.NewSize(1100, 760))
	u := New(b.app, w, b.svc)
	u.autoRefresh = 0
	u.bg.queue = true // UI changes run in Wait, on the test's goroutine
	b.t.Cleanup(u.Stop)
	u.Start()
	u.Wait()
	return u
}

// selectTab shows a tab and waits for what it started.
func selectTab(u *UI, name string) {
	u.Select(name)
	u.Wait()
}
