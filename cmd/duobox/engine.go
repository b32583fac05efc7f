package main

import (
	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/runtime/docker"
	"github.com/duobox/duobox/runtime/logs"
)

// dockerEngine adapts runtime/docker's engine to the actions' Engine.
type dockerEngine struct{ *docker.Engine }

func (e dockerEngine) LogSource() logs.Source { return docker.LogSource{Engine: e.Engine} }

// connectEngine opens the Docker engine for the actions.
func connectEngine() (actions.Engine, error) {
	e, err := docker.Connect()
	if err != nil {
		return nil, err
	}
	return dockerEngine{e}, nil
}
