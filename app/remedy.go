package app

import "errors"

// Face is a way DuoBox talks to a person: the command line or the window.
type Face int

// Faces.
const (
	FaceCLI Face = iota
	FaceWindow
)

// Severity ranks what a face shows; each face renders each level its own
// way (the window: its own colour per level).
type Severity int

// Severities, from good to bad. The zero value is SeverityError so that a
// Problem without one reads as an error.
const (
	SeverityError   Severity = 0
	SeveritySuccess Severity = 1
	SeverityNote    Severity = 2
	SeverityWarning Severity = 3
)

// String names the severity (success, note, warning, error).
func (s Severity) String() string {
	switch s {
	case SeveritySuccess:
		return "success"
	case SeverityNote:
		return "note"
	case SeverityWarning:
		return "warning"
	}
	return "error"
}

// Remedy is one fix that both faces offer: one vocabulary, rendered per
// face — the CLI says "run 'duobox up'", the window "press Deploy".
type Remedy string

// Remedies.
const (
	RemedyDeploy         Remedy = "deploy"
	RemedyConfigure      Remedy = "configure"
	RemedyReplaceConfig  Remedy = "replace-config"
	RemedyHost           Remedy = "host"
	RemedyPublishAll     Remedy = "publish-all"
	RemedyGitLabVersion  Remedy = "gitlab-version"
	RemedyGitLabURL      Remedy = "gitlab-url"
	RemedyGitLabConnect  Remedy = "gitlab-connect"
	RemedyHFToken        Remedy = "hf-token"
	RemedyDocsIndex      Remedy = "docs-index"
	RemedyCPUMode        Remedy = "cpu-mode"
	RemedyChooseStack    Remedy = "choose-stack"
	RemedyUpgradeRefresh Remedy = "upgrade-refresh"
	RemedyReplaceIndex   Remedy = "replace-index"
)

var remedyText = map[Remedy][2]string{ // [CLI, window]
	RemedyDeploy:         {"run 'duobox up'", "press Deploy"},
	RemedyConfigure:      {"run 'duobox init --gitlab-url URL --gitlab-version X.Y --host HOST'", "fill in Configure and press Save config"},
	RemedyReplaceConfig:  {"pass --force to replace it, or edit it", "press Save config again to replace it"},
	RemedyHost:           {"pass --host with the name or address GitLab uses to reach this machine (see 'duobox detect')", "type the name or address GitLab uses to reach this machine in the Host field"},
	RemedyPublishAll:     {"give an address of this machine as --host (see 'duobox detect'), or publish on all addresses explicitly with --publish-all", "type an address of this machine in the Host field, or tick Publish on all addresses and press Save config"},
	RemedyGitLabVersion:  {"pass --gitlab-version like 17.9 or 18.2.1", "type GitLab's version (like 17.9 or 18.2.1) in the GitLab version field, or press Read from GitLab"},
	RemedyGitLabURL:      {"pass --gitlab-url with GitLab's base URL, for example https://gitlab.example.com", "type GitLab's address (like https://gitlab.example.com) in the GitLab URL field"},
	RemedyGitLabConnect:  {"run 'duobox gitlab connect --url URL --token-stdin' with an administrator's personal access token (scope api)", "paste an administrator's personal access token (scope api) in the GitLab token field and press Connect"},
	RemedyHFToken:        {"accept the model's licence on huggingface.co, then pass a token with 'duobox init --force --hf-token-file FILE' (or $HF_TOKEN)", "accept the model's licence on huggingface.co, then paste your Hugging Face token in Configure's Hugging Face token field and press Save config"},
	RemedyDocsIndex:      {"run 'duobox docs-index'", "press Build index on the Settings screen"},
	RemedyCPUMode:        {"pass --mode cpu to try the flow without a GPU, or name a model with --model HF_REPO and a card with --gpu NAME:MiB", "answer Use CPU mode when asked, or install the NVIDIA driver and container toolkit and press Detect again"},
	RemedyChooseStack:    {"say model or gateway, or give a DuoBox container's name ('duobox status' lists them)", "choose the container in the Container list"},
	RemedyReplaceIndex:   {"pass --force to replace it, or choose another -o path", "tick Replace an existing index, or type another file in Output"},
	RemedyUpgradeRefresh: {"check the registry connection, or pass --tags-from FILE", "press Check again, or choose a tags file or an image archive under Offline"},
}

// In is the remedy in face's words.
func (r Remedy) In(face Face) string {
	t, ok := remedyText[r]
	if !ok {
		return ""
	}
	return t[face]
}

// Describe splits err into what went wrong and the fix in face's words
// (the fix is "" when the error carries none).
func Describe(err error, face Face) (what, fix string) {
	err = AsDiskFull(err) // a full disk is said the same way in both faces
	var p *Problem
	if errors.As(err, &p) {
		what = p.What
		if what == "" && p.Err != nil {
			what = p.Err.Error()
		}
		return what, p.FixFor(face)
	}
	return err.Error(), ""
}

// SeverityOf is the severity of the first Problem in err's chain (error otherwise).
func SeverityOf(err error) Severity {
	var p *Problem
	if errors.As(err, &p) {
		return p.Severity
	}
	return SeverityError
}
