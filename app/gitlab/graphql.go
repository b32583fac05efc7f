package gitlab

import "strings"

// GraphQL documents DuoBox sends, shared by the apply client and the curl
// snippet so that what is printed is exactly what is applied. Argument and
// type names follow GitLab EE: Mutations::Ai::DuoSettings::Update,
// Mutations::Ai::SelfHostedModels::Create/Update, Mutations::Ai::FeatureSettings::Update.
const (
	mutationDuoSettings = `mutation($input: DuoSettingsUpdateInput!) { duoSettingsUpdate(input: $input) { duoSettings { aiGatewayUrl } errors } }`

	mutationDuoSettingsAgent = `mutation($input: DuoSettingsUpdateInput!) { duoSettingsUpdate(input: $input) { duoSettings { aiGatewayUrl duoAgentPlatformServiceUrl } errors } }`

	mutationModelCreate = `mutation($input: AiSelfHostedModelCreateInput!) { aiSelfHostedModelCreate(input: $input) { selfHostedModel { id name } errors } }`

	mutationModelUpdate = `mutation($input: AiSelfHostedModelUpdateInput!) { aiSelfHostedModelUpdate(input: $input) { selfHostedModel { id name } errors } }`

	mutationFeatureSetting = `mutation($input: AiFeatureSettingUpdateInput!) { aiFeatureSettingUpdate(input: $input) { aiFeatureSettings { feature } errors } }`

	queryDuoSettings = `query { duoSettings { aiGatewayUrl } }`

	queryDuoSettingsAgent = `query { duoSettings { aiGatewayUrl duoAgentPlatformServiceUrl } }`

	querySelfHosted = `query { aiSelfHostedModels { nodes { id name model endpoint identifier } } aiFeatureSettings { nodes { feature provider selfHostedModel { id name } } } }`
)

// duoSettingsInput is the duoSettingsUpdate input for the snippet's settings.
func (s *Snippet) duoSettingsInput() map[string]any {
	in := map[string]any{"aiGatewayUrl": s.GatewayURL}
	if s.AgentPlatformURL != "" {
		in["duoAgentPlatformServiceUrl"] = s.AgentPlatformURL
	}
	if s.rules.TLSBySetting() {
		// 18.10+: the Agent Platform service has no TLS (EE Mutations::Ai::DuoSettings::Update,
		// argument self_hosted_duo_agent_platform_service_secure).
		in[s.rules.AgentPlatformTLS.GraphQL] = false
	}
	return in
}

func (s *Snippet) duoSettingsMutation() string {
	if s.AgentPlatformURL != "" {
		return mutationDuoSettingsAgent
	}
	return mutationDuoSettings
}

// modelInput is the aiSelfHostedModelCreate input for one entry.
func modelInput(e ModelEntry) map[string]any {
	return map[string]any{
		"name":       e.DeploymentName,
		"model":      strings.ToUpper(e.Family),
		"endpoint":   e.Endpoint,
		"identifier": e.Identifier,
		"provider":   "API",
	}
}

// featureInput assigns features to a self-hosted model by its global ID.
func featureInput(features []string, modelID string) map[string]any {
	up := make([]string, len(features))
	for i, f := range features {
		up[i] = strings.ToUpper(f)
	}
	return map[string]any{"features": up, "provider": "SELF_HOSTED", "aiSelfHostedModelId": modelID}
}
