package bundle

import (
	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/diskspace"
	"github.com/duobox/duobox/app/units"
)

// checkFree refuses when dir's file system has less than need bytes free.
func checkFree(dir string, need int64, what string) error {
	free, err := diskspace.Free(dir)
	if err != nil || need <= 0 {
		return nil // cannot tell: the write itself will say
	}
	if free < uint64(need) {
		return app.Environment(nil, "free disk space there (or choose another place), then run the same command again",
			"not enough disk space for %s at %s: it needs %s, %s is free", what, dir, units.HumanBytes(need), units.HumanBytes(int64(free)))
	}
	return nil
}
