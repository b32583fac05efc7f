package ui

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
)

// ConfigureView asks what DuoBox cannot detect: GitLab's URL and version,
// the host address GitLab reaches this machine by (validated as typed),
// ports, the Hugging Face token, the log dir and the docs index.
type ConfigureView struct {
	GitLabURL   *widget.Entry
	Version     *widget.Entry
	ReadVersion *widget.Button
	Host        *widget.SelectEntry
	HostCheck   *widget.Label // the live validation result, with its fix
	Port        *widget.Entry
	// PublishAll publishes the gateway on every address of this machine
	// (gateway.publish_all_addresses); PublishWarning shows while it is on.
	PublishAll     *widget.Check
	PublishWarning *widget.Label
	HFToken        *widget.Entry
	LogDir         *widget.Entry
	DocsIndex      *widget.Entry
	// GatewayRegistry and ModelServerRegistry name another registry per image
	// (company mirror, private registry); empty = the image's own.
	GatewayRegistry     *widget.Entry
	ModelServerRegistry *widget.Entry
	// Images a user points elsewhere: the gateway repository (the tag rules
	// stay), the model server image (repository[:tag]), the health commands
	// (deploy.ParseHealthCmd) and the Agent Platform port.
	GatewayRepository    *widget.Entry
	ModelServerImage     *widget.Entry
	GatewayHealthCmd     *widget.Entry
	ModelServerHealthCmd *widget.Entry
	AgentPort            *widget.Entry
	Save                 *widget.Button
	Result               *widget.Label
	Next                 *widget.Button
	Content              fyne.CanvasObject

	u *UI
}

func newConfigureView(u *UI) *ConfigureView {
	v := &ConfigureView{u: u}
	v.GitLabURL = widget.NewEntry()
	v.GitLabURL.SetPlaceHolder("https://gitlab.example.com")
	v.GitLabURL.Validator = func(s string) error { _, err := config.NormalizeGitLabURL(s); return err }
	v.Version = widget.NewEntry()
	v.Version.SetPlaceHolder("e.g. 18.2 (Admin → Overview → Dashboard)")
	v.ReadVersion = widget.NewButtonWithIcon("Read from GitLab", theme.DownloadIcon(), v.onReadVersion)
	if u.svc.ReadGitLabVersion == nil {
		v.ReadVersion.Disable()
	}
	v.Host = widget.NewSelectEntry(nil)
	v.Host.SetPlaceHolder("the name or address GitLab uses to reach this machine")
	v.HostCheck = wrapped("Not localhost: GitLab must reach this machine over the network.")
	v.Host.OnChanged = v.onHostChanged
	v.Port = widget.NewEntry()
	v.Port.SetText(strconv.Itoa(config.DefaultGatewayPort))
	v.Port.Validator = checkPort
	v.Port.OnChanged = func(string) { v.onHostChanged(v.Host.Text) }
	v.PublishWarning = wrapped("")
	v.PublishWarning.Hide()
	v.PublishAll = widget.NewCheck("Publish on all addresses", func(bool) { v.onPublishAll() })
	v.HFToken = widget.NewPasswordEntry()
	v.HFToken.SetPlaceHolder("hf_… (only for gated models; stored in a 0600 file, never in the config)")
	v.LogDir = widget.NewEntry()
	v.LogDir.SetPlaceHolder("only used when the gateway env sets AIGW_LOGGING__TO_FILE")
	v.DocsIndex = widget.NewEntry()
	v.DocsIndex.SetPlaceHolder("optional: path to a docs.db (GitLab 17.2–17.3 docs answers)")
	v.GatewayRegistry = registryEntry()
	v.ModelServerRegistry = registryEntry()
	v.AgentPort = widget.NewEntry()
	v.AgentPort.SetText(strconv.Itoa(config.DefaultAgentPort))
	v.AgentPort.Validator = checkPort
	v.GatewayRepository = repositoryEntry("optional: another gateway repository, e.g. mirror.example.com/gitlab/model-gateway (tag rules stay)")
	v.ModelServerImage = repositoryEntry("optional: model server image, repository[:tag], e.g. a patched or CPU build")
	v.GatewayHealthCmd = healthCmdEntry("optional: the gateway's health command, e.g. curl -fsS http://127.0.0.1:5052/monitoring/healthz, or none")
	v.ModelServerHealthCmd = healthCmdEntry("optional: the model server's health command, e.g. curl -fsS http://127.0.0.1:8000/health, or none")
	v.Save = widget.NewButtonWithIcon("Save config", theme.DocumentSaveIcon(), v.onSave)
	v.Save.Importance = widget.HighImportance
	v.Result = wrapped("")
	v.Next = widget.NewButtonWithIcon("Next: deploy", theme.NavigateNextIcon(), func() { u.Select(TabDeploy) })
	v.Next.Disable()
	form := widget.NewForm(
		widget.NewFormItem("GitLab URL", v.GitLabURL),
		widget.NewFormItem("GitLab version", container.NewBorder(nil, nil, nil, v.ReadVersion, v.Version)),
		widget.NewFormItem("Host address", v.Host),
		widget.NewFormItem("", v.HostCheck),
		widget.NewFormItem("Gateway port", v.Port),
		widget.NewFormItem("", container.NewVBox(v.PublishAll, v.PublishWarning)),
		widget.NewFormItem("Hugging Face token", v.HFToken),
		widget.NewFormItem("Gateway log dir", v.LogDir),
		widget.NewFormItem("Docs index", v.DocsIndex),
		widget.NewFormItem("Gateway registry", v.GatewayRegistry),
		widget.NewFormItem("Model server registry", v.ModelServerRegistry),
		widget.NewFormItem("Agent Platform port", v.AgentPort),
		widget.NewFormItem("Gateway repository", v.GatewayRepository),
		widget.NewFormItem("Model server image", v.ModelServerImage),
		widget.NewFormItem("Gateway health command", v.GatewayHealthCmd),
		widget.NewFormItem("Model server health command", v.ModelServerHealthCmd),
	)
	v.Content = container.NewBorder(nil, container.NewVBox(v.Result, container.NewHBox(v.Save, v.Next)), nil, nil,
		scrolled(form))
	return v
}

