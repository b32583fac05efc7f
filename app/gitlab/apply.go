package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/duobox/duobox/app"
	"github.com/duobox/duobox/app/gitlabversions"
)

// Change is one mutation a plan would send, described for a person.
type Change struct {
	What string `json:"what"` // e.g. "Local AI Gateway URL"
	From string `json:"from"` // current value, "" when unset
	To   string `json:"to"`

	mutation string
	field    string         // the mutation's field in "data"
	input    map[string]any // variables.input; "aiSelfHostedModelId" filled from modelName at apply time
	model    string         // deployment name whose ID the input needs (feature assignments)
	creates  string         // deployment name of the model this change creates
}

// Plan is what apply would change on GitLab, worked out from GitLab's current state.
type Plan struct {
	GitLab    string   `json:"gitlab"`
	Version   string   `json:"version"`
	User      string   `json:"user"`
	Changes   []Change `json:"changes"`
	Unchanged []string `json:"unchanged"`
	Manual    []string `json:"manual,omitempty"` // what the API cannot set

	modelIDs map[string]string // deployment name → global ID of existing models
}

// PlanApply reads GitLab's version (it must be 17.9+), builds the settings
// for exactly that version from in (whose Version is ignored), checks the
// token (api scope, an administrator), reads GitLab's current settings and
// models, and returns the changes that would make GitLab match. It changes nothing.
func PlanApply(ctx context.Context, c *Client, in Input) (*Plan, error) {
	inst, err := c.Version(ctx)
	if err != nil {
		return nil, err
	}
	rules, err := RulesFor(inst.Parsed)
	if err != nil {
		return nil, err
	}
	if !rules.AdminUI {
		return nil, app.BadInput("set it by hand: 'duobox env --format env' (or gitlab-rb, docker, helm) prints what to set",
			"GitLab %s cannot be configured through its API: the duoSettingsUpdate mutation arrived in %s", inst.Version, gitlabversions.FirstWhere(func(r gitlabversions.Release) bool { return r.SetInAdminUI() }))
	}
	in.Version = inst.Parsed
	s, err := Build(in, FormatGraphQL)
	if err != nil {
		return nil, err
	}
	user, err := c.CheckAdmin(ctx)
	if err != nil {
		return nil, err
	}
	p := &Plan{GitLab: c.URL.Base, Version: inst.Version, User: user.Username, modelIDs: map[string]string{}}

	var settings struct {
		DuoSettings struct {
			AIGatewayURL               string `json:"aiGatewayUrl"`
			DuoAgentPlatformServiceURL string `json:"duoAgentPlatformServiceUrl"`
		} `json:"duoSettings"`
	}
	q := queryDuoSettings
	if s.AgentPlatformURL != "" {
		q = queryDuoSettingsAgent
	}
	if err := c.GraphQL(ctx, q, nil, &settings); err != nil {
		return nil, fmt.Errorf("read GitLab Duo settings: %w", err)
	}
	cur := settings.DuoSettings
	// 18.10+: the TLS switch is a setting. DuoSettingsType has no field to read
	// it back (EE ee/app/graphql/types/ai/duo_settings/duo_settings_type.rb), so
	// it is sent every time: the mutation is idempotent.
	tlsSetting := rules.TLSBySetting() && s.AgentPlatformURL != ""
	settingsChanged := cur.AIGatewayURL != s.GatewayURL || (s.AgentPlatformURL != "" && cur.DuoAgentPlatformServiceURL != s.AgentPlatformURL) || tlsSetting
	if settingsChanged {
		if cur.AIGatewayURL != s.GatewayURL {
			p.Changes = append(p.Changes, Change{What: "Local AI Gateway URL", From: cur.AIGatewayURL, To: s.GatewayURL})
		}
		if s.AgentPlatformURL != "" && cur.DuoAgentPlatformServiceURL != s.AgentPlatformURL {
			p.Changes = append(p.Changes, Change{What: "Local URL for the GitLab Duo Agent Platform service", From: cur.DuoAgentPlatformServiceURL, To: s.AgentPlatformURL})
		}
		if tlsSetting {
			p.Changes = append(p.Changes, Change{What: rules.AgentPlatformTLS.AdminUI + " (" + rules.AgentPlatformTLS.GraphQL + ")",
				From: "not readable through the API", To: "off"})
		}
		// One mutation sets both; it rides on the last settings change.
		last := &p.Changes[len(p.Changes)-1]
		last.mutation, last.field, last.input = s.duoSettingsMutation(), "duoSettingsUpdate", s.duoSettingsInput()
	} else {
		p.Unchanged = append(p.Unchanged, "Local AI Gateway URL = "+s.GatewayURL)
		if s.AgentPlatformURL != "" {
			p.Unchanged = append(p.Unchanged, "Agent Platform service URL = "+s.AgentPlatformURL)
		}
	}
	if s.AgentPlatformURL != "" && rules.TLSByEnv() {
		p.Manual = append(p.Manual, fmt.Sprintf("set %s=%s in GitLab's environment (gitlab_rails['env'], then sudo gitlab-ctl reconfigure): the Agent Platform service has no TLS, and before GitLab %s the API cannot set this",
			rules.AgentPlatformTLS.Env, rules.AgentPlatformTLS.Value, gitlabversions.FirstTLSSetting()))
	}
	p.Manual = append(p.Manual, rules.Unconfirmed...)
	if len(s.Models) == 0 {
		p.Manual = append(p.Manual, "no deployment config: no self-hosted model to create yet (run 'duobox init', then apply again)")
		return p, nil
	}

	var state struct {
		Models struct {
			Nodes []struct {
				ID, Name, Model, Endpoint, Identifier string
			} `json:"nodes"`
		} `json:"aiSelfHostedModels"`
		Features struct {
			Nodes []struct {
				Feature, Provider string
				SelfHostedModel   *struct{ ID, Name string } `json:"selfHostedModel"`
			} `json:"nodes"`
		} `json:"aiFeatureSettings"`
	}
	if err := c.GraphQL(ctx, querySelfHosted, nil, &state); err != nil {
		return nil, fmt.Errorf("read GitLab's self-hosted models: %w", err)
	}
	for _, m := range s.Models {
		if m.Family == "" {
			p.Manual = append(p.Manual, fmt.Sprintf("add %q by hand: %s", m.DeploymentName, m.Note))
			continue
		}
		want := modelInput(m)
		found := false
		for _, n := range state.Models.Nodes {
			if n.Name != m.DeploymentName {
				continue
			}
			found = true
			p.modelIDs[m.DeploymentName] = n.ID
			now := fmt.Sprintf("%s, %s, %s", strings.ToLower(n.Model), n.Endpoint, n.Identifier)
			to := fmt.Sprintf("%s, %s, %s", m.Family, m.Endpoint, m.Identifier)
			if now == to {
				p.Unchanged = append(p.Unchanged, "self-hosted model "+m.DeploymentName)
				break
			}
			want["id"] = n.ID
			p.Changes = append(p.Changes, Change{What: "self-hosted model " + m.DeploymentName + " (family, endpoint, identifier)", From: now, To: to,
				mutation: mutationModelUpdate, field: "aiSelfHostedModelUpdate", input: want})
			break
		}
		if !found {
			p.Changes = append(p.Changes, Change{What: "new self-hosted model " + m.DeploymentName, To: fmt.Sprintf("%s, %s, %s", m.Family, m.Endpoint, m.Identifier),
				mutation: mutationModelCreate, field: "aiSelfHostedModelCreate", input: modelInput(m), creates: m.DeploymentName})
		}
	}
	for _, a := range s.Assignments {
		from := "unassigned"
		for _, n := range state.Features.Nodes {
			if n.Feature != a.Feature {
				continue
			}
			from = n.Provider
			if n.SelfHostedModel != nil {
				from = n.SelfHostedModel.Name
			}
		}
		if from == a.DeploymentName {
			p.Unchanged = append(p.Unchanged, a.Feature+" → "+a.DeploymentName)
			continue
		}
		p.Changes = append(p.Changes, Change{What: "feature " + a.Feature, From: from, To: a.DeploymentName,
			mutation: mutationFeatureSetting, field: "aiFeatureSettingUpdate", input: featureInput([]string{a.Feature}, ""), model: a.DeploymentName})
	}
	return p, nil
}

