package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/gitlabversions"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/secrets"
	"github.com/duobox/duobox/app/version"
)

func init() { register(newInitCommand) }

func newInitCommand(g *globals) *cobra.Command {
	var flags machineFlags
	var vf vllmFlags
	var in deploy.InitInput
	var asJSON, force, printOnly bool
	var hfTokenFile string
	cmd := &cobra.Command{
		Use:   "init --gitlab-url URL --gitlab-version X.Y --host HOST [--model HF_REPO]...",
		Short: "Write the deployment config from your answers and the recommendation for this machine",
		Long: `Init writes the deployment config (the file the GUI's Configure screen writes) without
asking questions: your GitLab URL and version, the host name or address GitLab reaches
this machine by, and the models — the recommendation for this machine unless you name
them with --model. The gateway image tag follows the GitLab version (17.1–17.3:
gitlab-vX.Y.0; 17.4 on: the newest self-hosted-vX.Y.Z-ee in the registry). Secrets are
not written into the config: --hf-token-file (or $HF_TOKEN) is copied into a 0600 file
under the secrets folder, and the gateway's JWT keys are generated there.
` + exitStatusHelp,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if in.GitLabURL == "" || in.GitLabVersion == "" || in.Host == "" {
				return &usageError{cmd: cmd.CommandPath(), err: errors.New("--gitlab-url, --gitlab-version and --host are required")}
			}
			// Refuse a bad host or version before probing anything (the seed: "Do not use localhost").
			if err := config.CheckHostSyntax(in.Host); err != nil {
				return app.BadInput("pass --host with the name or address GitLab uses to reach this machine (see 'duobox detect')", "--host: %v", err)
			}
			v, err := version.Parse(in.GitLabVersion)
			if err != nil {
				return app.BadInput("pass --gitlab-version like 17.9 or 18.2.1-ee", "%v", err)
			}
			if err := gitlabversions.Check(v); err != nil { // before the host: issue 12's answer names the versions known
				return err
			}
			// Every flag is checked before anything is detected or written (issue 16).
			for _, flag := range []string{"port", "agent-port"} {
				if cmd.Flags().Changed(flag) {
					if p, _ := cmd.Flags().GetInt(flag); p < 1 || p > 65535 {
						return app.BadInput("give a TCP port between 1 and 65535, or leave the flag out for the default", "--%s %d is not a TCP port", flag, p)
					}
				}
			}
			if cmd.Flags().Changed("max-model-len") && in.MaxModelLen <= 0 {
				return app.BadInput("give a positive number of tokens, for example --max-model-len 16384, or leave the flag out for the recommendation's", "--max-model-len %d is not a context length", in.MaxModelLen)
			}
			for _, m := range in.Models { // a catalog id (one word) or an org/name repo id
				if strings.Count(m, "/") > 1 || strings.HasPrefix(m, "/") || strings.HasSuffix(m, "/") || strings.Contains(m, "..") || strings.ContainsAny(m, " \t\\") {
					return app.BadInput("give a Hugging Face repo id such as mistralai/Mistral-7B-Instruct-v0.3 (org/name), or a catalog id", "--model %q is not a model id", m)
				}
			}
			if _, err := config.NormalizeGitLabURL(in.GitLabURL); err != nil {
				return app.BadInput("pass --gitlab-url like https://gitlab.example.com", "--gitlab-url: %v", err)
			}
			if err := actions.CheckPublish(in); err != nil {
				return err
			}
			if in.VLLM, err = vf.options(recommend.Options{Context: in.MaxModelLen}); err != nil {
				return err
			}
			token, err := readHFToken(hfTokenFile)
			if err != nil {
				return err
			}
			m, err := flags.detect(ctx, g)
			if err != nil {
				return err
			}
			res, err := g.core().Init(ctx, actions.InitRequest{Input: in, Machine: &m, HFToken: token, Replace: force, PrintOnly: printOnly})
			if err != nil {
				return err
			}
			d, path, notes := res.Config, res.Path, res.Notes
			if printOnly {
				body, err := config.Marshal(d)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(body)
				return err
			}
			if in.AuthBypass {
				fmt.Fprintln(cmd.ErrOrStderr(), "duobox: warning: --auth-bypass turns the gateway's authentication off (AIGW_AUTH__BYPASS_EXTERNAL=true); GitLab's docs allow it only for troubleshooting")
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), struct {
					Path     string            `json:"path"`
					Config   config.Deployment `json:"config"`
					Notes    []string          `json:"notes,omitempty"`
					Warnings []string          `json:"warnings,omitempty"`
					NewKeys  []string          `json:"new_keys,omitempty"`
				}{path, d, notes, res.Warnings, res.NewKeys})
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "Wrote %s\n", path)
			fmt.Fprintf(w, "  GitLab %s (%s), gateway %s:%s on %s:%d\n", d.GitLab.Version, d.GitLab.URL, d.Gateway.Image.Repository, d.Gateway.Image.Tag, d.Host, d.Gateway.Port)
			for _, m := range d.Models {
				fmt.Fprintf(w, "  model %s as custom_openai/%s, --max-model-len %d", m.Repo(), m.Name(), m.MaxModelLen)
				if d.Mode == config.ModeGPU {
					fmt.Fprintf(w, ", GPU %s, --gpu-memory-utilization %.2f", joinInts(m.GPUs), m.GPUMemoryUtilization)
				}
				fmt.Fprintln(w)
			}
			if res.LogDir != "" {
				fmt.Fprintf(w, "  gateway log file in %s (mounted at /var/log/aigateway)\n", res.LogDir)
			}
			for _, k := range res.NewKeys {
				fmt.Fprintf(w, "  generated %s (0600)\n", k)
			}
			for _, n := range append(notes, res.Warnings...) {
				fmt.Fprintf(w, "Note: %s\n", n)
			}
			fmt.Fprintln(w, "Next: duobox up")
			return nil
		},
	}
	flags.add(cmd)
	f := cmd.Flags()
	f.StringVar(&in.GitLabURL, "gitlab-url", "", "the URL people open GitLab with, e.g. https://gitlab.example.com")
	f.StringVar(&in.GitLabVersion, "gitlab-version", "", "your GitLab version, X.Y or X.Y.Z (Admin > Overview > Dashboard)")
	f.StringVar(&in.Host, "host", "", "the host name or address GitLab reaches this machine by (not localhost: GitLab must reach it over the network)")
	f.StringArrayVar(&in.Models, "model", nil, "Hugging Face repo to serve (repeatable); default: the recommendation")
	f.StringVar(&in.Mode, "mode", config.ModeGPU, "gpu, or cpu to try the flow without a GPU")
	f.StringVar(&in.Name, "name", "", "deployment name used for containers, network and volume (default duobox)")
	f.StringVar(&in.GatewayTag, "gateway-tag", "", "gateway image tag (default: chosen from the GitLab version)")
	f.StringVar(&in.GatewayRegistry, "gateway-registry", "", "pull the gateway from this registry instead (company mirror or private registry, host[:port]; same path and tag rules)")
	f.StringVar(&in.ModelServerRegistry, "model-server-registry", "", "pull the model server from this registry instead (host[:port]; same path and tag)")
	f.IntVar(&in.MaxModelLen, "max-model-len", 0, "context length for vLLM (default: the recommendation's)")
	vf.add(cmd)
	f.IntVar(&in.Port, "port", config.DefaultGatewayPort, "host port for the gateway")
	f.IntVar(&in.AgentPort, "agent-port", config.DefaultAgentPort, "host port for the Agent Platform (gRPC; give each stack on one engine its own)")
	f.StringVar(&in.GatewayRepository, "gateway-repository", "", "gateway image repository (a mirror or a patched image; the tag rules stay)")
	f.StringVar(&in.ModelServerImage, "model-server-image", "", "model server image, repository[:tag] (a mirror, a patched or a CPU build)")
	f.StringVar(&in.GatewayHealthCmd, "gateway-health-cmd", "", `the gateway's health command: "cmd args…" run in the image, "CMD-SHELL <line>", or "none" (DuoBox then probes from outside)`)
	f.StringVar(&in.ModelServerHealthCmd, "model-server-health-cmd", "", `the model server's health command, e.g. "curl -fsS http://127.0.0.1:8000/health", "CMD-SHELL <line>", or "none"`)
	f.StringVar(&in.LogDir, "log-dir", "", "gateway log directory, mounted at /var/log/aigateway only when gateway.image.env sets AIGW_LOGGING__TO_FILE (default /srv/gitlab-agw when writable, else under DuoBox's data folder)")
	f.StringVar(&in.DocsIndex, "docs-index", "", "a documentation index (docs.db) to mount into the gateway (needed for 17.2–17.3 docs answers)")
	f.BoolVar(&in.PublishAll, "publish-all", false, "publish the gateway on all addresses of this machine (needed when --host is not one of its addresses, e.g. behind NAT)")
	f.BoolVar(&in.AuthBypass, "auth-bypass", false, "turn the gateway's authentication off (AIGW_AUTH__BYPASS_EXTERNAL=true): troubleshooting only")
	f.StringVar(&hfTokenFile, "hf-token-file", "", "file holding a Hugging Face token (for gated models); copied into the secrets folder, 0600")
	f.BoolVar(&force, "force", false, "replace an existing config")
	f.BoolVar(&printOnly, "print", false, "print the config instead of writing it (nothing is saved)")
	f.BoolVar(&asJSON, "json", false, "print the written config and notes as JSON")
	return cmd
}