func checkPort(s string) error {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("give a port number from 1 to 65535")
	}
	return nil
}

// fill shows an existing config's answers.
func (v *ConfigureView) fill(d config.Deployment) {
	v.GitLabURL.SetText(d.GitLab.URL)
	v.Version.SetText(d.GitLab.Version)
	if d.Gateway.Port != 0 {
		v.Port.SetText(strconv.Itoa(d.Gateway.Port))
	}
	v.Host.SetText(d.Host)
	v.PublishAll.SetChecked(d.Gateway.PublishAll)
	v.LogDir.SetText(d.LogDir)
	v.DocsIndex.SetText(d.DocsIndex)
	if d.Gateway.AgentPort != 0 {
		v.AgentPort.SetText(strconv.Itoa(d.Gateway.AgentPort))
	}
	v.GatewayRegistry.SetText(d.Gateway.Image.Registry)
	v.ModelServerRegistry.SetText(d.ModelServer.Registry)
	if d.Gateway.Image.Repository != config.DefaultGatewayImage {
		v.GatewayRepository.SetText(d.Gateway.Image.Repository)
	}
	if d.ModelServer.Repository != config.DefaultModelServerImage && d.ModelServer.Repository != config.DefaultCPUModelServerImage {
		v.ModelServerImage.SetText(d.ModelServer.Repository + ":" + d.ModelServer.Tag)
	}
	v.GatewayHealthCmd.SetText(healthCmdText(d.Gateway.Image.HealthCmd))
	v.ModelServerHealthCmd.SetText(healthCmdText(d.ModelServer.HealthCmd))
	v.Next.Enable()
}

// suggestHosts offers the machine's name and addresses.
func (v *ConfigureView) suggestHosts(name string, addrs []string) {
	opts := append([]string{}, addrs...)
	if name != "" {
		opts = append([]string{name}, opts...)
	}
	v.Host.SetOptions(opts)
	if v.Host.Text == "" && len(opts) > 0 {
		v.Host.SetText(opts[0])
	}
}

