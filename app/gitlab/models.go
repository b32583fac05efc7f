package gitlab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/duobox/duobox/app/catalog"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/stack"
)

// ModelEntry is one "Add self-hosted model" form, or one aiSelfHostedModelCreate.
type ModelEntry struct {
	DeploymentName string `json:"deployment_name"`
	Family         string `json:"model_family"` // GitLab's enum value, e.g. "codestral"
	Endpoint       string `json:"endpoint"`
	Identifier     string `json:"identifier"` // custom_openai/<served name>
	Platform       string `json:"platform"`   // always "api" (OpenAI-compatible endpoint)
	CatalogID      string `json:"catalog_id,omitempty"`
	Note           string `json:"note,omitempty"`
}

// GitLab feature keys (ee/app/models/ai/feature_setting.rb), in display order.
const (
	FeatureCodeCompletions  = "code_completions"
	FeatureCodeGenerations  = "code_generations"
	FeatureDuoChat          = "duo_chat"
	FeatureDuoAgentPlatform = "duo_agent_platform"
)

// featureKeys maps catalog features to GitLab's feature setting keys.
var featureKeys = []struct {
	catalog catalog.Feature
	key     string
	label   string
}{
	{catalog.CodeCompletion, FeatureCodeCompletions, "Code Suggestions → Code Completion"},
	{catalog.CodeGeneration, FeatureCodeGenerations, "Code Suggestions → Code Generation"},
	{catalog.Chat, FeatureDuoChat, "GitLab Duo Chat → General Chat"},
	{catalog.AgentPlatform, FeatureDuoAgentPlatform, "GitLab Duo Agent Platform"},
}

// Assignment says which model to pick for a feature in GitLab's dropdown.
type Assignment struct {
	Feature        string `json:"feature"` // GitLab key, e.g. code_completions
	Label          string `json:"label"`   // where it is in the Admin UI
	DeploymentName string `json:"deployment_name"`
	Level          string `json:"level"` // GitLab's rating at this version: full, partial, beta …
}

// modelEntries builds the self-hosted model entries from the deployment's
// models, and assigns each feature to the model GitLab rates best for it at
// this version (the first configured model on a tie). A model's own
// features list in the config, when set, limits what it is assigned.
func modelEntries(r Rules, stackName string, models []config.Model, cat catalog.Catalog) ([]ModelEntry, []Assignment) {
	var entries []ModelEntry
	type candidate struct {
		entry  int
		levels map[catalog.Feature]catalog.Level
	}
	var cands []candidate
	for i, m := range models {
		e := ModelEntry{
			DeploymentName: m.Name() + " on DuoBox",
			Endpoint:       stack.ModelEndpoint(stackName, i), // the model container by name on the stack's network, ending /v1
			Identifier:     "custom_openai/" + m.Name(),
			Platform:       "api",
		}
		levels := map[catalog.Feature]catalog.Level{}
		cm, known := cat.Find(m.HFRepo)
		if !known && m.Variant != "" {
			cm, known = cat.Find(m.Variant)
		}
		switch {
		case known:
			e.Family, e.CatalogID = cm.Family, cm.ID
			if l, ok := cm.ListingFor(r.Version); ok {
				levels = l.Features
			} else {
				e.Note = fmt.Sprintf("GitLab does not list %s at %s: DuoBox assigns it no feature", cm.Name, r.Version.MinorString())
			}
		case r.GeneralFamily:
			e.Family = "general"
			e.Note = "not in DuoBox's catalog: family \"general\" (any OpenAI-compatible model, beta); DuoBox assigns it no feature"
		default:
			e.Note = fmt.Sprintf("not in DuoBox's catalog, and GitLab %s has no \"general\" family (18.3+): pick the closest family by hand", r.Version.MinorString())
		}
		if len(m.Features) > 0 {
			for f := range levels {
				if !wantsFeature(m.Features, f) {
					delete(levels, f)
				}
			}
		}
		entries = append(entries, e)
		cands = append(cands, candidate{entry: len(entries) - 1, levels: levels})
	}
	var out []Assignment
	for _, fk := range featureKeys {
		if fk.catalog == catalog.AgentPlatform && !r.AgentPlatform {
			continue
		}
		best, bestRank := -1, 0
		var bestLevel catalog.Level
		for _, c := range cands {
			if lv, ok := c.levels[fk.catalog]; ok && lv.Rank() > bestRank {
				best, bestRank, bestLevel = c.entry, lv.Rank(), lv
			}
		}
		if best >= 0 {
			out = append(out, Assignment{Feature: fk.key, Label: fk.label, DeploymentName: entries[best].DeploymentName, Level: string(bestLevel)})
		}
	}
	return entries, out
}

// wantsFeature matches a config features entry, written as a catalog feature
// (code_completion) or a GitLab key (code_completions).
func wantsFeature(list []string, f catalog.Feature) bool {
	for _, fk := range featureKeys {
		if fk.catalog == f {
			return slices.ContainsFunc(list, func(s string) bool {
				s = strings.ToLower(strings.TrimSpace(s))
				return s == string(f) || s == fk.key
			})
		}
	}
	return false
}
