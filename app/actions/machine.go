package actions

import (
	"context"
	"encoding/json"
	"github.com/duobox/duobox/app/paths"
	"os"
	"time"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/store"
)

type machineCache struct{ m hardware.Machine }

// Detect probes the machine (the engine included) and records the snapshot
// in the state database. The last result is kept for SaveConfig.
func (c *Core) Detect(ctx context.Context, o hardware.Overrides) (hardware.Machine, error) {
	rec := c.StartRecorder(ctx)
	defer rec.Close()
	return c.DetectRecording(ctx, o, rec)
}

// DetectRecording is Detect with the caller's recorder (nil: not recorded).
// The state database, when it exists, opens while the probes run.
func (c *Core) DetectRecording(ctx context.Context, o hardware.Overrides, rec *Recorder) (hardware.Machine, error) {
	rec.OpenEarly()
	d := hardware.Detector{Overrides: o}
	if engine, err := c.Connect(); err == nil {
		defer engine.Close()
		d.Engine = engine.Probe
	} else {
		d.Engine = func(context.Context) hardware.Engine {
			return hardware.Engine{Error: err.Error(), Fix: "check DOCKER_HOST and 'docker context ls'"}
		}
	}
	m, err := d.Detect(ctx)
	if err != nil {
		return m, app.BadInput("fix the override", "%v", err)
	}
	rec.Save("machine", m)
	c.mu.Lock()
	c.machine = &machineCache{m: m}
	c.mu.Unlock()
	return m, nil
}

// lastMachine is the last detection, detecting when there was none.
func (c *Core) lastMachine(ctx context.Context) (hardware.Machine, error) {
	c.mu.Lock()
	m := c.machine
	c.mu.Unlock()
	if m != nil {
		return m.m, nil
	}
	return c.Detect(ctx, hardware.Overrides{})
}

// Recommend rates every model GitLab lists at gitlabVersion ("" = the
// configured or newest one) on m.
func (c *Core) Recommend(_ context.Context, m hardware.Machine, gitlabVersion string) (recommend.Result, error) {
	return c.recommend(m, gitlabVersion, recommend.Options{})
}

// RecommendWith is Recommend under the user's vLLM settings (Choose
// model's fields, 'duobox recommend' flags); opts.Engine "" is the
// configured model server's vLLM version.
func (c *Core) RecommendWith(_ context.Context, m hardware.Machine, gitlabVersion string, opts recommend.Options) (recommend.Result, error) {
	if opts.Engine == "" {
		opts.Engine = c.ConfiguredEngine()
	}
	return c.recommend(m, gitlabVersion, opts)
}

// recommend rates the catalog at gitlabVersion under opts (its GitLab is set here).
func (c *Core) recommend(m hardware.Machine, gitlabVersion string, opts recommend.Options) (recommend.Result, error) {
	cat, err := c.Catalog()
	if err != nil {
		return recommend.Result{}, err
	}
	v, _, err := c.GitLabVersion(gitlabVersion, cat, func(err error) error {
		return &app.Problem{Kind: app.KindBadInput, What: err.Error(), Remedy: app.RemedyGitLabVersion}
	})
	if err != nil {
		return recommend.Result{}, err
	}
	opts.GitLab = v
	return recommend.Recommend(m, cat, opts)
}

// ConfiguredEngine is the vLLM version of the deployment config's model
// server image, when there is a config with a version tag ("" otherwise).
func (c *Core) ConfiguredEngine() string {
	d, err := c.LoadConfig()
	if err != nil {
		return ""
	}
	if _, err := recommend.ParseEngine(d.ModelServer.Tag); err != nil {
		return ""
	}
	return d.ModelServer.Tag
}

// Recorder records snapshots in the state database on Close. The database
// (and DuoBox's folders) is opened to read only when it exists, and created
// only when there is something to save, so a command refused for bad input
// creates nothing (issue 16); failures only warn, since the action itself
// succeeded.
type Recorder struct {
	c       *Core
	ctx     context.Context
	store   *store.Store
	pending []store.Snapshot
	opening chan struct{} // closed once OpenEarly's open is done; nil without OpenEarly
}

// StartRecorder makes a recorder; nothing is opened yet.
func (c *Core) StartRecorder(ctx context.Context) *Recorder {
	return &Recorder{c: c, ctx: ctx}
}

// OpenEarly opens the state database, when it exists already, in the
// background (a command does this while its probes run), so that Store and
// Close do not wait for it. Call it at most once, before Store and Close.
func (r *Recorder) OpenEarly() {
	if r == nil || r.opening != nil {
		return
	}
	r.opening = make(chan struct{})
	go func() {
		defer close(r.opening)
		r.store = r.openExisting()
	}()
}

// Store is the state database when it exists already (nil otherwise), for reading.
func (r *Recorder) Store() *store.Store {
	if r == nil {
		return nil
	}
	if r.opening != nil {
		<-r.opening
		return r.store
	}
	if r.store == nil {
		r.store = r.openExisting()
	}
	return r.store
}

// openExisting opens the state database if it exists (nil otherwise).
func (r *Recorder) openExisting() *store.Store {
	d, err := paths.Resolve()
	if err != nil {
		return nil
	}
	if _, err := os.Stat(d.Database()); err != nil {
		return nil
	}
	st, err := store.Open(r.ctx, d.Database())
	if err != nil {
		return nil
	}
	return st
}

// Save queues v as the newest snapshot of kind (safe on a nil recorder: does nothing).
func (r *Recorder) Save(kind string, v any) {
	if r == nil {
		return
	}
	body, _ := json.Marshal(v)
	r.pending = append(r.pending, store.Snapshot{Kind: kind, Body: body})
}

// Close writes the queued snapshots and closes the database.
func (r *Recorder) Close() {
	if r == nil {
		return
	}
	if r.opening != nil {
		<-r.opening
	}
	if r.store == nil && len(r.pending) > 0 {
		st, err := r.c.OpenStore(r.ctx)
		if err != nil {
			r.c.warn("not recorded in the state database: " + err.Error())
			return
		}
		r.store = st
	}
	if r.store == nil {
		return
	}
	defer r.store.Close()
	if len(r.pending) > 0 {
		if err := r.store.SaveSnapshots(r.ctx, time.Now(), r.pending...); err != nil {
			r.c.warn("not recorded in the state database: " + err.Error())
		}
	}
}

// StartMemory reads, per configured model, vLLM's memory figures at its
// last start set against DuoBox's prediction.
func (c *Core) StartMemory(ctx context.Context) ([]recommend.StartRecord, error) {
	d, err := c.LoadConfig()
	if err != nil {
		return nil, err
	}
	cat, err := c.Catalog()
	if err != nil {
		return nil, err
	}
	st, err := c.OpenStore(ctx)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []recommend.StartRecord
	for _, m := range d.Models {
		entry, ok := cat.Find(m.HFRepo)
		if !ok {
			continue
		}
		row, err := st.LatestFitMeasurement(ctx, entry.ID)
		if err != nil {
			continue
		}
		var r recommend.StartRecord
		if json.Unmarshal(row.Predicted, &r) == nil {
			out = append(out, r)
		}
	}
	return out, nil
}
