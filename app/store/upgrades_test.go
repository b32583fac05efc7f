package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestUpgradesSelectsByStackRoleOutcomeAndOldIDWithSteps(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "duobox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for i, r := range []UpgradeRun{
		{Stack: "a", Role: "gateway", OldID: "c1", Outcome: "succeeded"},
		{Stack: "a", Role: "model", OldID: "c1", Outcome: "succeeded"},
		{Stack: "a", Role: "gateway", OldID: "c1", Outcome: "running"},
		{Stack: "b", Role: "gateway", OldID: "c1", Outcome: "succeeded"},
	} {
		r.Container, r.Action, r.Step, r.FromImage, r.ToImage, r.StartedAt = "duobox-"+r.Role, "upgrade", "planned", "{}", "{}", t0
		id, err := s.BeginUpgrade(ctx, r)
		if err != nil || id != int64(i+1) {
			t.Fatalf("begin %d: id %d, %v", i, id, err)
		}
		if err := s.AddUpgradeStep(ctx, id, "planned", t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.FinishUpgrade(ctx, 1, "succeeded", "", "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Upgrades(ctx, UpgradeQuery{Stack: "a", Role: "gateway", Outcome: "succeeded", OldID: "c1", Newest: true, Limit: 1})
	if err != nil || len(got) != 1 || got[0].ID != 1 || got[0].FinishedAt == nil || len(got[0].Steps) != 1 || !got[0].StartedAt.Equal(t0) {
		t.Fatalf("kept-by query: %+v %v", got, err)
	}
	all, err := s.Upgrades(ctx, UpgradeQuery{Stack: "a", Newest: true})
	if err != nil || len(all) != 3 || all[0].ID != 3 || all[2].ID != 1 {
		t.Fatalf("history: %+v %v", all, err)
	}
	open, err := s.Upgrades(ctx, UpgradeQuery{Stack: "a", Outcome: "running"})
	if err != nil || len(open) != 1 || open[0].ID != 3 || open[0].FinishedAt != nil {
		t.Fatalf("open runs: %+v %v", open, err)
	}
}
