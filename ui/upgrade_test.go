package ui

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app/engine"
)

func TestUpgrade_FakeEngine_upgradeShowsAutomaticRollback(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	history := []UpgradeRecord{{Time: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC), From: "self-hosted-v18.2.0-ee", To: "self-hosted-v18.2.1-ee", Outcome: "upgraded"}}
	b.svc.UpgradeCheck = func(context.Context, UpgradeQuery) (UpgradeInfo, error) {
		return UpgradeInfo{Current: "self-hosted-v18.2.1-ee", Available: []string{"self-hosted-v18.2.3-ee", "self-hosted-v18.2.2-ee"}}, nil
	}
	b.svc.UpgradeHistory = func(context.Context) ([]UpgradeRecord, error) { return history, nil }
	var target string
	b.svc.Upgrade = func(_ context.Context, _ UpgradeQuery, to string, on func(UpgradeStep)) error {
		target = to
		on(UpgradeStep{Message: "Pulled " + to, Pull: &engine.Progress{Done: 50, Total: 100}})
		on(UpgradeStep{Message: "Gateway not healthy after 2m: exit code 1"})
		on(UpgradeStep{Message: "Rolled back to self-hosted-v18.2.1-ee", RollingBack: true})
		history = append(history, UpgradeRecord{Time: time.Now(), From: "self-hosted-v18.2.1-ee", To: to, Outcome: "rolled-back", Reason: "not healthy"})
		return errors.New("upgrade to " + to + " rolled back: the new gateway did not become healthy")
	}
	u := b.open()
	selectTab(u, TabUpgrade)
	v := u.Upgrade
	if !strings.Contains(v.Current.Text, "self-hosted-v18.2.1-ee") || v.Available.Selected != "self-hosted-v18.2.3-ee" || v.Upgrade.Disabled() {
		t.Fatalf("current %q, selected %q", v.Current.Text, v.Available.Selected)
	}
	if len(v.History.Objects) != 1 {
		t.Errorf("history rows %d", len(v.History.Objects))
	}
	test.Tap(v.Upgrade)
	u.Wait()
	if target != "self-hosted-v18.2.3-ee" {
		t.Errorf("upgraded to %q", target)
	}
	if !strings.Contains(v.Steps.Text, "↩ Rolled back") || !strings.Contains(v.Steps.Text, "Problem: upgrade to self-hosted-v18.2.3-ee rolled back") {
		t.Errorf("steps %q", v.Steps.Text)
	}
	if len(v.History.Objects) != 2 || v.History.Objects[1].(*widget.Label).Importance != widget.WarningImportance {
		t.Errorf("history after: %d rows", len(v.History.Objects))
	}
}

func TestUpgrade_withoutServiceSaysSoWithoutSendingToATerminal(t *testing.T) {
	b := newBed(t)
	u := b.open()
	if got := allText(u.Upgrade.Content); !strings.Contains(got, "not available") || strings.Contains(got, "duobox ") {
		t.Errorf("content %q", got)
	}
}

// The model server upgrades from the window too, and offline from a tags
// file or an image archive chosen in a file dialog; a list that could not
// be read disables Upgrade and says so.
func TestUpgrade_modelServerAndOfflineSources(t *testing.T) {
	b := newBed(t)
	b.writeConfig("192.0.2.10")
	var queries []UpgradeQuery
	b.svc.UpgradeCheck = func(_ context.Context, q UpgradeQuery) (UpgradeInfo, error) {
		queries = append(queries, q)
		if q.TagsFile == "" && q.Archive == "" {
			return UpgradeInfo{}, errors.New("registry unreachable")
		}
		return UpgradeInfo{Current: "v0.8.5", Available: []string{"v0.9.0"}}, nil
	}
	var upgraded UpgradeQuery
	b.svc.Upgrade = func(_ context.Context, q UpgradeQuery, to string, on func(UpgradeStep)) error {
		upgraded = q
		return nil
	}
	u := b.open()
	selectTab(u, TabUpgrade)
	v := u.Upgrade
	v.Role.SetSelected(roleModelLabel)
	u.Wait()
	if !v.Upgrade.Disabled() || v.Available.PlaceHolder != "(the list could not be read)" {
		t.Fatalf("unreadable list: upgrade enabled %v, placeholder %q", !v.Upgrade.Disabled(), v.Available.PlaceHolder)
	}
	u.pickFile = func(_ string, done func(string)) { done("/tmp/tags.txt") }
	test.Tap(v.TagsFile)
	u.Wait()
	if v.Upgrade.Disabled() || v.Available.Selected != "v0.9.0" {
		t.Fatalf("tags file: selected %q", v.Available.Selected)
	}
	last := queries[len(queries)-1]
	if last.Role != "model" || last.TagsFile != "/tmp/tags.txt" {
		t.Errorf("check query %+v", last)
	}
	u.pickFile = func(_ string, done func(string)) { done("/tmp/vllm.tar") }
	test.Tap(v.Archive)
	u.Wait()
	test.Tap(v.Upgrade)
	u.Wait()
	if upgraded.Role != "model" || upgraded.Archive != "/tmp/vllm.tar" {
		t.Errorf("upgrade query %+v", upgraded)
	}
}
