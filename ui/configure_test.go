package ui

import (
	"context"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
)

func TestConfigure_validatesHostLiveAndSavesTheConfig(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabConfigure)
	v := u.Configure

	v.Host.SetText("")
	test.Type(v.Host, "localhost")
	if !strings.HasPrefix(v.HostCheck.Text, "✗") || v.HostCheck.Importance != widget.DangerImportance {
		t.Errorf("localhost accepted: %q", v.HostCheck.Text)
	}
	test.Tap(v.Save)
	u.Wait()
	if !strings.HasPrefix(v.Result.Text, "Please fix:") || !strings.Contains(v.Result.Text, "GitLab's URL") {
		t.Errorf("save with bad input said %q", v.Result.Text)
	}
	if _, err := config.Load(b.cfgPath); err == nil {
		t.Fatal("a config was written from bad input")
	}

	test.Type(v.GitLabURL, "https://gitlab.example.com/")
	test.Type(v.Version, "18.2")
	v.Host.SetText("")
	test.Type(v.Host, "192.0.2.10")
	if !strings.HasPrefix(v.HostCheck.Text, "✓") || !strings.Contains(v.HostCheck.Text, "http://192.0.2.10:5052") {
		t.Errorf("good host: %q", v.HostCheck.Text)
	}
	test.Tap(v.PublishAll) // 192.0.2.10 is not this machine's
	test.Tap(v.Save)
	u.Wait()
	d, err := config.Load(b.cfgPath)
	if err != nil {
		t.Fatalf("after Save: %v (screen says %q)", err, v.Result.Text)
	}
	chosen, _ := u.Choose.Selected()
	if d.Host != "192.0.2.10" || d.GitLab.URL != "https://gitlab.example.com" || len(d.Models) != 1 || d.Models[0].HFRepo != chosen.HFRepo {
		t.Errorf("saved %+v, chosen %q", d, chosen.HFRepo)
	}
	if v.Next.Disabled() || !strings.Contains(v.Result.Text, "Saved") {
		t.Errorf("after save: next disabled=%v, result %q", v.Next.Disabled(), v.Result.Text)
	}
	if u.config() == nil || !strings.Contains(u.Settings.ConfigState.Text, "192.0.2.10") {
		t.Errorf("settings do not show the new config: %q", u.Settings.ConfigState.Text)
	}
}

func TestConfigure_readVersionButton_FakeGitLab(t *testing.T) {
	b := newBed(t)
	u := b.open()
	if !u.Configure.ReadVersion.Disabled() {
		t.Error("Read from GitLab enabled without a service")
	}
	b2 := newBed(t)
	b2.svc.ReadGitLabVersion = func(_ context.Context, url string) (string, error) { return "18.4.1", nil }
	u2 := b2.open()
	test.Type(u2.Configure.GitLabURL, "https://gitlab.example.com")
	test.Tap(u2.Configure.ReadVersion)
	u2.Wait()
	if u2.Configure.Version.Text != "18.4.1" {
		t.Errorf("version %q", u2.Configure.Version.Text)
	}
}

// TestConfigure_imagesHealthCommandsAndAgentPort: the screen takes the
// images a user points elsewhere, the health commands and the Agent Platform
// port; a bad health command or equal ports is refused and nothing is saved;
// a saved config shows them again.
func TestConfigure_imagesHealthCommandsAndAgentPort(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabConfigure)
	v := u.Configure
	test.Type(v.GitLabURL, "https://gitlab.example.com/")
	test.Type(v.Version, "18.5")
	v.Host.SetText("")
	test.Type(v.Host, "192.0.2.10")
	v.PublishAll.SetChecked(true)
	v.ModelServerHealthCmd.SetText("CMD-SHELL")
	test.Tap(v.Save)
	u.Wait()
	if !strings.HasPrefix(v.Result.Text, "Please fix:") || !strings.Contains(v.Result.Text, "CMD-SHELL needs a command line") {
		t.Errorf("bad health command: %q", v.Result.Text)
	}
	v.ModelServerHealthCmd.SetText("curl -fsS http://127.0.0.1:8000/health")
	v.AgentPort.SetText(v.Port.Text)
	test.Tap(v.Save)
	u.Wait()
	if _, err := config.Load(b.cfgPath); err == nil || !strings.Contains(v.Result.Text, "--agent-port") {
		t.Fatalf("equal ports saved (%v): %q", err, v.Result.Text)
	}
	v.AgentPort.SetText("50152")
	v.ModelServerImage.SetText("mirror.example.com/vllm-cpu:v0.18.1")
	v.GatewayHealthCmd.SetText("none")
	test.Tap(v.Save)
	u.Wait()
	d, err := config.Load(b.cfgPath)
	if err != nil {
		t.Fatalf("after Save: %v (screen says %q)", err, v.Result.Text)
	}
	if d.Gateway.AgentPort != 50152 || d.ModelServer.Repository != "mirror.example.com/vllm-cpu" || d.ModelServer.Tag != "v0.18.1" ||
		strings.Join(d.ModelServer.HealthCmd, " ") != "CMD curl -fsS http://127.0.0.1:8000/health" || strings.Join(d.Gateway.Image.HealthCmd, " ") != "NONE" {
		t.Errorf("saved %+v %+v", d.Gateway, d.ModelServer)
	}
	v2 := newBed(t).open().Configure
	v2.fill(d)
	if v2.AgentPort.Text != "50152" || v2.ModelServerImage.Text != "mirror.example.com/vllm-cpu:v0.18.1" ||
		v2.ModelServerHealthCmd.Text != "curl -fsS http://127.0.0.1:8000/health" || v2.GatewayHealthCmd.Text != "none" {
		t.Errorf("fill: %q %q %q %q", v2.AgentPort.Text, v2.ModelServerImage.Text, v2.ModelServerHealthCmd.Text, v2.GatewayHealthCmd.Text)
	}
}

