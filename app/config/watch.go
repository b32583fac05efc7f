package config

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch follows the config file at path and calls onChange with each new
// valid config, or onError when an edit does not parse or validate (the
// caller keeps its last good config). It watches the folder, so editors that
// replace the file by rename are followed. Both callbacks run on Watch's own
// goroutine; Watch returns when ctx is done.
func Watch(ctx context.Context, path string, onChange func(Deployment), onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	if err := w.Add(filepath.Dir(path)); err != nil {
		return err
	}
	base := filepath.Base(path)
	// Editors write in bursts; settle for a moment before reading.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Base(ev.Name) == base && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				settle = time.After(100 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			onError(err)
		case <-settle:
			settle = nil
			d, err := Load(path)
			if err != nil {
				onError(err)
				continue
			}
			onChange(d)
		}
	}
}