func (v *ConfigureView) onHostChanged(s string) {
	if err := config.CheckHostSyntax(strings.TrimSpace(s)); err != nil {
		v.HostCheck.SetText("✗ " + err.Error())
		v.HostCheck.Importance = widget.DangerImportance
	} else {
		v.HostCheck.SetText("✓ GitLab will call http://" + config.HostForURL(strings.TrimSpace(s)) + ":" + strings.TrimSpace(v.Port.Text))
		v.HostCheck.Importance = widget.SuccessImportance
	}
	v.HostCheck.Refresh()
}

// onPublishAll shows, while the box is ticked, who can then reach the
// gateway; ticking it is the only way the window publishes on all addresses.
func (v *ConfigureView) onPublishAll() {
	if !v.PublishAll.Checked {
		v.PublishWarning.Hide()
		return
	}
	port := strings.TrimSpace(v.Port.Text)
	say(v.PublishWarning, app.SeverityWarning, fmt.Sprintf("⚠ The gateway will listen on every address of this machine (0.0.0.0 and [::]), ports %s and %s: "+
		"anyone who can reach this machine can call it, not only GitLab. Use it only when GitLab reaches this machine by an address it does not own "+
		"(NAT, a load balancer), and keep those ports behind a firewall.", port, strings.TrimSpace(v.AgentPort.Text)))
	v.PublishWarning.Show()
}

func (v *ConfigureView) onReadVersion() {
	url := strings.TrimSpace(v.GitLabURL.Text)
	if err := v.GitLabURL.Validate(); err != nil || url == "" {
		v.Result.SetText("Enter GitLab's URL first, e.g. https://gitlab.example.com.")
		return
	}
	v.ReadVersion.Disable()
	v.Result.SetText("Asking " + url + " for its version…")
	v.u.bg.run(func(ctx context.Context) func() {
		ver, err := v.u.svc.ReadGitLabVersion(ctx, url)
		return func() {
			v.ReadVersion.Enable()
			if err != nil {
				v.Result.SetText(problem(err) + "\nFix: type the version from Admin → Overview → Dashboard instead.")
				return
			}
			v.u.setGitLabVersion(ver)
			v.Result.SetText("GitLab at " + url + " runs " + ver + ".")
		}
	})
}