// Without a GPU, Save config asks before using CPU mode; nothing switches on its own.
func TestConfigure_noGPUAsksForCPUMode(t *testing.T) {
	b := newBed(t)
	var modes []string
	b.svc.SaveConfig = func(_ context.Context, in deploy.InitInput, _ string) (config.Deployment, []string, error) {
		modes = append(modes, in.Mode)
		if in.Mode != config.ModeCPU {
			return config.Deployment{}, nil, &app.Problem{Kind: app.KindBadInput, Err: actions.ErrNoGPU, Remedy: app.RemedyCPUMode, What: "no NVIDIA GPU"}
		}
		return config.Deployment{Mode: config.ModeCPU}, nil, nil
	}
	u := b.open()
	asked := ""
	u.confirm = func(title, _ string, done func(bool)) { asked = title; done(true) }
	selectTab(u, TabConfigure)
	v := u.Configure
	test.Type(v.GitLabURL, "https://gitlab.example.com/")
	test.Type(v.Version, "18.2")
	v.Host.SetText("")
	test.Type(v.Host, "192.0.2.10")
	test.Tap(v.Save)
	u.Wait()
	u.Wait()
	if asked == "" || len(modes) != 2 || modes[0] == config.ModeCPU || modes[1] != config.ModeCPU {
		t.Fatalf("asked %q, modes %v, result %q", asked, modes, v.Result.Text)
	}
}

// Issue 16: the gateway is published on all addresses only when the user
// ticks the box, which shows who can then reach it; a host that is not this
// machine's is refused without it, with the fix in the window's words.
func TestConfigure_publishOnAllAddressesOnlyWhenTickedWithAWarning(t *testing.T) {
	b := newBed(t)
	u := b.open()
	selectTab(u, TabConfigure)
	v := u.Configure
	if v.PublishAll.Checked || v.PublishWarning.Visible() {
		t.Fatal("publishing on all addresses is on by default")
	}
	test.Type(v.GitLabURL, "https://gitlab.example.com")
	test.Type(v.Version, "18.2")
	v.Host.SetText("192.0.2.10")
	test.Tap(v.Save)
	u.Wait()
	if v.Result.Importance != widget.DangerImportance || !strings.Contains(v.Result.Text, "not an address of this machine") ||
		!strings.Contains(v.Result.Text, "tick Publish on all addresses") || strings.Contains(v.Result.Text, "--publish-all") {
		t.Errorf("non-local host without the box: %q", v.Result.Text)
	}
	if _, err := config.Load(b.cfgPath); err == nil {
		t.Fatal("a refused save wrote the config")
	}

	test.Tap(v.PublishAll)
	if !v.PublishWarning.Visible() || v.PublishWarning.Importance != widget.WarningImportance ||
		!strings.Contains(v.PublishWarning.Text, "every address of this machine") || !strings.Contains(v.PublishWarning.Text, "5052") {
		t.Errorf("warning when ticked: visible=%v %q", v.PublishWarning.Visible(), v.PublishWarning.Text)
	}
	test.Tap(v.Save)
	u.Wait()
	d, err := config.Load(b.cfgPath)
	if err != nil || !d.Gateway.PublishAll {
		t.Fatalf("saved publish_all_addresses=%v, %v (%q)", d.Gateway.PublishAll, err, v.Result.Text)
	}

	// A second window over the saved config shows the box ticked, warning and all.
	u2 := b.open()
	if !u2.Configure.PublishAll.Checked || !u2.Configure.PublishWarning.Visible() {
		t.Error("the saved setting is not shown")
	}
	test.Tap(u2.Configure.PublishAll)
	if u2.Configure.PublishWarning.Visible() {
		t.Error("warning stays after unticking")
	}
}
