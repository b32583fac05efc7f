package deploy

import (
	"context"
	"encoding/json"
	"time"

	"github.com/duobox/duobox/app/store"
)

// StartRecord is how long a container took from its start to healthy, the
// last time DuoBox watched it start on this machine.
type StartRecord struct {
	Container string        `json:"container"`
	Image     string        `json:"image"`
	Took      time.Duration `json:"took_ns"`
	At        time.Time     `json:"at"`
}

func startKey(container string) string { return "start_time:" + container }

// SaveStartTime records a container's start-to-healthy time (nil store: nothing).
func SaveStartTime(ctx context.Context, st *store.Store, container, image string, took time.Duration) {
	if st == nil || took <= 0 {
		return
	}
	b, _ := json.Marshal(StartRecord{Container: container, Image: image, Took: took, At: time.Now().UTC()})
	_ = st.SetSetting(ctx, startKey(container), string(b))
}

// LastStartTime is the last recorded start-to-healthy time of a container
// (by its serving name); false when DuoBox has not seen it start here.
func LastStartTime(ctx context.Context, st *store.Store, container string) (StartRecord, bool) {
	if st == nil {
		return StartRecord{}, false
	}
	v, err := st.Setting(ctx, startKey(container))
	if err != nil {
		return StartRecord{}, false
	}
	var r StartRecord
	if json.Unmarshal([]byte(v), &r) != nil || r.Took <= 0 {
		return StartRecord{}, false
	}
	return r, true
}
