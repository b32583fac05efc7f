package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/version"
	"github.com/duobox/duobox/bundles"
)

func TestMachineViewShowsRecommendation(t *testing.T) {
	test.NewTempApp(t)
	v := NewMachineView()
	w := test.NewTempWindow(t, v.Content)
	_ = w
	if !strings.Contains(v.Status.Text, "Detecting") {
		t.Fatalf("initial status %q", v.Status.Text)
	}
	c, err := bundles.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	m := hardware.Machine{GPUs: []hardware.GPU{{Index: 0, Vendor: "nvidia", Name: "NVIDIA L40S", MemoryTotal: 46068 << 20, MemoryFree: 45589 << 20}}}
	r, err := recommend.Recommend(m, c, recommend.Options{GitLab: version.MustParse("18.5")})
	if err != nil {
		t.Fatal(err)
	}
	v.Show(m, r)
	if !strings.Contains(v.Hardware.Text, "NVIDIA L40S") || !strings.Contains(v.Hardware.Text, "Docker not reachable") {
		t.Fatalf("hardware %q", v.Hardware.Text)
	}
	if !strings.Contains(v.Advice.Text, r.Recommendation[0].Name) || !strings.Contains(v.Advice.Text, r.Reason) {
		t.Fatalf("advice %q", v.Advice.Text)
	}
	if strings.Count(v.Verdicts.Text, "\n")+1 != len(r.Models) {
		t.Fatalf("verdict rows %q", v.Verdicts.Text)
	}
}
