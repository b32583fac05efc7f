package docker_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/runtime/docker"
)

// TestWatchManagedEvents_FakeEngineAPIDropsTheStream serves the engine's
// /events endpoint from a fake that drops the connection after one event:
// the watcher must re-subscribe from the last event's time, say "resync",
// and keep the label filter.
func TestWatchManagedEvents_FakeEngineAPIDropsTheStream(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/events") {
			w.WriteHeader(404)
			return
		}
		mu.Lock()
		calls++
		n := calls
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"Type":"container","Action":"die","Actor":{"ID":"c%d","Attributes":{"name":"s-model","io.duobox.role":"model","exitCode":"137"}},"time":%d,"timeNano":%d}`+"\n",
			n, 1700000000+n, int64(1700000000+n)*1e9)
		// returning ends the stream: the engine connection "breaks"
	}))
	defer srv.Close()
	api, err := client.New(client.WithHost("tcp://"+strings.TrimPrefix(srv.URL, "http://")), client.WithVersion("1.41"))
	if err != nil {
		t.Fatal(err)
	}
	eng := &docker.Engine{API: api, Endpoint: srv.URL}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	evs := eng.WatchManagedEvents(ctx, "s")
	var got []engine.Event
	for len(got) < 5 {
		select {
		case ev := <-evs:
			got = append(got, ev)
		case <-ctx.Done():
			t.Fatalf("got only %+v", got)
		}
	}
	cancel()
	want := []string{"die", engine.ResyncAction, "die", engine.ResyncAction, "die"}
	for i, ev := range got {
		if ev.Action != want[i] {
			t.Fatalf("event %d: %+v (all: %+v)", i, ev, got)
		}
	}
	if got[0].Container != "c1" || got[0].ExitCode != "137" || got[0].Role != "model" || got[2].Container != "c2" {
		t.Errorf("events %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(queries[0], "io.duobox.stack%3Ds") || strings.Contains(queries[0], "since=") || !strings.Contains(queries[1], "since=1700000001") {
		t.Errorf("queries %q", queries)
	}
}