// readHFToken reads the token from file (or $HF_TOKEN) and checks it looks
// like one, before anything is written; "" when neither is given.
func readHFToken(file string) (string, error) {
	var token, from string
	switch {
	case file != "":
		st, err := os.Stat(file)
		if err == nil && !st.Mode().IsRegular() {
			err = fmt.Errorf("not a regular file")
		} else if err == nil && st.Size() > secrets.MaxSize {
			err = fmt.Errorf("%d bytes is far more than a token", st.Size())
		}
		var b []byte
		if err == nil {
			b, err = os.ReadFile(file)
		}
		if err == nil && !secrets.IsText(b) {
			err = fmt.Errorf("not a text file")
		}
		if err != nil {
			return "", app.BadInput("give a readable file holding only the token (hf_…)", "--hf-token-file %s: %v", file, err)
		}
		token, from = strings.TrimSpace(string(b)), "--hf-token-file "+file
	case os.Getenv("HF_TOKEN") != "":
		token, from = strings.TrimSpace(os.Getenv("HF_TOKEN")), "$HF_TOKEN"
	default:
		return "", nil
	}
	if token == "" {
		return "", app.BadInput("put the token (hf_…) in the file", "the Hugging Face token is empty")
	}
	if err := secrets.CheckHFToken(token); err != nil {
		return "", app.BadInput("give the token from https://huggingface.co/settings/tokens", "%s: %v", from, err)
	}
	return token, nil
}

func joinInts(xs []int) string {
	if len(xs) == 0 {
		return "all"
	}
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ",")
}