// Input returns the screen's answers as the deploy package's init input.
func (v *ConfigureView) Input() (deploy.InitInput, error) {
	var errs []error
	for _, e := range []*widget.Entry{v.GitLabURL, v.Port, v.GatewayRegistry, v.ModelServerRegistry, v.AgentPort,
		v.GatewayRepository, v.ModelServerImage, v.GatewayHealthCmd, v.ModelServerHealthCmd} {
		if err := e.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if strings.TrimSpace(v.GitLabURL.Text) == "" {
		errs = append(errs, errors.New("enter GitLab's URL"))
	}
	if strings.TrimSpace(v.Version.Text) == "" {
		errs = append(errs, errors.New("enter GitLab's version, or press Read from GitLab"))
	}
	if err := config.CheckHostSyntax(strings.TrimSpace(v.Host.Text)); err != nil {
		errs = append(errs, fmt.Errorf("host address: %w", err))
	}
	port, _ := strconv.Atoi(strings.TrimSpace(v.Port.Text))
	agentPort, _ := strconv.Atoi(strings.TrimSpace(v.AgentPort.Text))
	in := deploy.InitInput{
		GitLabURL:     strings.TrimSpace(v.GitLabURL.Text),
		GitLabVersion: strings.TrimSpace(v.Version.Text),
		Host:          strings.TrimSpace(v.Host.Text),
		Port:          port,
		PublishAll:    v.PublishAll.Checked,
		LogDir:        strings.TrimSpace(v.LogDir.Text),
		DocsIndex:     strings.TrimSpace(v.DocsIndex.Text),

		GatewayRegistry:     strings.TrimSpace(v.GatewayRegistry.Text),
		ModelServerRegistry: strings.TrimSpace(v.ModelServerRegistry.Text),

		AgentPort:            agentPort,
		GatewayRepository:    strings.TrimSpace(v.GatewayRepository.Text),
		ModelServerImage:     strings.TrimSpace(v.ModelServerImage.Text),
		GatewayHealthCmd:     strings.TrimSpace(v.GatewayHealthCmd.Text),
		ModelServerHealthCmd: strings.TrimSpace(v.ModelServerHealthCmd.Text),
	}
	if f, ok := v.u.Choose.Selected(); ok {
		in.Models = []string{f.HFRepo}
	}
	in.VLLM = v.u.Choose.Settings()
	in.MaxModelLen = in.VLLM.Context
	return in, errors.Join(errs...)
}

func (v *ConfigureView) onSave() {
	if v.u.svc.SaveConfig == nil {
		say(v.Result, app.SeverityWarning, "Saving is not available in this build of DuoBox.")
		return
	}
	in, err := v.Input()
	if err != nil {
		say(v.Result, app.SeverityError, "Please fix: "+strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	v.save(in)
}

// save writes the config; without a GPU it asks before using CPU mode
// (nothing switches on its own).
func (v *ConfigureView) save(in deploy.InitInput) {
	token := strings.TrimSpace(v.HFToken.Text)
	v.Save.Disable()
	v.Result.Importance = widget.MediumImportance
	v.Result.SetText("Saving…")
	v.u.bg.run(func(ctx context.Context) func() {
		d, notes, err := v.u.svc.SaveConfig(ctx, in, token)
		return func() {
			v.Save.Enable()
			if errors.Is(err, actions.ErrNoGPU) && in.Mode != config.ModeCPU {
				sayErr(v.Result, err)
				v.u.confirm("No NVIDIA GPU", "This machine has no NVIDIA GPU the Docker engine can use. Use CPU mode (slow; to try the flow)?", func(ok bool) {
					if ok {
						in.Mode = config.ModeCPU
						v.save(in)
					}
				})
				return
			}
			if err != nil {
				sayErr(v.Result, err)
				return
			}
			v.u.setConfig(d)
			v.HFToken.SetText("")
			msg := "Saved " + v.u.svc.ConfigPath + "."
			for _, n := range notes {
				msg += "\nNote: " + n
			}
			say(v.Result, app.SeveritySuccess, msg)
			v.Next.Enable()
		}
	})
}

// registryEntry is an optional registry host for one image, checked as typed.
func registryEntry() *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder("optional: another registry, e.g. mirror.example.com:5000 (same path and tag)")
	e.Validator = func(s string) error {
		if strings.TrimSpace(s) == "" {
			return nil
		}
		return config.CheckImage(config.Image{Repository: "duobox/check", Tag: "v", Registry: strings.TrimSpace(s)})
	}
	return e
}

// repositoryEntry is an optional image repository (with an optional tag), checked as typed.
func repositoryEntry(placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.Validator = func(s string) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		repo, tag := s, "v"
		if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
			repo, tag = s[:i], s[i+1:]
		}
		return config.CheckImage(config.Image{Repository: repo, Tag: tag})
	}
	return e
}

// healthCmdEntry is an optional health command, checked as typed.
func healthCmdEntry(placeholder string) *widget.Entry {
	e := widget.NewEntry()
	e.SetPlaceHolder(placeholder)
	e.Validator = func(s string) error { _, err := deploy.ParseHealthCmd(s); return err }
	return e
}

// healthCmdText shows a saved health command as it is typed.
func healthCmdText(cmd []string) string {
	switch {
	case len(cmd) == 0:
		return ""
	case cmd[0] == "NONE":
		return "none"
	case cmd[0] == "CMD-SHELL":
		return strings.Join(cmd, " ")
	case cmd[0] == "CMD":
		return strings.Join(cmd[1:], " ")
	}
	return strings.Join(cmd, " ")
}
