// Package stack turns the deployment config into the exact containers,
// network and volumes DuoBox runs (the stack spec), and renders the same
// spec as exports (compose, docker run script, Helm values).
package stack

// Labels DuoBox puts on every object it creates. DuoBox never touches an
// object that lacks LabelManaged=true.
const (
	LabelManaged    = "io.duobox.managed"     // "true"
	LabelRole       = "io.duobox.role"        // RoleModel, RoleGateway, …
	LabelConfigHash = "io.duobox.config-hash" // hash of the spec the object was created from
	LabelStack      = "io.duobox.stack"       // stack name, "duobox" by default; tests use their own
)

// Roles of DuoBox's objects.
const (
	RoleModel   = "model"
	RoleGateway = "gateway"
	RoleNetwork = "network"
	RoleVolume  = "volume"
)

// LabelModel carries the served model name on model containers.
const LabelModel = "io.duobox.model"