// Write prints the plan for a person: exactly what changes, from what to what.
func (p *Plan) Write(w io.Writer) {
	fmt.Fprintf(w, "GitLab %s at %s (token of %s)\n", p.Version, p.GitLab, p.User)
	if len(p.Changes) == 0 {
		fmt.Fprintln(w, "Nothing to change: GitLab already matches.")
	} else {
		fmt.Fprintln(w, "Changes:")
		for i, c := range p.Changes {
			from := c.From
			if from == "" {
				from = "(not set)"
			}
			if strings.HasPrefix(c.What, "new ") {
				fmt.Fprintf(w, "  %d. %s: %s\n", i+1, c.What, c.To)
				continue
			}
			fmt.Fprintf(w, "  %d. %s: %s → %s\n", i+1, c.What, from, c.To)
		}
	}
	for _, u := range p.Unchanged {
		fmt.Fprintf(w, "  unchanged: %s\n", u)
	}
	for _, m := range p.Manual {
		fmt.Fprintf(w, "  by hand: %s\n", m)
	}
}

// Apply sends the plan's mutations in order. It stops at the first failure and
// says which changes were made before it; running apply again plans only what
// is still missing.
func (p *Plan) Apply(ctx context.Context, c *Client) (applied int, err error) {
	for i, ch := range p.Changes {
		if ch.mutation == "" {
			continue // folded into a later settings change
		}
		input := ch.input
		if ch.model != "" {
			id, ok := p.modelIDs[ch.model]
			if !ok {
				return applied, fmt.Errorf("apply change %d: no ID for model %q", i+1, ch.model)
			}
			input["aiSelfHostedModelId"] = id
		}
		var out map[string]struct {
			Errors          []string `json:"errors"`
			SelfHostedModel *struct {
				ID string `json:"id"`
			} `json:"selfHostedModel"`
		}
		err := c.GraphQL(ctx, ch.mutation, map[string]any{"input": input}, &out)
		if err == nil && len(out[ch.field].Errors) > 0 {
			err = app.BadInput("correct it in GitLab (Admin → GitLab Duo) or in the deployment config, then run 'duobox gitlab apply' again",
				"GitLab refused %s: %s", ch.What, strings.Join(out[ch.field].Errors, "; "))
		}
		if err != nil {
			done := "none of the changes was made"
			if applied > 0 {
				done = fmt.Sprintf("changes 1–%d were made; running apply again plans only what is missing", i)
			}
			kind, fix := app.KindOf(err), "fix the cause and run 'duobox gitlab apply' again"
			var prob *app.Problem
			if errors.As(err, &prob) && prob.Fix != "" {
				fix = prob.Fix
				err = errors.New(prob.What)
			}
			return applied, &app.Problem{Kind: kind, What: fmt.Sprintf("change %d (%s) failed: %v; %s", i+1, ch.What, err, done), Fix: fix, Err: err}
		}
		if r := out[ch.field].SelfHostedModel; ch.creates != "" && r != nil && r.ID != "" {
			p.modelIDs[ch.creates] = r.ID
		}
		applied = i + 1
	}
	return applied, nil
}
