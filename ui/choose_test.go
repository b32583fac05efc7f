package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

func TestChoose_preselectsRecommendationAndFiltersByGitLabVersion(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabChoose)

	r := u.Choose.result
	if u.Choose.Models.Length() != len(r.Models) || len(r.Models) == 0 {
		t.Fatalf("%d rows for %d models", u.Choose.Models.Length(), len(r.Models))
	}
	f, ok := u.Choose.Selected()
	if !ok || len(r.Recommendation) == 0 || f.ID != r.Recommendation[0].ModelID {
		t.Fatalf("selected %q, want the recommendation %+v", f.ID, r.Recommendation)
	}
	if !strings.Contains(u.Choose.Details.Text, f.Why) {
		t.Errorf("details %q lack the why %q", u.Choose.Details.Text, f.Why)
	}
	if u.Choose.Next.Disabled() {
		t.Error("Next disabled with a model chosen")
	}

	u.Choose.Version.SetText("")
	test.Type(u.Choose.Version, "17.3")
	test.Tap(u.Choose.Filter)
	u.Wait()
	if got := u.Choose.result.GitLab; !strings.HasPrefix(got, "17.3") {
		t.Fatalf("filtered for %q, want 17.3", got)
	}
	if len(u.Choose.result.Models) >= len(r.Models) {
		t.Errorf("GitLab 17.3 lists %d models, 18.x %d: the version did not filter", len(u.Choose.result.Models), len(r.Models))
	}

	u.Choose.Version.SetText("seventeen")
	test.Tap(u.Choose.Filter)
	u.Wait()
	if !strings.HasPrefix(u.Choose.Advice.Text, "Problem:") {
		t.Errorf("bad version gave %q", u.Choose.Advice.Text)
	}
}
